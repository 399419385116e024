import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ConfigError } from "@luthien/runtime";

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

export interface Routing {
  readonly providers: ReadonlyMap<string, ProviderConfig>;
  readonly routes: readonly Route[];
  /** The provider for a model (first matching route), or undefined when none matches. */
  resolve(model: string): ProviderConfig | undefined;
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
 * @throws ConfigError naming the bad field
 */
export function readRouting(env: Env = process.env): Routing {
  const providers = new Map<string, ProviderConfig>([
    ["openai", { name: "openai", format: "openai", baseUrl: nonEmpty(env["OPENAI_UPSTREAM_URL"]) ?? "https://api.openai.com/v1", apiKey: nonEmpty(env["OPENAI_API_KEY"]) }],
    ["anthropic", { name: "anthropic", format: "anthropic", baseUrl: nonEmpty(env["ANTHROPIC_UPSTREAM_URL"]) ?? "https://api.anthropic.com", apiKey: nonEmpty(env["ANTHROPIC_API_KEY"]) }],
  ]);
  const routes: Route[] = [];
  const file = nonEmpty(env["GATEWAY_CONFIG"]);
  if (file !== undefined) {
    try {
      readConfigFile(readFileSync(file, "utf8"), env, providers, routes);
    } catch (err) {
      throw new ConfigError(`GATEWAY_CONFIG ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  routes.push({ model: "claude-*", provider: "anthropic" }, { model: "*", provider: "openai" });
  const compiled = routes.map((r) => ({ route: r, re: globToRegExp(r.model) }));
  return {
    providers,
    routes,
    resolve(model) {
      const hit = compiled.find((c) => c.re.test(model));
      return hit === undefined ? undefined : providers.get(hit.route.provider);
    },
  };
}

function readConfigFile(text: string, env: Env, providers: Map<string, ProviderConfig>, routes: Route[]): void {
  const doc = (parse(text) ?? {}) as unknown;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ConfigError("expected a mapping at the top level");
  const { providers: plist = [], routes: rlist = [], ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ConfigError(`${extra}: unknown top-level key (known: providers, routes)`);
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
    for (const k of Object.keys(o)) {
      if (!["name", "format", "baseUrl", "apiKeyEnv"].includes(k)) throw new ConfigError(`${at}.${k}: unknown key (known: name, format, baseUrl, apiKeyEnv)`);
    }
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

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}
