import { createToolCallGate, type AnyPolicy } from "@luthien/policy-sdk";

/** Blocks tool calls that touch .env files; `with: { allow: [".env.example"] }` lets some through. */
export default function createNoEnvFiles(options: unknown, path: string): AnyPolicy {
  const allow = (options as { allow?: unknown } | undefined)?.allow ?? [];
  if (!Array.isArray(allow) || !allow.every((a): a is string => typeof a === "string")) {
    throw new Error(`${path}.allow: expected a list of file names`);
  }
  return createToolCallGate({
    name: "no-env-files",
    decide(call) {
      const words = JSON.stringify(call.input).match(/[^\s"'`]*\.env[^\s"'`]*/g) ?? [];
      const file = words.find((w) => /(^|\/)\.env(\.|$)/.test(w) && !allow.some((a) => w.endsWith(a)));
      if (file === undefined) return { action: "allow" };
      return { action: "block", reason: `${file} may hold secrets` };
    },
  });
}
