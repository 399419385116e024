import type { ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText, ResponseReasoningItem } from "openai/resources/responses/responses";
import type { ThinkingBlock } from "@anthropic-ai/sdk/resources/messages";
import type { Message, StopReason, ToolUseBlock } from "../anthropic";
import { outputTextOf, type ResponsesOutputItem, type ResponsesRequest, type ResponsesResponse } from "../openai-responses";
import { responsesIdFor, responsesItemIdFor, usageToResponses } from "./mapping";
import { REASONING_ENCRYPTED_CONTENT } from "./responses-request-to-anthropic";

/** Options of {@link anthropicMessageToResponse}. */
export interface AnthropicMessageToResponseOptions {
  /** The client's request: the response echoes its settings, and `include` decides what reasoning items carry. */
  request: ResponsesRequest;
  /** `created_at`, in seconds since the epoch. @default now */
  created?: number | undefined;
  /** `completed_at` of a completed response, in seconds since the epoch. @default now */
  completedAt?: number | undefined;
}

/**
 * Translates a whole Anthropic message into a Responses `response` (for a Responses client routed to an
 * Anthropic-format provider). Pure but for the default times.
 *
 * Output items, in block order (see {@link createOutputLayout}):
 * - a run of text blocks → one `message` item (role assistant, id `msg_<message>_<output index>`), one `output_text`
 *   part per block (annotations `[]`, citations dropped);
 * - `tool_use` → a `function_call` item: `call_id` = the tool_use id, `id` `fc_` + it, `arguments` =
 *   `JSON.stringify(input)` (an input that stayed a string because it was not JSON goes verbatim);
 * - `thinking` → a `reasoning` item (id `rs_<message>_<output index>`) with the thinking as its one `summary_text`
 *   (no summary for empty thinking) and, when the request's `include` has `reasoning.encrypted_content`, the
 *   signature as `encrypted_content` (which {@link responsesRequestToAnthropic} turns back into the thinking block);
 * - dropped: redacted thinking, server tool blocks (their tools are refused in requests), citations.
 * Every item is `completed`, but a trailing message item of an incomplete response is `incomplete`.
 *
 * `status`: `incomplete` with `incomplete_details.reason` `max_output_tokens` for stop reason max_tokens or
 * model_context_window_exceeded, `content_filter` for refusal; otherwise `completed`. `id` `resp_` + the message id
 * without `msg_`; `output_text` = every output_text part joined; `usage` see {@link usageToResponses}. Echoed from
 * the request as OpenAI does (with OpenAI's defaults): `model` (else the message's), `instructions`, `tools`,
 * `tool_choice`, `temperature`, `top_p`, `parallel_tool_calls`, `max_output_tokens`, `metadata`, `reasoning`, `text`,
 * `truncation`, `user`, `safety_identifier`; `previous_response_id` null, `background` false.
 */
