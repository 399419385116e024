import type { ChatCompletionMessageParam, MessageParam } from "@luthien/wire";
import { mapResponsesRequest, textRole } from "./internal/responses-request";
import type { PolicyRequest } from "./policy";

/** One piece of text in a request, and where it sits. */
export interface RequestText {
  /** A path into the request body, e.g. `system`, `messages[2].content`, `messages[3].content[1].content[0]`. */
  where: string;
  /** Who wrote it: system prompts (OpenAI `developer` included), user turns, assistant turns, tool results. */
  role: "system" | "user" | "assistant" | "tool";
  text: string;
}

/**
 * Every text carrier of a request, in order, for request-side checks: OpenAI system, developer, user, assistant,
 * tool (and legacy function) messages, as strings or text parts; Anthropic `system` (string or blocks), text blocks
 * of every turn, `tool_result` content (string, text parts, plain-text documents) and plain-text documents.
 * Not included (OpenAI, Anthropic): images, audio, files, thinking blocks, and tool-call arguments the assistant made
 * earlier.
 *
 * Responses: `instructions`, `prompt.variables`, `input` as a string or items — message text parts (input_text,
 * output_text, refusal) of every role, tool outputs (`function_call_output`, `custom_tool_call_output`, shell,
 * local shell, apply_patch, MCP and program outputs, code interpreter logs, file search results), and what the
 * assistant called earlier (`function_call.arguments`, `custom_tool_call.input`, shell commands, patches, code,
 * MCP arguments, search queries, reasoning summaries) — then tool descriptions (`tools[i].description`, role
 * system). Text kept on the server (`previous_response_id`, `conversation`) is not in the request and not seen.
 */
export function* requestText(request: PolicyRequest): Generator<RequestText> {
  switch (request.format) {
    case "openai":
      for (const [i, m] of request.body.messages.entries()) yield* openAIMessageText(m, `messages[${i}]`);
      return;
    case "anthropic":
      yield* anthropicRequestText(request.body);
      return;
    case "responses": {
      const found: RequestText[] = [];
      mapResponsesRequest(request.body, ({ where, role, text }) => (found.push({ where, role, text }), text));
      yield* found;
      return;
    }
    default: {
      const unknown: never = request;
      throw new Error(`unknown request format ${JSON.stringify(unknown)}`);
    }
  }
}

function* anthropicRequestText(body: Extract<PolicyRequest, { format: "anthropic" }>["body"]): Generator<RequestText> {
  const { system, messages } = body;
  if (typeof system === "string") yield { where: "system", role: "system", text: system };
  else if (system !== undefined) {
    for (const [i, b] of system.entries()) yield { where: `system[${i}]`, role: "system", text: b.text };
  }
  for (const [i, m] of messages.entries()) yield* anthropicMessageText(m, `messages[${i}]`);
}

function* openAIMessageText(m: ChatCompletionMessageParam, at: string): Generator<RequestText> {
  const role = textRole(m.role);
  const content: unknown = m.content;
  if (typeof content === "string") {
    yield { where: `${at}.content`, role, text: content };
    return;
  }
  if (!Array.isArray(content)) return;
  for (const [j, part] of (content as Array<{ type?: unknown; text?: unknown }>).entries()) {
    if (part.type === "text" && typeof part.text === "string") yield { where: `${at}.content[${j}]`, role, text: part.text };
  }
}

/** Text of a block list: text blocks and plain-text documents; `tool` marks tool_result content. */
function* blockText(blocks: readonly unknown[], at: string, role: RequestText["role"]): Generator<RequestText> {
  for (const [j, raw] of blocks.entries()) {
    const b = raw as { type?: unknown; text?: unknown; content?: unknown; source?: { type?: unknown; data?: unknown } };
    const where = `${at}[${j}]`;
    if (b.type === "text" && typeof b.text === "string") yield { where, role, text: b.text };
    else if (b.type === "document" && b.source?.type === "text" && typeof b.source.data === "string") {
      yield { where: `${where}.source.data`, role, text: b.source.data };
    } else if (b.type === "tool_result") {
      if (typeof b.content === "string") yield { where: `${where}.content`, role: "tool", text: b.content };
      else if (Array.isArray(b.content)) yield* blockText(b.content, `${where}.content`, "tool");
    } else if (b.type === "search_result" && Array.isArray(b.content)) {
      yield* blockText(b.content, `${where}.content`, role);
    }
  }
}

function* anthropicMessageText(m: MessageParam, at: string): Generator<RequestText> {
  const role = m.role === "assistant" ? "assistant" : "user";
  if (typeof m.content === "string") yield { where: `${at}.content`, role, text: m.content };
  else yield* blockText(m.content, `${at}.content`, role);
}
