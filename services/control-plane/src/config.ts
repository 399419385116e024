import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ConfigError } from "@luthien/runtime";
import { createGlobMatcher, type AnyPolicy } from "@luthien/policy-sdk";
import { BUILTIN_POLICIES, type PolicyFactory } from "./policies";

/** What a rule can match on: known at the start of every call. */
export interface CallSelector {
  keyId: string;
  model: string;
  route: string;
}

interface Rule {
  keyIds: readonly string[] | undefined;
  model: ((name: string) => boolean) | undefined;
  route: ((name: string) => boolean) | undefined;
  chain: string;
}

/** A loaded policy configuration. Immutable: a reload builds a new one, and calls keep the one they started with. */
export interface PolicyConfig {
  /** The default chain (`policies:`). */
  readonly policies: readonly AnyPolicy[];
  /** Named chains (`chains:`). */
  readonly chains: ReadonlyMap<string, readonly AnyPolicy[]>;
  /** The first 12 hex digits of the SHA-256 of the config text: names this version in events and the monitor. */
  readonly version: string;
  /** The chain for a call: the first rule that matches, else the default chain. */
  select(call: CallSelector): { name: string; policies: readonly AnyPolicy[] };
}

/**
 * Parses and validates a `POLICY_CONFIG` document:
 * ```yaml
 * policies:                      # the default chain
 *   - use: string-replace
 *     with: { replacements: [["foo", "bar"]] }
 * chains:                        # named chains
 *   strict:
 *     - use: secret-redaction
 *     - use: ./policies/my-policy.js   # a custom policy module (path relative to the file) or a package name
 * rules:                         # first match wins; unset fields match anything
 *   - { keyId: key_0123456789ab, model: "claude-*", route: /v1/messages, chain: strict }
 * ```
 * Any entry may also say `mode: shadow` (it runs on the traffic, records `would_*` events, changes nothing;
 * `enforce` is the default) and `approvalTimeout` (how long a call it holds for approval waits: `90s`, `5m`, or
 * milliseconds; default 5m).
 * `route` is the client endpoint the call came in on (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`,
 * `/v1/messages/count_tokens`), not the provider endpoint a translated call goes to: match the model to pick by
 * provider.
 * @param baseDir where relative `use:` paths and package names are resolved from @default process.cwd()
 * @throws ConfigError naming the bad field, e.g. `policies[1].with.replacements[0]: ...`
 */
export function parsePolicyConfig(text: string, baseDir = process.cwd()): PolicyConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  doc ??= {};
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ConfigError("expected a mapping at the top level");
  const { policies: defaultList = [{ use: "noop" }], chains: chainDoc = {}, rules: ruleDoc = [], ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ConfigError(`${extra}: unknown top-level key (known: policies, chains, rules)`);

  const policies = parseChain(defaultList, "policies", baseDir);
  if (typeof chainDoc !== "object" || chainDoc === null || Array.isArray(chainDoc)) throw new ConfigError("chains: expected a mapping of name → list");
  const chains = new Map<string, readonly AnyPolicy[]>([["default", policies]]);
  for (const [name, list] of Object.entries(chainDoc)) {
    if (name === "default") throw new ConfigError("chains.default: reserved for the top-level `policies:` chain");
    chains.set(name, parseChain(list, `chains.${name}`, baseDir));
  }
  if (!Array.isArray(ruleDoc)) throw new ConfigError("rules: expected a list");
  const rules = ruleDoc.map((r: unknown, i) => parseRule(r, `rules[${i}]`, chains));

  return {
    policies,
    chains,
    version: configVersionOf(text),
    select(call) {
      for (const r of rules) {
        if (r.keyIds !== undefined && !r.keyIds.includes(call.keyId)) continue;
        if (r.model !== undefined && !r.model(call.model)) continue;
        if (r.route !== undefined && !r.route(call.route)) continue;
        return { name: r.chain, policies: chains.get(r.chain) ?? policies };
      }
      return { name: "default", policies };
    },
  };
}

/** A config text's version: the first 12 hex digits of its SHA-256. */
export function configVersionOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 12);
}

/** Reads and parses a config file. @throws ConfigError prefixed with the file path */
export function loadPolicyConfig(file: string): PolicyConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parsePolicyConfig(text, path.dirname(path.resolve(file)));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

