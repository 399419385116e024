import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ConfigError } from "@luthien/runtime";
import type { AnyPolicy } from "@luthien/policy-sdk";
import { BUILTIN_POLICIES } from "./policies";

/** A loaded policy configuration: the default chain, in order. */
export interface PolicyConfig {
  policies: AnyPolicy[];
}

/**
 * Parses and validates a `POLICY_CONFIG` document:
 * ```yaml
 * policies:
 *   - use: string-replace
 *     with: { replacements: [["foo", "bar"]] }
 * ```
 * @throws ConfigError naming the bad field, e.g. `policies[1].with.replacements[0]: ...`
 */
export function parsePolicyConfig(text: string): PolicyConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  doc ??= {};
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ConfigError("expected a mapping at the top level");
  }
  for (const key of Object.keys(doc)) {
    if (key !== "policies") throw new ConfigError(`${key}: unknown top-level key (known: policies)`);
  }
  const list = (doc as { policies?: unknown }).policies ?? [{ use: "noop" }];
  if (!Array.isArray(list)) throw new ConfigError("policies: expected a list of { use, with }");
  const policies = list.map((entry: unknown, i) => {
    const path = `policies[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ConfigError(`${path}: expected a mapping { use, with }`);
    }
    const { use, with: options, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw new ConfigError(`${path}.${extra}: unknown key (known: use, with)`);
    if (typeof use !== "string") throw new ConfigError(`${path}.use: expected a policy name`);
    const factory = BUILTIN_POLICIES.get(use);
    if (factory === undefined) {
      throw new ConfigError(`${path}.use: unknown policy ${JSON.stringify(use)} (known: ${[...BUILTIN_POLICIES.keys()].join(", ")})`);
    }
    return factory(options, `${path}.with`);
  });
  return { policies };
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
    return parsePolicyConfig(text);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err });
  }
}
