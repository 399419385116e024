import type { ToolCall } from "../tool-call-gate";
import { jsonCall, jsonText } from "./json";
import type { OutputItem } from "./responses-output";

/**
 * The call in an output item the client executes, as the gate decides it, or undefined for items that are not
 * such a call. Exhaustive over `ResponseOutputItem`, so a new item kind is a type error here, not a call that passes
 * ungated.
 *
 * - `function_call`: its name, arguments parsed from JSON (arguments that are not one complete JSON object are
 *   refused: the gate blocks the call without deciding it, see `parseToolArguments`);
 * - `custom_tool_call`: its name, `input` (a string);
 * - `local_shell_call`: `local_shell`, the action without its type (`{command: [...], env, working_directory, ...}`);
 * - `shell_call`: `shell`, `{commands: [...], timeout_ms, max_output_length}`;
 * - `apply_patch_call`: `apply_patch`, the operation (`{type, path, diff}`);
 * - `computer_call`: `computer`, `{action, actions}`;
 * - `mcp_approval_request` (the client approves the call, then the server runs it): `mcp__<server>__<tool>`, its
 *   arguments parsed;
 * - `tool_search_call` run by the client: `tool_search`, its arguments.
 *
 * The id is the `call_id` the client answers with (the item id for approval requests). Not calls: messages,
 * reasoning, outputs, and what the provider already ran itself (web/file search, code interpreter, image
 * generation, MCP calls, programs, server-side tool search).
 */
export function responsesCallOf(item: OutputItem): ToolCall | undefined {
  switch (item.type) {
    case "function_call":
      return jsonCall(item.call_id, item.name, item.arguments);
    case "custom_tool_call":
      return { id: item.call_id, name: item.name, input: item.input };
    case "local_shell_call": {
      const { type: _type, ...action } = item.action;
      return { id: item.call_id, name: "local_shell", input: action };
    }
    case "shell_call":
      return { id: item.call_id, name: "shell", input: { ...item.action } };
    case "apply_patch_call":
      return { id: item.call_id, name: "apply_patch", input: { ...item.operation } };
    case "computer_call":
      return {
        id: item.call_id,
        name: "computer",
        input: { ...(item.action !== undefined ? { action: item.action } : {}), ...(item.actions !== undefined ? { actions: item.actions } : {}) },
      };
    case "mcp_approval_request":
      return jsonCall(item.id, `mcp__${item.server_label}__${item.name}`, item.arguments);
    case "tool_search_call":
      return item.execution === "client" ? { id: item.call_id ?? item.id, name: "tool_search", input: item.arguments } : undefined;
    case "message":
    case "reasoning":
    case "file_search_call":
    case "web_search_call":
    case "code_interpreter_call":
    case "image_generation_call":
    case "mcp_call":
    case "mcp_list_tools":
    case "mcp_approval_response":
    case "program":
    case "program_output":
    case "compaction":
    case "additional_tools":
    case "tool_search_output":
    case "function_call_output":
    case "custom_tool_call_output":
    case "computer_call_output":
    case "local_shell_call_output":
    case "shell_call_output":
    case "apply_patch_call_output":
      return undefined;
    default: {
      const unknown: never = item;
      throw new Error(`unknown Responses output item ${JSON.stringify(unknown)}`);
    }
  }
}

/** A rewrite's input that does not fit the item kind. */
function misfit(item: OutputItem, want: string): Error {
  return new Error(`a rewrite of a ${item.type} item needs ${want} as its input`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

const isStringList = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");

/**
 * The item with the call's input replaced by `input` (the inverse of {@link responsesCallOf}).
 * @throws Error when `input` does not fit the item kind (a shell call without a command list, ...)
 */
export function rewriteCallItem(item: OutputItem, input: unknown): OutputItem {
  switch (item.type) {
    case "function_call":
      return { ...item, arguments: jsonText(input) };
    case "custom_tool_call":
      return { ...item, input: typeof input === "string" ? input : jsonText(input) };
    case "mcp_approval_request":
      return { ...item, arguments: jsonText(input) };
    case "local_shell_call":
      if (!isObject(input) || !isStringList(input["command"])) throw misfit(item, "{command: string[]}");
      return { ...item, action: { ...item.action, ...input, type: "exec" } as typeof item.action };
    case "shell_call":
      if (!isObject(input) || !isStringList(input["commands"])) throw misfit(item, "{commands: string[]}");
      return { ...item, action: { ...item.action, ...input } as typeof item.action };
    case "apply_patch_call":
      if (!isObject(input) || typeof input["path"] !== "string" || !["create_file", "update_file", "delete_file"].includes(input["type"] as string)) {
        throw misfit(item, "an operation {type, path, diff}");
      }
      return { ...item, operation: input as unknown as typeof item.operation };
    case "computer_call":
      if (!isObject(input)) throw misfit(item, "{action} or {actions}");
      return { ...item, ...(input as Pick<typeof item, "action" | "actions">) };
    case "tool_search_call":
      return { ...item, arguments: input };
    default:
      throw new Error(`a ${item.type} item is not a call to rewrite`);
  }
}

/** The identity of a call item: kind, item id, call id, name. Items that must be the same call agree on it. */
export function callIdentity(item: OutputItem): string {
  const x = item as { type: string; id?: unknown; call_id?: unknown; name?: unknown };
  return JSON.stringify([x.type, x.id ?? null, x.call_id ?? null, x.name ?? null]);
}
