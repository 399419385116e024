import type { ResponsesStreamEvent } from "@luthien/wire";

/**
 * What a Responses stream event is about, for policies that handle a few kinds and route the rest:
 * - `snapshot`: `response.created` / `.in_progress` / `.queued`, a response in progress;
 * - `terminal`: `response.completed` / `.incomplete` / `.failed`, the final response;
 * - `error`: the stream's error event;
 * - `item`: `response.output_item.added` / `.done`;
 * - `text`: what carries an output_text part's text (`output_text.delta` / `.done`, `content_part.added` / `.done`);
 * - `arguments`: a call's streamed input (function call arguments, custom tool input, MCP arguments);
 * - `detail`: any other event of one item (it names its `output_index` and `item_id`): reasoning, refusals,
 *   annotations, the progress of provider-side tools;
 * - `global`: events of no item (audio).
 */
export type ResponsesEventKind = "snapshot" | "terminal" | "error" | "item" | "text" | "arguments" | "detail" | "global";

/** Every event type of the SDK, classified: a type the SDK adds is a compile error here until someone says what it is. */
const KINDS = {
  "response.created": "snapshot",
  "response.in_progress": "snapshot",
  "response.queued": "snapshot",
  "response.completed": "terminal",
  "response.incomplete": "terminal",
  "response.failed": "terminal",
  error: "error",
  "response.output_item.added": "item",
  "response.output_item.done": "item",
  "response.output_text.delta": "text",
  "response.output_text.done": "text",
  "response.content_part.added": "text",
  "response.content_part.done": "text",
  "response.function_call_arguments.delta": "arguments",
  "response.function_call_arguments.done": "arguments",
  "response.custom_tool_call_input.delta": "arguments",
  "response.custom_tool_call_input.done": "arguments",
  "response.mcp_call_arguments.delta": "arguments",
  "response.mcp_call_arguments.done": "arguments",
  "response.output_text.annotation.added": "detail",
  "response.refusal.delta": "detail",
  "response.refusal.done": "detail",
  "response.reasoning_summary_part.added": "detail",
  "response.reasoning_summary_part.done": "detail",
  "response.reasoning_summary_text.delta": "detail",
  "response.reasoning_summary_text.done": "detail",
  "response.reasoning_text.delta": "detail",
  "response.reasoning_text.done": "detail",
  "response.code_interpreter_call_code.delta": "detail",
  "response.code_interpreter_call_code.done": "detail",
  "response.code_interpreter_call.completed": "detail",
  "response.code_interpreter_call.in_progress": "detail",
  "response.code_interpreter_call.interpreting": "detail",
  "response.file_search_call.completed": "detail",
  "response.file_search_call.in_progress": "detail",
  "response.file_search_call.searching": "detail",
  "response.web_search_call.completed": "detail",
  "response.web_search_call.in_progress": "detail",
  "response.web_search_call.searching": "detail",
  "response.image_generation_call.completed": "detail",
  "response.image_generation_call.generating": "detail",
  "response.image_generation_call.in_progress": "detail",
  "response.image_generation_call.partial_image": "detail",
  "response.mcp_call.completed": "detail",
  "response.mcp_call.failed": "detail",
  "response.mcp_call.in_progress": "detail",
  "response.mcp_list_tools.completed": "detail",
  "response.mcp_list_tools.failed": "detail",
  "response.mcp_list_tools.in_progress": "detail",
  "response.audio.delta": "global",
  "response.audio.done": "global",
  "response.audio.transcript.delta": "global",
  "response.audio.transcript.done": "global",
} as const satisfies Record<ResponsesStreamEvent["type"], ResponsesEventKind>;

type Kinds = typeof KINDS;
type TypesOf<K extends ResponsesEventKind> = { [T in keyof Kinds]: Kinds[T] extends K ? T : never }[keyof Kinds];

/** An event of one item other than its added/done: it names the item by output index and id. */
export type ItemScopedEvent = Extract<ResponsesStreamEvent, { type: TypesOf<"text" | "arguments" | "detail"> }>;
// Every event classified as one item's must name it, or routing it by item would be wrong: checked here.
type NamesItem<E> = [E] extends [{ output_index: number; item_id: string }] ? true : false;
const _itemScopedEventsNameTheirItem: NamesItem<ItemScopedEvent> = true;
void _itemScopedEventsNameTheirItem;

export function responsesEventKind(event: ResponsesStreamEvent): ResponsesEventKind {
  return KINDS[event.type];
}

/** Whether the event belongs to one item (and says which). */
export function isItemScoped(event: ResponsesStreamEvent): event is ItemScopedEvent {
  const kind = KINDS[event.type];
  return kind === "text" || kind === "arguments" || kind === "detail";
}
