import type { ResponsesInputItem, ResponsesRequest } from "@luthien/wire";
import { startWalk, textRole, type TextRole, type VisitCarrier, type Walk as Visit } from "./carriers";

// The SDK's member types, reached through the aliases @luthien/wire exports (this package does not depend on openai).
type InputMessage = Extract<ResponsesInputItem, { type?: "message"; content: unknown }>;
type Tool = NonNullable<ResponsesRequest["tools"]>[number];

/**
 * Walks every text carrier of a Responses request, in order: `instructions`, `prompt.variables`, `input` (a string,
 * or every item kind of `ResponseInputItem`), then tool descriptions. Returns the same body when `visit` changed
 * nothing, else a copy with the new texts. The switches are exhaustive over the SDK's unions, so a new item or
 * content kind is a type error here.
 */
export function mapResponsesRequest(body: ResponsesRequest, visitCarrier: VisitCarrier): ResponsesRequest {
  const { walk: visit, changed } = startWalk(visitCarrier);
  const out: ResponsesRequest = { ...body };
  const instructions: unknown = body.instructions;
  if (typeof instructions === "string") out.instructions = visit(instructions, "instructions", "system");
  else if (Array.isArray(instructions)) {
    // The SDK types request instructions as a string; a response echoes them as items. Accept both.
    out.instructions = mapItems(instructions as ResponsesInputItem[], "instructions", visit, "system") as unknown as string;
  }
  if (body.prompt?.variables !== undefined && body.prompt.variables !== null) {
    const variables = { ...body.prompt.variables };
    for (const [key, v] of Object.entries(variables)) {
      const where = `prompt.variables.${key}`;
      if (typeof v === "string") variables[key] = visit(v, where, "user");
      else if (v.type === "input_text") variables[key] = { ...v, text: visit(v.text, where, "user") };
    }
    out.prompt = { ...body.prompt, variables };
  }
  if (typeof body.input === "string") out.input = visit(body.input, "input", "user");
  else if (body.input !== undefined) out.input = mapItems(body.input, "input", visit);
  for (const [i, t] of (body.tools ?? []).entries()) toolText(t, `tools[${i}]`, visit);
  return changed() ? out : body;
}

/** Maps the items; `messageRole` overrides the role of their messages (instructions are system text). */
function mapItems(items: ResponsesInputItem[], at: string, visit: Visit, messageRole?: TextRole): ResponsesInputItem[] {
  return items.map((item, i) => mapItem(item, `${at}[${i}]`, visit, messageRole));
}

/** A message part, input or output kind (clients send assistant turns back with either). */
type MessagePart = Extract<InputMessage["content"], unknown[]>[number];

function mapMessageParts(parts: MessagePart[], at: string, role: TextRole, visit: Visit): MessagePart[] {
  return parts.map((p, j): MessagePart => {
    switch (p.type) {
      case "input_text":
      case "output_text":
        return { ...p, text: visit(p.text, `${at}[${j}]`, role) };
      case "refusal":
        return { ...p, refusal: visit(p.refusal, `${at}[${j}]`, role) };
      case "input_image":
      case "input_file":
        return p;
      default: {
        const unknown: never = p;
        throw new Error(`unknown Responses message part ${JSON.stringify(unknown)}`);
      }
    }
  });
}

/** A tool output: a string or input parts (text, images, files). */
function mapToolOutput<T extends string | Array<{ type: string }>>(output: T, at: string, visit: Visit): T {
  if (typeof output === "string") return visit(output, at, "tool") as T;
  return (output as Array<{ type: string; text?: string }>).map((p, j) =>
    p.type === "input_text" && typeof p.text === "string" ? { ...p, text: visit(p.text, `${at}[${j}]`, "tool") } : p,
  ) as T;
}

