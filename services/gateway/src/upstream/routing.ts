import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ConfigError, createGlobMatcher, envEnum } from "@luthien/runtime";
import { PolicyUnavailableError } from "../errors";
import { batchRouteMatching, decidedRouteMatching } from "../routes/route-classes";

export type ProviderFormat = "openai" | "anthropic";

/** One upstream: where it is, which wire format it speaks, and the server's key for it (never logged). */
export interface ProviderConfig {
  name: string;
  format: ProviderFormat;
  baseUrl: string;
  apiKey: string | undefined;
}

export interface Route {
  /** A model glob: `*` matches any run of characters, `?` one character. */
  model: string;
  provider: string;
}

export type FailureMode = "closed" | "open";

/** A pool of policy-engine replicas that decide the same calls. */
export interface EnginePoolConfig {
  name: string;
  /** `host:port` replicas, or `dns:///host:port` for every address the name resolves to (a headless Service). */
  targets: string[];
  /** closed fails calls the pool cannot decide; open serves them, marked. */
  failureMode: FailureMode;
}

/** Sends the calls it matches to an engine pool. Every field given must match; none given matches every call. */
export interface EngineRoute {
  keyId?: string;
  /** A model glob. */
  model?: string;
  /**
   * The client endpoint the call came in on (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`,
   * `/v1/messages/count_tokens`), never the provider endpoint a translated call goes to.
   */
  route?: string;
  engine: string;
}

/** What an engine route matches on: never anything the client can set besides its key and model. */
export interface EngineSelector {
  keyId: string;
  model: string;
  route: string;
  /** A virtual key's `engine` scope: this pool, over the rules. */
  engine?: string | undefined;
}

export const DEFAULT_ENGINE_POOL = "default";

/**
 * A route an operator let through to the provider without policy (GATEWAY_CONFIG `uncheckedRoutes`). Every call on
 * it is marked like a fail-open bypass. A route the policies decide can never be one.
 */
export interface UncheckedRoute {
  /** A glob over the normalised path, e.g. `/v1/embeddings` or `/v1/files*`. */
  path: string;
  /** Upper-case HTTP methods; none given = every method. */
  methods: readonly string[];
}

/**
 * GATEWAY_CONFIG `batches`: Anthropic Message Batches through the policies (batches.ts). Off by default, and then
 * refused like every route whose content no policy would see.
 */
export interface BatchesConfig {
  /** @default false */
  readonly enabled: boolean;
  /** The Anthropic-format provider every batch goes to; each request's model must route to it. @default "anthropic" */
  readonly provider: string;
  /**
   * The gateway's address as clients reach it (`https://luthien.example.com`, a path prefix allowed), for the
   * `results_url` of batches. Unset: an absolute URL only for a loopback Host, else the path alone (see batches.ts).
   */
  readonly publicBaseUrl: string | undefined;
}

export interface Routing {
  readonly providers: ReadonlyMap<string, ProviderConfig>;
  readonly routes: readonly Route[];
  /** Engine pools by name; `default` always exists. */
  readonly engines: ReadonlyMap<string, EnginePoolConfig>;
  readonly engineRoutes: readonly EngineRoute[];
  readonly uncheckedRoutes: readonly UncheckedRoute[];
  readonly batches: BatchesConfig;
  /** The provider for a model (first matching route), or undefined when none matches. */
  resolve(model: string): ProviderConfig | undefined;
  /** The engine pool for a call: the first matching engine route's, else `default`. */
  resolveEngine(call: EngineSelector): EnginePoolConfig;
}

type Env = Record<string, string | undefined>;

