import type { AnyPolicy } from "@luthien/policy-sdk";
import { createAllCapsPolicy } from "./all-caps";
import { createNoopPolicy } from "./noop";
import { readOptions } from "./options";
import { createStringReplacePolicy } from "./string-replace";

/** Builds a policy from its `with:` options; `path` names the options in errors. @throws ConfigError */
export type PolicyFactory = (options: unknown, path: string) => AnyPolicy;

/** The built-in policies by their config name. */
export const BUILTIN_POLICIES: ReadonlyMap<string, PolicyFactory> = new Map<string, PolicyFactory>([
  ["noop", (o, p) => (readOptions(o, p, []), createNoopPolicy())],
  ["all-caps", (o, p) => (readOptions(o, p, []), createAllCapsPolicy())],
  ["string-replace", createStringReplacePolicy],
]);