function parseChain(list: unknown, at: string, baseDir: string): AnyPolicy[] {
  if (!Array.isArray(list)) throw new ConfigError(`${at}: expected a list of { use, with }`);
  return list.map((entry: unknown, i) => {
    const where = `${at}[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new ConfigError(`${where}: expected a mapping { use, with }`);
    const { use, with: options, mode = "enforce", approvalTimeout, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw new ConfigError(`${where}.${extra}: unknown key (known: use, with, mode, approvalTimeout)`);
    if (typeof use !== "string" || use === "") throw new ConfigError(`${where}.use: expected a policy name, a path or a package name`);
    if (mode !== "enforce" && mode !== "shadow") throw new ConfigError(`${where}.mode: expected enforce or shadow`);
    const timeoutMs = approvalTimeout === undefined ? undefined : readDuration(approvalTimeout, `${where}.approvalTimeout`);
    const factory = BUILTIN_POLICIES.get(use) ?? loadCustomFactory(use, `${where}.use`, baseDir);
    const policy = factory(options, `${where}.with`);
    if (mode === "enforce" && timeoutMs === undefined) return policy;
    // The policy itself stays as its factory made it; the entry's settings sit on a thin object in front of it.
    return Object.create(policy, {
      shadow: { value: mode === "shadow", enumerable: true },
      ...(timeoutMs !== undefined ? { approvalTimeoutMs: { value: timeoutMs, enumerable: true } } : {}),
    }) as AnyPolicy;
  });
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1500`, `1500ms`, `90s`, `5m`, `1h` → milliseconds (1 s to 24 h). @throws ConfigError */
function readDuration(v: unknown, at: string): number {
  const m = typeof v === "number" ? [String(v), String(v), "ms"] : typeof v === "string" ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(v.trim()) : null;
  const ms = m === null ? Number.NaN : Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
  if (!Number.isFinite(ms) || ms < 1000 || ms > 86_400_000) throw new ConfigError(`${at}: expected a duration from 1s to 24h (90s, 5m, 1h, or milliseconds)`);
  return Math.round(ms);
}

/**
 * A custom policy: a module whose default export (or `createPolicy` export, or the module itself) is a factory
 * `(options, path) => Policy`. Paths start with `.` or `/`; anything else not built in is a package name. The module
 * is loaded afresh on every (re)load, so editing it and reloading takes effect.
 */
function loadCustomFactory(use: string, at: string, baseDir: string): PolicyFactory {
  const local = use.startsWith(".") || path.isAbsolute(use);
  if (!local && !/^(@[\w.-]+\/)?[\w.-]+$/.test(use)) {
    throw new ConfigError(`${at}: unknown policy ${JSON.stringify(use)} (built in: ${[...BUILTIN_POLICIES.keys()].join(", ")})`);
  }
  let resolved: string;
  try {
    resolved = local ? require.resolve(path.resolve(baseDir, use)) : require.resolve(use, { paths: [baseDir] });
  } catch {
    throw new ConfigError(`${at}: unknown policy ${JSON.stringify(use)} (not built in — ${[...BUILTIN_POLICIES.keys()].join(", ")} — and no module found)`);
  }
  delete require.cache[resolved];
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(resolved);
  } catch (err) {
    throw new ConfigError(`${at}: ${use} failed to load: ${(err as Error).message}`, { cause: err });
  }
  const m = mod as { default?: unknown; createPolicy?: unknown };
  const factory = [m.default, m.createPolicy, mod].find((f) => typeof f === "function") as PolicyFactory | undefined;
  if (factory === undefined) throw new ConfigError(`${at}: ${use} exports no policy factory (a default export or createPolicy)`);
  return (options, where) => {
    const policy = factory(options, where);
    if (typeof policy !== "object" || policy === null || typeof policy.name !== "string" || !["FULL", "OBSERVE", "SKIP"].includes(policy.mode)) {
      throw new ConfigError(`${at}: ${use} returned something that is not a policy (needs a name and a mode FULL|OBSERVE|SKIP)`);
    }
    return policy;
  };
}

function parseRule(r: unknown, at: string, chains: ReadonlyMap<string, readonly AnyPolicy[]>): Rule {
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new ConfigError(`${at}: expected a mapping { keyId, model, route, chain }`);
  const { keyId, model, route, chain, ...rest } = r as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ConfigError(`${at}.${extra}: unknown key (known: keyId, model, route, chain)`);
  if (typeof chain !== "string" || !chains.has(chain)) {
    throw new ConfigError(`${at}.chain: expected the name of a chain (known: ${[...chains.keys()].join(", ")})`);
  }
  const keyIds = keyId === undefined ? undefined : Array.isArray(keyId) ? keyId : [keyId];
  if (keyIds !== undefined && !keyIds.every((k): k is string => typeof k === "string" && k !== "")) {
    throw new ConfigError(`${at}.keyId: expected a key id or a list of key ids`);
  }
  const glob = (v: unknown, field: string): ((name: string) => boolean) | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") throw new ConfigError(`${at}.${field}: expected a glob string`);
    return createGlobMatcher(v);
  };
  return { keyIds, model: glob(model, "model"), route: glob(route, "route"), chain };
}