/**
 * Providers and model routes. Built in: `openai` (`OPENAI_UPSTREAM_URL`, `OPENAI_API_KEY`) and `anthropic`
 * (`ANTHROPIC_UPSTREAM_URL`, `ANTHROPIC_API_KEY`), routed `claude-*` → anthropic and everything else → openai.
 * `GATEWAY_CONFIG` (YAML) may add or replace providers and put routes in front of the defaults:
 * ```yaml
 * providers:
 *   - { name: local, format: openai, baseUrl: "http://127.0.0.1:11434/v1", apiKeyEnv: LOCAL_KEY }
 * routes:
 *   - { model: "llama*", provider: local }
 * ```
 * Policy engines: pool `default` is `POLICY_ENGINE_URL` (a comma-separated list of replicas) with
 * `POLICY_FAILURE_MODE`, unless the file declares it. `engines` adds pools, `engineRoutes` sends calls to them
 * (first match wins):
 * ```yaml
 * engines:
 *   - { name: strict, targets: ["10.0.0.5:50051", "10.0.0.6:50051"], failureMode: closed }
 * engineRoutes:
 *   - { keyId: key_0123456789ab, engine: strict }
 * ```
 * Anthropic Message Batches are refused unless the file turns them on (see {@link BatchesConfig}):
 * ```yaml
 * batches: { enabled: true, provider: anthropic, publicBaseUrl: "https://luthien.example.com" }
 * ```
 * @throws ConfigError naming the bad field
 */
export function readRouting(env: Env = process.env): Routing {
  const providers = new Map<string, ProviderConfig>([
    ["openai", { name: "openai", format: "openai", baseUrl: nonEmpty(env["OPENAI_UPSTREAM_URL"]) ?? "https://api.openai.com/v1", apiKey: nonEmpty(env["OPENAI_API_KEY"]) }],
    ["anthropic", { name: "anthropic", format: "anthropic", baseUrl: nonEmpty(env["ANTHROPIC_UPSTREAM_URL"]) ?? "https://api.anthropic.com", apiKey: nonEmpty(env["ANTHROPIC_API_KEY"]) }],
  ]);
  const routes: Route[] = [];
  const failureMode = envEnum("POLICY_FAILURE_MODE", ["closed", "open"] as const, "closed", env);
  const engines = new Map<string, EnginePoolConfig>();
  const engineRoutes: EngineRoute[] = [];
  const uncheckedRoutes: UncheckedRoute[] = [];
  const batches: BatchesConfig[] = [];
  const file = nonEmpty(env["GATEWAY_CONFIG"]);
  if (file !== undefined) {
    try {
      readConfigFile(readFileSync(file, "utf8"), { env, providers, routes, engines, engineRoutes, uncheckedRoutes, batches, failureMode });
    } catch (err) {
      throw new ConfigError(`GATEWAY_CONFIG ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (!engines.has(DEFAULT_ENGINE_POOL)) {
    const targets = (nonEmpty(env["POLICY_ENGINE_URL"]) ?? "127.0.0.1:50051")
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "");
    if (targets.length === 0) throw new ConfigError("POLICY_ENGINE_URL: expected host:port[,host:port...]");
    engines.set(DEFAULT_ENGINE_POOL, { name: DEFAULT_ENGINE_POOL, targets, failureMode });
  }
  routes.push({ model: "claude-*", provider: "anthropic" }, { model: "*", provider: "openai" });
  const compiled = routes.map((r) => ({ route: r, matches: createGlobMatcher(r.model) }));
  const compiledEngineRoutes = engineRoutes.map((r) => ({ rule: r, model: r.model === undefined ? undefined : createGlobMatcher(r.model) }));
  const defaultPool = engines.get(DEFAULT_ENGINE_POOL) as EnginePoolConfig;
  return {
    providers,
    routes,
    engines,
    engineRoutes,
    uncheckedRoutes,
    batches: batches[0] ?? { enabled: false, provider: "anthropic", publicBaseUrl: undefined },
    resolve(model) {
      const hit = compiled.find((c) => c.matches(model));
      return hit === undefined ? undefined : providers.get(hit.route.provider);
    },
    resolveEngine(call) {
      if (call.engine !== undefined) {
        const scoped = engines.get(call.engine);
        // Fail closed: a key scoped to a pool this gateway does not run is not served by another one.
        if (scoped === undefined) throw new PolicyUnavailableError("unknown_pool", `this key's engine pool ${JSON.stringify(call.engine)} is not configured on this gateway`);
        return scoped;
      }
      const hit = compiledEngineRoutes.find(
        ({ rule, model }) => (rule.keyId === undefined || rule.keyId === call.keyId) && (model === undefined || model(call.model)) && (rule.route === undefined || rule.route === call.route),
      );
      return hit === undefined ? defaultPool : (engines.get(hit.rule.engine) as EnginePoolConfig);
    },
  };
}