export function anthropicMessageToResponse(message: Message, options: AnthropicMessageToResponseOptions): ResponsesResponse {
  const { request } = options;
  const layout = createOutputLayout(message.id);
  const output: ResponsesOutputItem[] = [];
  const messages = new Map<number, ResponseOutputMessage>();
  for (const block of message.content) {
    switch (block.type) {
      case "text": {
        const place = layout.text();
        let item = messages.get(place.outputIndex);
        if (item === undefined) {
          item = messageItem(place.itemId, [], "completed");
          messages.set(place.outputIndex, item);
          output.push(item);
        }
        item.content.push(textPart(block.text));
        break;
      }
      case "thinking":
        output.push(reasoningItem(block, responsesItemIdFor("rs", message.id, layout.item().outputIndex), request));
        break;
      case "tool_use":
        layout.item();
        output.push(functionCallItem(block));
        break;
      default:
        break;
    }
  }
  const { status, incompleteDetails } = responseStatus(message.stop_reason);
  const last = output.at(-1);
  if (status === "incomplete" && last?.type === "message") last.status = "incomplete";

  const response: ResponsesResponse = {
    id: responsesIdFor(message.id),
    object: "response",
    created_at: options.created ?? now(),
    status,
    completed_at: status === "completed" ? (options.completedAt ?? now()) : null,
    error: null,
    incomplete_details: incompleteDetails,
    instructions: request.instructions ?? null,
    model: request.model ?? message.model,
    output,
    output_text: outputTextOf(output),
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    temperature: request.temperature ?? null,
    top_p: request.top_p ?? null,
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    max_output_tokens: request.max_output_tokens ?? null,
    metadata: request.metadata ?? {},
    previous_response_id: null,
    reasoning: request.reasoning ?? null,
    text: request.text ?? { format: { type: "text" } },
    truncation: request.truncation ?? "disabled",
    background: false,
    usage: usageToResponses(message.usage),
  };
  if (request.user !== undefined) response.user = request.user;
  if (request.safety_identifier !== undefined) response.safety_identifier = request.safety_identifier;
  return response;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** Status and incomplete details of the response for an Anthropic stop reason (see {@link anthropicMessageToResponse}). */
export function responseStatus(reason: StopReason | null): {
  status: "completed" | "incomplete";
  incompleteDetails: ResponsesResponse["incomplete_details"];
} {
  switch (reason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return { status: "incomplete", incompleteDetails: { reason: "max_output_tokens" } };
    case "refusal":
      return { status: "incomplete", incompleteDetails: { reason: "content_filter" } };
    case null:
    case "end_turn":
    case "stop_sequence":
    case "tool_use":
    case "pause_turn":
      return { status: "completed", incompleteDetails: null };
    default: {
      const unknown: never = reason;
      throw new Error(`unknown stop_reason ${String(unknown)}`);
    }
  }
}

/** Where a text block's content goes: a part of the message item at `outputIndex`, added by this block when `newItem`. */
export interface TextPlacement {
  outputIndex: number;
  itemId: string;
  contentIndex: number;
  newItem: boolean;
}

/** The message item a new item closed. */
export interface ClosedMessage {
  outputIndex: number;
  itemId: string;
}

/**
 * The one rule by which Anthropic blocks become Responses output items, kept here so the whole-message and the
 * streaming converter agree: consecutive text blocks share one message item, a part each; every other converted block
 * (thinking, tool_use) is an item of its own and ends the run of text; dropped blocks touch nothing, so text on both
 * sides of a redacted thinking block stays in one message.
 */
export interface OutputLayout {
  /** Places a text block. */
  text(): TextPlacement;
  /** Places a block that is an item of its own; returns its output index and the message item it closed, if any. */
  item(): { outputIndex: number; closed: ClosedMessage | undefined };
  /** The message item still open, if any (it closes when the message ends). */
  openMessage(): ClosedMessage | undefined;
}

/** Creates the {@link OutputLayout} for the message with this id. */
export function createOutputLayout(messageId: string): OutputLayout {
  let count = 0;
  let message: (ClosedMessage & { parts: number }) | undefined;
  return {
    text() {
      const newItem = message === undefined;
      message ??= { outputIndex: count, itemId: responsesItemIdFor("msg", messageId, count++), parts: 0 };
      return { outputIndex: message.outputIndex, itemId: message.itemId, contentIndex: message.parts++, newItem };
    },
    item() {
      const closed = message !== undefined ? { outputIndex: message.outputIndex, itemId: message.itemId } : undefined;
      message = undefined;
      return { outputIndex: count++, closed };
    },
    openMessage: () => (message !== undefined ? { outputIndex: message.outputIndex, itemId: message.itemId } : undefined),
  };
}

/** A message item of the assistant. */
export function messageItem(id: string, texts: readonly string[], status: ResponseOutputMessage["status"]): ResponseOutputMessage {
  return { id, type: "message", role: "assistant", status, content: texts.map(textPart) };
}

/** An `output_text` part as OpenAI sends it. */
export function textPart(text: string): ResponseOutputText {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

/** The function call for a tool_use block (see {@link anthropicMessageToResponse}). */
export function functionCallItem(block: ToolUseBlock): ResponseFunctionToolCall & { id: string } {
  const input: unknown = block.input;
  return {
    type: "function_call",
    id: `fc_${block.id}`,
    call_id: block.id,
    name: block.name,
    arguments: typeof input === "string" ? input : JSON.stringify(input ?? {}),
    status: "completed",
  };
}

/** The reasoning item for a thinking block (see {@link anthropicMessageToResponse}). */
export function reasoningItem(block: ThinkingBlock, id: string, request: ResponsesRequest): ResponseReasoningItem {
  const item: ResponseReasoningItem = {
    id,
    type: "reasoning",
    summary: block.thinking !== "" ? [{ type: "summary_text", text: block.thinking }] : [],
  };
  if (request.include?.includes(REASONING_ENCRYPTED_CONTENT) === true) item.encrypted_content = block.signature;
  return item;
}
