import { createGlobMatcher, createToolCallGate, type AnyPolicy } from "@luthien/policy-sdk";
import { readFlagAction, readOptions, readStringList } from "./options";

/**
 * Lets only the listed tools be called: any other tool call is replaced by a BLOCKED text (and the stop reason
 * fixed when no call remains).
 *
 * Options: `allow` (required; tool names or globs, `*` any run, `?` one character: `["Read", "Grep", "mcp__docs__*"]`).
 * Responses clients: function and custom tools go by their names; the built-in kinds are `local_shell`, `shell`,
 * `apply_patch`, `computer`, `tool_search`, and MCP approval requests `mcp__<server label>__<tool>`.
 * `unknown`: `block` (default) or `ask` — hold a call to an unlisted tool for a person's approval.
 * Events: `blocked {tool, id, reason}`; with `ask`, `held`, `approved`.
 */
export function createToolAllowlistPolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["allow", "unknown"]);
  const allow = readStringList(o, path, "allow", { required: true }) as string[];
  const unknown = readFlagAction(o, path, "unknown");
  const allowed = createGlobMatcher(allow);
  return createToolCallGate({
    name: "tool-allowlist",
    decide: (call) => (allowed(call.name) ? { action: "allow" } : { action: unknown, reason: `the tool ${call.name} is not on the allow list` }),
  });
}