interface ConfigTarget {
  env: Env;
  providers: Map<string, ProviderConfig>;
  routes: Route[];
  engines: Map<string, EnginePoolConfig>;
  engineRoutes: EngineRoute[];
  uncheckedRoutes: UncheckedRoute[];
  /** Receives the `batches` setting, when the file has one. */
  batches: BatchesConfig[];
  failureMode: FailureMode;
}

const TOP_LEVEL_KEYS = ["providers", "routes", "engines", "engineRoutes", "uncheckedRoutes", "batches"];

function readConfigFile(text: string, { env, providers, routes, engines, engineRoutes, uncheckedRoutes, batches, failureMode }: ConfigTarget): void {
  const doc = (parse(text) ?? {}) as unknown;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ConfigError("expected a mapping at the top level");
  const { providers: plist = [], routes: rlist = [], engines: elist = [], engineRoutes: erlist = [], uncheckedRoutes: ulist = [], batches: b, ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ConfigError(`${extra}: unknown top-level key (known: ${TOP_LEVEL_KEYS.join(", ")})`);
  if (!Array.isArray(plist)) throw new ConfigError("providers: expected a list");
  plist.forEach((p: unknown, i) => {
    const at = `providers[${i}]`;
    const o = mapping(p, at);
    const name = str(o["name"], `${at}.name`);
    const format = str(o["format"], `${at}.format`);
    if (format !== "openai" && format !== "anthropic") throw new ConfigError(`${at}.format: expected openai or anthropic`);
    const baseUrl = str(o["baseUrl"], `${at}.baseUrl`);
    if (!/^https?:\/\//.test(baseUrl)) throw new ConfigError(`${at}.baseUrl: expected an http(s) URL`);
    const keyEnv = o["apiKeyEnv"] === undefined ? undefined : str(o["apiKeyEnv"], `${at}.apiKeyEnv`);
    onlyKeys(o, ["name", "format", "baseUrl", "apiKeyEnv"], at);
    providers.set(name, { name, format, baseUrl, apiKey: keyEnv === undefined ? undefined : nonEmpty(env[keyEnv]) });
  });
  if (!Array.isArray(rlist)) throw new ConfigError("routes: expected a list");
  rlist.forEach((r: unknown, i) => {
    const at = `routes[${i}]`;
    const o = mapping(r, at);
    const model = str(o["model"], `${at}.model`);
    const provider = str(o["provider"], `${at}.provider`);
    if (!providers.has(provider)) throw new ConfigError(`${at}.provider: unknown provider ${JSON.stringify(provider)}`);
    routes.push({ model, provider });
  });
  if (!Array.isArray(elist)) throw new ConfigError("engines: expected a list");
  elist.forEach((e: unknown, i) => {
    const at = `engines[${i}]`;
    const o = mapping(e, at);
    onlyKeys(o, ["name", "targets", "failureMode"], at);
    const name = str(o["name"], `${at}.name`);
    if (engines.has(name)) throw new ConfigError(`${at}.name: pool ${JSON.stringify(name)} is declared twice`);
    const targets = o["targets"];
    if (!Array.isArray(targets) || targets.length === 0) throw new ConfigError(`${at}.targets: expected a non-empty list of host:port`);
    const list = targets.map((t: unknown, j) => {
      const target = str(t, `${at}.targets[${j}]`);
      if (!/^(dns:\/\/\/)?[^\s/]+:\d+$/.test(target)) throw new ConfigError(`${at}.targets[${j}]: expected host:port or dns:///host:port`);
      return target;
    });
    const mode = o["failureMode"] === undefined ? failureMode : str(o["failureMode"], `${at}.failureMode`);
    if (mode !== "closed" && mode !== "open") throw new ConfigError(`${at}.failureMode: expected closed or open`);
    engines.set(name, { name, targets: list, failureMode: mode });
  });
  if (!Array.isArray(erlist)) throw new ConfigError("engineRoutes: expected a list");
  erlist.forEach((r: unknown, i) => {
    const at = `engineRoutes[${i}]`;
    const o = mapping(r, at);
    onlyKeys(o, ["keyId", "model", "route", "engine"], at);
    const engine = str(o["engine"], `${at}.engine`);
    if (engine !== DEFAULT_ENGINE_POOL && !engines.has(engine)) throw new ConfigError(`${at}.engine: unknown engine pool ${JSON.stringify(engine)}`);
    const rule: EngineRoute = { engine };
    if (o["keyId"] !== undefined) rule.keyId = str(o["keyId"], `${at}.keyId`);
    if (o["model"] !== undefined) rule.model = str(o["model"], `${at}.model`);
    if (o["route"] !== undefined) rule.route = str(o["route"], `${at}.route`);
    engineRoutes.push(rule);
  });
  if (!Array.isArray(ulist)) throw new ConfigError("uncheckedRoutes: expected a list");
  ulist.forEach((r: unknown, i) => {
    const at = `uncheckedRoutes[${i}]`;
    const o = mapping(r, at);
    onlyKeys(o, ["path", "methods"], at);
    const path = str(o["path"], `${at}.path`);
    if (!path.startsWith("/v1/")) throw new ConfigError(`${at}.path: expected a path under /v1/`);
    const methods = o["methods"] === undefined ? [] : o["methods"];
    if (!Array.isArray(methods)) throw new ConfigError(`${at}.methods: expected a list of HTTP methods`);
    const list = methods.map((m: unknown, j) => str(m, `${at}.methods[${j}]`).toUpperCase());
    const route: UncheckedRoute = { path, methods: list };
    const decided = decidedRouteMatching(route);
    if (decided !== undefined) throw new ConfigError(`${at}.path: ${JSON.stringify(path)} matches ${decided}, which the policies decide; it cannot be unchecked`);
    uncheckedRoutes.push(route);
  });
  if (b !== undefined) batches.push(readBatches(b, providers, uncheckedRoutes));
}

/** `batches`: checked against the providers and unchecked routes read before it, wherever it stands in the file. */
function readBatches(value: unknown, providers: ReadonlyMap<string, ProviderConfig>, unchecked: readonly UncheckedRoute[]): BatchesConfig {
  const o = mapping(value, "batches");
  onlyKeys(o, ["enabled", "provider", "publicBaseUrl"], "batches");
  const enabled = o["enabled"] ?? false;
  if (typeof enabled !== "boolean") throw new ConfigError("batches.enabled: expected true or false");
  const provider = o["provider"] === undefined ? "anthropic" : str(o["provider"], "batches.provider");
  const p = providers.get(provider);
  if (p === undefined) throw new ConfigError(`batches.provider: unknown provider ${JSON.stringify(provider)}`);
  if (p.format !== "anthropic") throw new ConfigError(`batches.provider: ${JSON.stringify(provider)} speaks the ${p.format} format; Message Batches need an anthropic-format provider`);
  let publicBaseUrl: string | undefined;
  if (o["publicBaseUrl"] !== undefined) {
    const raw = str(o["publicBaseUrl"], "batches.publicBaseUrl");
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError("batches.publicBaseUrl: expected an absolute http(s) URL");
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
      throw new ConfigError("batches.publicBaseUrl: expected an http(s) URL without credentials, query or fragment");
    }
    publicBaseUrl = `${url.origin}${url.pathname}`.replace(/\/+$/, "");
  }
  if (enabled) {
    for (const [i, route] of unchecked.entries()) {
      const hit = batchRouteMatching(route);
      if (hit !== undefined)
        throw new ConfigError(`uncheckedRoutes[${i}].path: ${JSON.stringify(route.path)} matches ${hit}, which the policies decide when batches are enabled; it cannot be unchecked`);
    }
  }
  return { enabled, provider, publicBaseUrl };
}

function onlyKeys(o: Record<string, unknown>, known: string[], at: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new ConfigError(`${at}.${k}: unknown key (known: ${known.join(", ")})`);
}

function mapping(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(`${at}: expected a mapping`);
  return v as Record<string, unknown>;
}

function str(v: unknown, at: string): string {
  if (typeof v !== "string" || v === "") throw new ConfigError(`${at}: expected a non-empty string`);
  return v;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}