function mapItem(item: ResponsesInputItem, at: string, visit: Visit, roleOverride?: TextRole): ResponsesInputItem {
  const read = (text: string, where: string, role: TextRole = "assistant"): void => void visit(text, `${at}${where}`, role, "read");
  switch (item.type) {
    case undefined:
    case null:
    case "message":
    case "item_reference": {
      if (!("role" in item)) return item;
      const role = roleOverride ?? textRole(item.role);
      if (typeof item.content === "string") return { ...item, content: visit(item.content, `${at}.content`, role) };
      return { ...item, content: mapMessageParts(item.content, `${at}.content`, role, visit) } as ResponsesInputItem;
    }
    case "function_call":
      read(item.arguments, ".arguments");
      return item;
    case "custom_tool_call":
      read(item.input, ".input");
      return item;
    case "function_call_output":
      return { ...item, output: mapToolOutput(item.output, `${at}.output`, visit) };
    case "custom_tool_call_output":
      return { ...item, output: mapToolOutput(item.output, `${at}.output`, visit) };
    case "file_search_call":
      for (const [j, q] of item.queries.entries()) read(q, `.queries[${j}]`);
      if (item.results === undefined || item.results === null) return item;
      return {
        ...item,
        results: item.results.map((r, j) => (typeof r.text === "string" ? { ...r, text: visit(r.text, `${at}.results[${j}].text`, "tool") } : r)),
      };
    case "computer_call":
      for (const [j, a] of [...(item.action !== undefined ? [item.action] : []), ...(item.actions ?? [])].entries()) {
        if (a.type === "type") read(a.text, `.actions[${j}].text`);
      }
      return item;
    case "computer_call_output":
    case "compaction":
    case "compaction_trigger":
    case "image_generation_call":
      return item;
    case "web_search_call": {
      const a = item.action;
      switch (a.type) {
        case "search":
          if (a.query !== undefined) read(a.query, ".action.query");
          for (const [j, q] of (a.queries ?? []).entries()) read(q, `.action.queries[${j}]`);
          break;
        case "find_in_page":
          read(a.pattern, ".action.pattern");
          break;
        case "open_page":
          break;
        default: {
          const unknown: never = a;
          throw new Error(`unknown web search action ${JSON.stringify(unknown)}`);
        }
      }
      return item;
    }
    case "tool_search_call":
      read(typeof item.arguments === "string" ? item.arguments : (JSON.stringify(item.arguments) ?? ""), ".arguments");
      return item;
    case "tool_search_output":
    case "additional_tools":
      for (const [j, t] of item.tools.entries()) toolText(t, `${at}.tools[${j}]`, visit);
      return item;
    case "reasoning":
      for (const [j, s] of item.summary.entries()) read(s.text, `.summary[${j}].text`);
      for (const [j, c] of (item.content ?? []).entries()) read(c.text, `.content[${j}].text`);
      return item;
    case "code_interpreter_call":
      if (item.code !== null) read(item.code, ".code");
      if (item.outputs === null) return item;
      return { ...item, outputs: item.outputs.map((o, j) => (o.type === "logs" ? { ...o, logs: visit(o.logs, `${at}.outputs[${j}].logs`, "tool") } : o)) };
    case "local_shell_call":
      read(item.action.command.join(" "), ".action.command");
      return item;
    case "local_shell_call_output":
      return { ...item, output: visit(item.output, `${at}.output`, "tool") };
    case "shell_call":
      for (const [j, c] of item.action.commands.entries()) read(c, `.action.commands[${j}]`);
      return item;
    case "shell_call_output":
      return {
        ...item,
        output: item.output.map((o, j) => ({
          ...o,
          stdout: visit(o.stdout, `${at}.output[${j}].stdout`, "tool"),
          stderr: visit(o.stderr, `${at}.output[${j}].stderr`, "tool"),
        })),
      };
    case "apply_patch_call": {
      const op = item.operation;
      read(op.path, ".operation.path");
      if (op.type !== "delete_file") read(op.diff, ".operation.diff");
      return item;
    }
    case "apply_patch_call_output":
      return typeof item.output === "string" ? { ...item, output: visit(item.output, `${at}.output`, "tool") } : item;
    case "mcp_list_tools":
      for (const [j, t] of item.tools.entries()) if (typeof t.description === "string") read(t.description, `.tools[${j}].description`, "tool");
      return typeof item.error === "string" ? { ...item, error: visit(item.error, `${at}.error`, "tool") } : item;
    case "mcp_approval_request":
      read(item.arguments, ".arguments");
      return item;
    case "mcp_approval_response":
      return typeof item.reason === "string" ? { ...item, reason: visit(item.reason, `${at}.reason`, "user") } : item;
    case "mcp_call": {
      read(item.arguments, ".arguments");
      const next = { ...item };
      if (typeof item.output === "string") next.output = visit(item.output, `${at}.output`, "tool");
      if (typeof item.error === "string") next.error = visit(item.error, `${at}.error`, "tool");
      return next;
    }
    case "program":
      read(item.code, ".code");
      return item;
    case "program_output":
      return { ...item, result: visit(item.result, `${at}.result`, "tool") };
    default: {
      const unknown: never = item;
      throw new Error(`unknown Responses input item ${JSON.stringify(unknown)}`);
    }
  }
}

/** Tool descriptions are read (regex checks see them), never rewritten. */
function toolText(t: Tool, at: string, visit: Visit): void {
  const read = (text: string | null | undefined, where: string): void => {
    if (typeof text === "string") visit(text, `${at}${where}`, "system", "read");
  };
  switch (t.type) {
    case "function":
    case "custom":
    case "tool_search":
      read(t.description, ".description");
      return;
    case "namespace":
      read(t.description, ".description");
      for (const [j, inner] of t.tools.entries()) read(inner.description, `.tools[${j}].description`);
      return;
    case "mcp":
      read(t.server_description, ".server_description");
      return;
    case "file_search":
    case "computer":
    case "computer_use_preview":
    case "web_search":
    case "web_search_2025_08_26":
    case "web_search_preview":
    case "web_search_preview_2025_03_11":
    case "code_interpreter":
    case "programmatic_tool_calling":
    case "image_generation":
    case "local_shell":
    case "shell":
    case "apply_patch":
      return;
    default: {
      const unknown: never = t;
      throw new Error(`unknown Responses tool ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Reads every carrier of Responses output items (a response's `output`, or one streamed item) with the request
 * walker — output items are the kinds a client sends back as input. What a text policy writes in a response is
 * reported as written: the `output_text` and `refusal` parts of messages, the summary and `reasoning_text` parts of
 * reasoning items; everything else (calls, tool output) as read.
 */
export function readResponsesOutput(output: readonly unknown[], at: string, visitCarrier: VisitCarrier): void {
  const { walk: write } = startWalk(visitCarrier);
  const { walk: read } = startWalk((c) => visitCarrier(c.access === "write" ? { ...c, access: "read" } : c));
  for (const [i, raw] of output.entries()) {
    const item = raw as ResponsesInputItem;
    const where = `${at}[${i}]`;
    if (item.type === "message" && Array.isArray(item.content)) {
      for (const [j, p] of (item.content as MessagePart[]).entries()) {
        if (p.type === "output_text") write(p.text, `${where}.content[${j}].text`, "assistant");
        else if (p.type === "refusal") write(p.refusal, `${where}.content[${j}].refusal`, "assistant");
      }
    } else if (item.type === "reasoning") {
      for (const [j, p] of item.summary.entries()) write(p.text, `${where}.summary[${j}].text`, "assistant");
      for (const [j, p] of (item.content ?? []).entries()) write(p.text, `${where}.content[${j}].text`, "assistant");
    } else mapItem(item, where, read);
  }
}
