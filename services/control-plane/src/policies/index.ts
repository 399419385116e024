import type { AnyPolicy } from "@luthien/policy-sdk";
import { createAllCapsPolicy } from "./all-caps";
import { createDangerousCommandsPolicy } from "./dangerous-commands";
import { createLlmJudgePolicy } from "./llm-judge";
import { createMaxTokensPolicy } from "./max-tokens";
import { createModelRouterPolicy } from "./model-router";
import { createNoopPolicy } from "./noop";
import { readOptions } from "./options";
import { createRegexFilterPolicy } from "./regex-filter";
import { createSecretRedactionPolicy } from "./secret-redaction";
import { createSqlGuardPolicy } from "./sql-guard";
import { createStringReplacePolicy } from "./string-replace";
import { createToolAllowlistPolicy } from "./tool-allowlist";

/** Builds a policy from its `with:` options; `path` names the options in errors. @throws ConfigError */
export type PolicyFactory = (options: unknown, path: string) => AnyPolicy;

/** The built-in policies by their config name. */
export const BUILTIN_POLICIES: ReadonlyMap<string, PolicyFactory> = new Map<string, PolicyFactory>([
  ["noop", (o, p) => (readOptions(o, p, []), createNoopPolicy())],
  ["all-caps", (o, p) => (readOptions(o, p, []), createAllCapsPolicy())],
  ["string-replace", createStringReplacePolicy],
  ["max-tokens", createMaxTokensPolicy],
  ["regex-filter", createRegexFilterPolicy],
  ["secret-redaction", createSecretRedactionPolicy],
  ["sql-guard", createSqlGuardPolicy],
  ["dangerous-commands", createDangerousCommandsPolicy],
  ["tool-allowlist", createToolAllowlistPolicy],
  ["llm-judge", createLlmJudgePolicy],
  ["model-router", createModelRouterPolicy],
]);
