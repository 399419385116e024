import type {
  Response,
  ResponseCreateParams,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseOutputMessage,
  ResponseReasoningItem,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";

/**
 * The OpenAI Responses API (`POST /v1/responses`), the third client format. Types are the official SDK's; the
 * aliases keep `Response` from meaning an HTTP response everywhere else.
 */
export type ResponsesRequest = ResponseCreateParams;
export type ResponsesResponse = Response;
export type ResponsesStreamEvent = ResponseStreamEvent;
export type ResponsesInputItem = ResponseInputItem;
export type ResponsesOutputItem = ResponseOutputItem;

/**
 * Every event type of the SDK's union: a record over the union's types, so a type added to the SDK fails to compile
 * here until it is listed. Streams may carry others (OpenAI's `keepalive`).
 */
export const RESPONSES_EVENT_TYPES: ReadonlySet<string> = new Set(
  Object.keys({
    "response.audio.delta": true,
    "response.audio.done": true,
    "response.audio.transcript.delta": true,
    "response.audio.transcript.done": true,
    "response.code_interpreter_call_code.delta": true,
    "response.code_interpreter_call_code.done": true,
    "response.code_interpreter_call.completed": true,
    "response.code_interpreter_call.in_progress": true,
    "response.code_interpreter_call.interpreting": true,
    "response.completed": true,
    "response.content_part.added": true,
    "response.content_part.done": true,
    "response.created": true,
    error: true,
    "response.file_search_call.completed": true,
    "response.file_search_call.in_progress": true,
    "response.file_search_call.searching": true,
    "response.function_call_arguments.delta": true,
    "response.function_call_arguments.done": true,
    "response.in_progress": true,
    "response.failed": true,
    "response.incomplete": true,
    "response.output_item.added": true,
    "response.output_item.done": true,
    "response.reasoning_summary_part.added": true,
    "response.reasoning_summary_part.done": true,
    "response.reasoning_summary_text.delta": true,
    "response.reasoning_summary_text.done": true,
    "response.reasoning_text.delta": true,
    "response.reasoning_text.done": true,
    "response.refusal.delta": true,
    "response.refusal.done": true,
    "response.output_text.delta": true,
    "response.output_text.done": true,
    "response.web_search_call.completed": true,
    "response.web_search_call.in_progress": true,
    "response.web_search_call.searching": true,
    "response.image_generation_call.completed": true,
    "response.image_generation_call.generating": true,
    "response.image_generation_call.in_progress": true,
    "response.image_generation_call.partial_image": true,
    "response.mcp_call_arguments.delta": true,
    "response.mcp_call_arguments.done": true,
    "response.mcp_call.completed": true,
    "response.mcp_call.failed": true,
    "response.mcp_call.in_progress": true,
    "response.mcp_list_tools.completed": true,
    "response.mcp_list_tools.failed": true,
    "response.mcp_list_tools.in_progress": true,
    "response.output_text.annotation.added": true,
    "response.queued": true,
    "response.custom_tool_call_input.delta": true,
    "response.custom_tool_call_input.done": true,
  } satisfies Record<ResponseStreamEvent["type"], true>),
);

/** A stream event before it has its place in the stream: what converters build, numbered when emitted. */
export type UnnumberedResponsesStreamEvent = ResponsesStreamEvent extends infer E ? (E extends ResponsesStreamEvent ? Omit<E, "sequence_number"> : never) : never;

/** The events that end a Responses stream carrying the response (the other end is an `error` event). */
export type ResponsesTerminalEventType = "response.completed" | "response.incomplete" | "response.failed";

/**
 * The terminal event type for a response's status: `incomplete` → `response.incomplete`; `failed` and `cancelled` →
 * `response.failed` (there is no cancelled event; the response keeps its status); anything else, including a
 * missing status, → `response.completed`.
 */
export function terminalEventType(status: Response["status"]): ResponsesTerminalEventType {
  switch (status) {
    case "incomplete":
      return "response.incomplete";
    case "failed":
    case "cancelled":
      return "response.failed";
    case "completed":
    case "in_progress":
    case "queued":
    case undefined:
      return "response.completed";
    default: {
      const unknown: never = status;
      throw new Error(`unknown response status ${String(unknown)}`);
    }
  }
}

/**
 * The `output_text` convenience value, as the official SDK computes it: every `output_text` part of every message
 * item, joined. Derived data: wherever a response carries it, it must say what the items say.
 */
export function outputTextOf(output: readonly ResponseOutputItem[]): string {
  const texts: string[] = [];
  for (const item of output) {
    if (item.type !== "message") continue;
    for (const part of item.content) if (part.type === "output_text") texts.push(part.text);
  }
  return texts.join("");
}

/**
 * The response as `response.created` and `response.in_progress` carry it: status `in_progress`, no output, no usage,
 * no error or incomplete details yet.
 */
export function inProgressResponse(response: Response): Response {
  const { usage: _usage, ...rest } = response;
  return {
    ...rest,
    status: "in_progress",
    output: [],
    output_text: "",
    error: null,
    incomplete_details: null,
    ...(response.completed_at !== undefined ? { completed_at: null } : {}),
  };
}

/**
 * The events a client would have received had `response` been streamed, numbered from 0, in OpenAI's order:
 * `response.created` and `response.in_progress` (see {@link inProgressResponse}), then per output item
 * `response.output_item.added` (the item in progress: no content, no arguments), its content, and
 * `response.output_item.done` (the whole item); then `response.completed`, `response.incomplete` or
 * `response.failed` (by status, see {@link terminalEventType}) carrying the whole response.
 *
 * Content: a `message` streams each part — `content_part.added` (empty), one `output_text.delta` with the whole text
 * (or `refusal.delta`), one `output_text.annotation.added` per annotation, `output_text.done` (`refusal.done`),
 * `content_part.done`; a `function_call` streams one `function_call_arguments.delta` and `.done`; a `reasoning` item
 * streams its summary parts (`reasoning_summary_part.added`, `reasoning_summary_text.delta`/`.done`,
 * `reasoning_summary_part.done`) and its `reasoning_text` parts as content parts; every other item goes whole in its
 * added and done events. Empty texts get no delta.
 *
 * `function_call` and `custom_tool_call` items may lack the `id` that stream events need: they get `fc_` / `ctc_`
 * + their `call_id`, in the items and in the terminal response alike.
 */
export function responseToEvents(response: Response): ResponsesStreamEvent[] {
  const whole: Response = { ...response, output: response.output.map(withItemId) };
  const events: ResponsesStreamEvent[] = [];
  const emit = (event: UnnumberedResponsesStreamEvent): void => {
    events.push({ ...event, sequence_number: events.length } as ResponsesStreamEvent);
  };
  const pending = inProgressResponse(whole);
  emit({ type: "response.created", response: pending });
  emit({ type: "response.in_progress", response: pending });
  whole.output.forEach((item, output_index) => {
    emit({ type: "response.output_item.added", output_index, item: itemInProgress(item) });
    for (const event of itemContentEvents(item, output_index)) emit(event);
    emit({ type: "response.output_item.done", output_index, item });
  });
  emit({ type: terminalEventType(whole.status), response: whole });
  return events;
}

function withItemId(item: ResponseOutputItem): ResponseOutputItem {
  if (item.type === "function_call" && item.id === undefined) return { ...item, id: `fc_${item.call_id}` };
  if (item.type === "custom_tool_call" && item.id === undefined) return { ...item, id: `ctc_${item.call_id}` };
  return item;
}

/** An item as `output_item.added` carries it, before its content streams. */
function itemInProgress(item: ResponseOutputItem): ResponseOutputItem {
  switch (item.type) {
    case "message":
      return { ...item, status: "in_progress", content: [] };
    case "function_call":
      return { ...item, arguments: "", status: "in_progress" };
    case "reasoning": {
      const empty: ResponseReasoningItem = { ...item, summary: [] };
      if (item.content !== undefined) empty.content = [];
      if (item.status !== undefined) empty.status = "in_progress";
      return empty;
    }
    default:
      return item;
  }
}

/** The events between an item's added and done events (see {@link responseToEvents}). */
function itemContentEvents(item: ResponseOutputItem, output_index: number): UnnumberedResponsesStreamEvent[] {
  const item_id = item.id ?? "";
  const at = { item_id, output_index };
  switch (item.type) {
    case "message":
      return item.content.flatMap((part, content_index) => messagePartEvents(part, { ...at, content_index }));
    case "function_call":
      return [
        ...(item.arguments !== "" ? [{ type: "response.function_call_arguments.delta" as const, ...at, delta: item.arguments }] : []),
        { type: "response.function_call_arguments.done", ...at, arguments: item.arguments, name: item.name },
      ];
    case "reasoning":
      return [
        ...item.summary.flatMap((part, summary_index): UnnumberedResponsesStreamEvent[] => [
          { type: "response.reasoning_summary_part.added", ...at, summary_index, part: { type: "summary_text", text: "" } },
          ...(part.text !== "" ? [{ type: "response.reasoning_summary_text.delta" as const, ...at, summary_index, delta: part.text }] : []),
          { type: "response.reasoning_summary_text.done", ...at, summary_index, text: part.text },
          { type: "response.reasoning_summary_part.done", ...at, summary_index, part },
        ]),
        ...(item.content ?? []).flatMap((part, content_index): UnnumberedResponsesStreamEvent[] => [
          { type: "response.content_part.added", ...at, content_index, part: { type: "reasoning_text", text: "" } },
          ...(part.text !== "" ? [{ type: "response.reasoning_text.delta" as const, ...at, content_index, delta: part.text }] : []),
          { type: "response.reasoning_text.done", ...at, content_index, text: part.text },
          { type: "response.content_part.done", ...at, content_index, part },
        ]),
      ];
    default:
      return [];
  }
}

function messagePartEvents(part: ResponseOutputMessage["content"][number], at: { item_id: string; output_index: number; content_index: number }): UnnumberedResponsesStreamEvent[] {
  switch (part.type) {
    case "output_text":
      return [
        { type: "response.content_part.added", ...at, part: { ...part, text: "", annotations: [], ...(part.logprobs !== undefined ? { logprobs: [] } : {}) } },
        ...(part.text !== "" ? [{ type: "response.output_text.delta" as const, ...at, delta: part.text, logprobs: [] }] : []),
        ...part.annotations.map((annotation, annotation_index) => ({
          type: "response.output_text.annotation.added" as const,
          ...at,
          annotation_index,
          annotation,
        })),
        { type: "response.output_text.done", ...at, text: part.text, logprobs: [] },
        { type: "response.content_part.done", ...at, part },
      ];
    case "refusal":
      return [
        { type: "response.content_part.added", ...at, part: { type: "refusal", refusal: "" } },
        ...(part.refusal !== "" ? [{ type: "response.refusal.delta" as const, ...at, delta: part.refusal }] : []),
        { type: "response.refusal.done", ...at, refusal: part.refusal },
        { type: "response.content_part.done", ...at, part },
      ];
    default: {
      const unknown: never = part;
      throw new Error(`unknown message part ${JSON.stringify(unknown)}`);
    }
  }
}
