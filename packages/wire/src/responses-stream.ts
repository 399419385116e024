import { StreamProtocolError } from "./errors";
import type { ResponsesStreamEvent } from "./openai-responses";

// The rules below are the ones the official SDK's accumulator and agents built on the Responses API depend on: the
// SDK takes `response.created` as its snapshot and appends each added item to `output`, then finds items by
// `output_index` and parts by `content_index`; agents key items by `item_id` and act on `*.done` events, so a second
// done or a delta after it repeats or corrupts what they already used.

/** Checks a Responses stream against the rules clients rely on; used by the stream builder, by tests, and to count violations. */
export interface ResponsesStreamValidator {
  /**
   * @throws StreamProtocolError when `event` may not follow the events checked so far:
   *   - the first event is not `response.created`, or a second one comes, or it carries output;
   *   - `sequence_number` is missing or not greater than the one before;
   *   - a lifecycle event (`response.queued`, `response.in_progress`, terminal) names another response id;
   *     `response.queued` or `response.in_progress` after the first item or carrying output (the SDK takes their
   *     response as its snapshot, and would lose the items);
   *   - `response.output_item.added` out of order (output indices 0, 1, 2, ...), without an item id, or with an id
   *     already used;
   *   - an event naming an `output_index` / `item_id` of an item that was not added or is done, or whose output index
   *     and item id disagree; a part event for a `content_index` / `summary_index` that was not added or is done;
   *     part indices out of order (0, 1, 2, ... per item); a text delta into a part of another kind (output text into
   *     a refusal); an item-level delta of another item kind (function-call arguments into a message);
   *   - a second `*.done` for an item, part or text, or a delta after it; an item done before its parts, or done as
   *     another kind;
   *   - `response.completed` / `response.incomplete` while an item is still open (`response.failed` may cut items
   *     short);
   *   - anything after a terminal event (`response.completed`, `response.incomplete`, `response.failed`, `error`).
   *   Event types this package does not know pass when they name no item (a `keepalive`), and are checked like the
   *   rest when they carry an `output_index`, `item_id` or `content_index`.
   */
  check(event: ResponsesStreamEvent): void;
  /** @throws StreamProtocolError unless a terminal event was checked: a stream that ends without one is broken */
  end(): void;
}

/** One content or reasoning-summary part of an item. */
interface PartState {
  type: string;
  done: boolean;
  /** Its `output_text.done` / `refusal.done` / `reasoning_*_text.done` came. */
  textDone: boolean;
}

interface ItemState {
  id: string;
  type: string;
  outputIndex: number;
  done: boolean;
  parts: PartState[];
  summaries: PartState[];
  /** Item-level streams whose `.done` came (`function_call_arguments`, `custom_tool_call_input`, ...). */
  finishedStreams: Set<string>;
}

/** Where an event points; the fields an event type this package does not know may carry. */
interface EventRefs {
  type: string;
  output_index?: unknown;
  item_id?: unknown;
  content_index?: unknown;
}

/** Creates a {@link ResponsesStreamValidator} for one stream. */
export function createResponsesStreamValidator(): ResponsesStreamValidator {
  let responseId: string | undefined;
  let lastSequence: number | undefined;
  let terminal: string | undefined;
  const items: ItemState[] = [];
  const itemsById = new Map<string, ItemState>();

  const openItem = (type: string, outputIndex: unknown, itemId: unknown): ItemState => {
    const item = typeof outputIndex === "number" ? items[outputIndex] : typeof itemId === "string" ? itemsById.get(itemId) : undefined;
    const where = typeof outputIndex === "number" ? `output_index ${outputIndex}` : `item ${String(itemId)}`;
    if (item === undefined) throw new StreamProtocolError(`${type} for ${where}, which was never added`);
    if (itemId !== undefined && itemId !== item.id) {
      throw new StreamProtocolError(`${type}: item_id ${String(itemId)} is not the item at output_index ${item.outputIndex} (${item.id})`);
    }
    if (item.done) throw new StreamProtocolError(`${type} for item ${item.id} after its output_item.done`);
    return item;
  };

  const openPart = (type: string, item: ItemState, kind: "content" | "summary", index: unknown, partType?: string): PartState => {
    const part = typeof index === "number" ? (kind === "content" ? item.parts : item.summaries)[index] : undefined;
    const where = `${kind === "content" ? "content_index" : "summary_index"} ${String(index)} of item ${item.id}`;
    if (part === undefined) throw new StreamProtocolError(`${type} for ${where}, which was never added`);
    if (part.done) throw new StreamProtocolError(`${type} for ${where} after its part was done`);
    if (partType !== undefined && part.type !== partType) throw new StreamProtocolError(`${type} for ${where}, a ${part.type} part`);
    return part;
  };

  /** A text delta (`done` false) or the text's done event (`done` true) for one part. */
  const partText = (type: string, part: PartState, where: string, done: boolean): void => {
    if (part.textDone) throw new StreamProtocolError(`${type} for ${where} after its text was done`);
    if (done) part.textDone = true;
  };

  const addPart = (type: string, item: ItemState, kind: "content" | "summary", index: number, partType: string): void => {
    const parts = kind === "content" ? item.parts : item.summaries;
    if (index !== parts.length) throw new StreamProtocolError(`${type} with index ${index} for item ${item.id}, expected ${parts.length}`);
    parts.push({ type: partType, done: false, textDone: false });
  };

  /** An item-level delta (`done` false) or done event of `stream`, which only `itemType` items have. */
  const itemStream = (type: string, event: { output_index: number; item_id: string }, itemType: string, stream: string, done: boolean): void => {
    const item = openItem(type, event.output_index, event.item_id);
    if (item.type !== itemType) throw new StreamProtocolError(`${type} for item ${item.id}, a ${item.type} item`);
    if (item.finishedStreams.has(stream)) throw new StreamProtocolError(`${type} for item ${item.id} after ${stream}.done`);
    if (done) item.finishedStreams.add(stream);
  };

  const sameResponse = (type: string, id: string): void => {
    if (id !== responseId) throw new StreamProtocolError(`${type} for response ${id}, but the stream is response ${String(responseId)}`);
  };

  const requireItemsDone = (type: string): void => {
    const open = items.find((item) => !item.done);
    if (open !== undefined) throw new StreamProtocolError(`${type} while item ${open.id} (output_index ${open.outputIndex}) is open`);
  };

  return {
    check(event) {
      if (terminal !== undefined) throw new StreamProtocolError(`${event.type} after ${terminal}`);
      const sequence: unknown = event.sequence_number;
      if (typeof sequence !== "number" || !Number.isInteger(sequence)) throw new StreamProtocolError(`${event.type} without a sequence_number`);
      if (lastSequence !== undefined && sequence <= lastSequence) {
        throw new StreamProtocolError(`${event.type} has sequence_number ${sequence}, not after ${lastSequence}`);
      }
      lastSequence = sequence;
      if (responseId === undefined && event.type !== "response.created") throw new StreamProtocolError(`${event.type} before response.created`);

      switch (event.type) {
        case "response.created":
          if (responseId !== undefined) throw new StreamProtocolError("second response.created");
          if (event.response.output.length > 0) throw new StreamProtocolError("response.created carries output");
          responseId = event.response.id;
          return;
        case "response.queued":
        case "response.in_progress":
          sameResponse(event.type, event.response.id);
          // The SDK replaces its snapshot with the response of every lifecycle event: after an item, this one would
          // wipe the items streamed so far.
          if (items.length > 0) throw new StreamProtocolError(`${event.type} after output_item.added`);
          if (event.response.output.length > 0) throw new StreamProtocolError(`${event.type} carries output`);
          return;
        case "response.completed":
        case "response.incomplete":
          sameResponse(event.type, event.response.id);
          requireItemsDone(event.type);
          terminal = event.type;
          return;
        case "response.failed":
          sameResponse(event.type, event.response.id);
          terminal = event.type;
          return;
        case "error":
          terminal = event.type;
          return;

        case "response.output_item.added": {
          const { item, output_index } = event;
          if (output_index !== items.length) throw new StreamProtocolError(`output_item.added with output_index ${output_index}, expected ${items.length}`);
          if (typeof item.id !== "string" || item.id === "") throw new StreamProtocolError(`output_item.added at output_index ${output_index} has no item id`);
          if (itemsById.has(item.id)) throw new StreamProtocolError(`output_item.added reuses item id ${item.id}`);
          const state: ItemState = { id: item.id, type: item.type, outputIndex: output_index, done: false, parts: [], summaries: [], finishedStreams: new Set() };
          items.push(state);
          itemsById.set(item.id, state);
          return;
        }
        case "response.output_item.done": {
          const item = openItem(event.type, event.output_index, event.item.id);
          if (event.item.type !== item.type) throw new StreamProtocolError(`output_item.done for ${item.type} item ${item.id} carries a ${event.item.type}`);
          const open = [...item.parts, ...item.summaries].some((part) => !part.done);
          if (open) throw new StreamProtocolError(`output_item.done for item ${item.id} while one of its parts is open`);
          item.done = true;
          return;
        }

        case "response.content_part.added":
          addPart(event.type, openItem(event.type, event.output_index, event.item_id), "content", event.content_index, event.part.type);
          return;
        case "response.content_part.done":
          openPart(event.type, openItem(event.type, event.output_index, event.item_id), "content", event.content_index).done = true;
          return;
        case "response.output_text.delta":
        case "response.output_text.done":
        case "response.refusal.delta":
        case "response.refusal.done":
        case "response.reasoning_text.delta":
        case "response.reasoning_text.done": {
          const item = openItem(event.type, event.output_index, event.item_id);
          const part = openPart(event.type, item, "content", event.content_index, TEXT_PART_TYPE[event.type]);
          partText(event.type, part, `content_index ${event.content_index} of item ${item.id}`, event.type.endsWith(".done"));
          return;
        }
        case "response.output_text.annotation.added":
          openPart(event.type, openItem(event.type, event.output_index, event.item_id), "content", event.content_index, "output_text");
          return;

        case "response.reasoning_summary_part.added":
          addPart(event.type, openItem(event.type, event.output_index, event.item_id), "summary", event.summary_index, event.part.type);
          return;
        case "response.reasoning_summary_part.done":
          openPart(event.type, openItem(event.type, event.output_index, event.item_id), "summary", event.summary_index).done = true;
          return;
        case "response.reasoning_summary_text.delta":
        case "response.reasoning_summary_text.done": {
          const item = openItem(event.type, event.output_index, event.item_id);
          const part = openPart(event.type, item, "summary", event.summary_index);
          partText(event.type, part, `summary_index ${event.summary_index} of item ${item.id}`, event.type.endsWith(".done"));
          return;
        }

        case "response.function_call_arguments.delta":
        case "response.function_call_arguments.done":
          itemStream(event.type, event, "function_call", "function_call_arguments", event.type.endsWith(".done"));
          return;
        case "response.custom_tool_call_input.delta":
        case "response.custom_tool_call_input.done":
          itemStream(event.type, event, "custom_tool_call", "custom_tool_call_input", event.type.endsWith(".done"));
          return;
        case "response.mcp_call_arguments.delta":
        case "response.mcp_call_arguments.done":
          itemStream(event.type, event, "mcp_call", "mcp_call_arguments", event.type.endsWith(".done"));
          return;
        case "response.code_interpreter_call_code.delta":
        case "response.code_interpreter_call_code.done":
          itemStream(event.type, event, "code_interpreter_call", "code_interpreter_call_code", event.type.endsWith(".done"));
          return;

        // Progress of built-in tool calls: they name an item, which must be open.
        case "response.code_interpreter_call.completed":
        case "response.code_interpreter_call.in_progress":
        case "response.code_interpreter_call.interpreting":
        case "response.file_search_call.completed":
        case "response.file_search_call.in_progress":
        case "response.file_search_call.searching":
        case "response.web_search_call.completed":
        case "response.web_search_call.in_progress":
        case "response.web_search_call.searching":
        case "response.image_generation_call.completed":
        case "response.image_generation_call.generating":
        case "response.image_generation_call.in_progress":
        case "response.image_generation_call.partial_image":
        case "response.mcp_call.completed":
        case "response.mcp_call.failed":
        case "response.mcp_call.in_progress":
        case "response.mcp_list_tools.completed":
        case "response.mcp_list_tools.failed":
        case "response.mcp_list_tools.in_progress":
          openItem(event.type, event.output_index, event.item_id);
          return;

        // Audio belongs to the response, not to an item.
        case "response.audio.delta":
        case "response.audio.done":
        case "response.audio.transcript.delta":
        case "response.audio.transcript.done":
          return;

        default: {
          const unknown: never = event;
          const refs = unknown as EventRefs;
          if (refs.output_index === undefined && refs.item_id === undefined) return;
          const item = openItem(refs.type, refs.output_index, refs.item_id);
          if (refs.content_index !== undefined) openPart(refs.type, item, "content", refs.content_index);
        }
      }
    },

    end() {
      if (responseId === undefined) throw new StreamProtocolError("stream ended before response.created");
      if (terminal === undefined) throw new StreamProtocolError("stream ended without response.completed, response.incomplete, response.failed or error");
    },
  };
}

/** The part kind each text event extends. */
const TEXT_PART_TYPE = {
  "response.output_text.delta": "output_text",
  "response.output_text.done": "output_text",
  "response.refusal.delta": "refusal",
  "response.refusal.done": "refusal",
  "response.reasoning_text.delta": "reasoning_text",
  "response.reasoning_text.done": "reasoning_text",
} as const;

/** The gateway's stream stage for a Responses stream that policies decide event by event (FULL mode). */
export interface ResponsesStreamBuilder {
  /**
   * Takes one event as policies emitted it and returns the events to send now (that event, fixed up):
   *
   * - `sequence_number` is renumbered consecutively from the first event's number (0 if it has none): policies that
   *   drop, add or replace events cannot keep the numbers straight;
   * - `output_index` is renumbered by item: each `output_item.added` gets the next index, and every later event
   *   naming that item (by `item_id`, or `item.id` for `output_item.done`) gets the same one, so a policy may drop a
   *   whole item, or add one, without renumbering what follows. An event naming an unknown item keeps its index (and
   *   fails the check).
   *
   * The terminal event's `response` goes out as the policies emitted it.
   *
   * @throws StreamProtocolError when the event, so fixed, still breaks a rule of {@link ResponsesStreamValidator}
   */
  push(event: ResponsesStreamEvent): ResponsesStreamEvent[];
  /**
   * At the clean end of the stream. Returns `[]`: the builder cannot invent how a response ended.
   * @throws StreamProtocolError when no terminal event went out
   */
  end(): ResponsesStreamEvent[];
}

/** Creates a {@link ResponsesStreamBuilder} for one stream. */
export function createResponsesStreamBuilder(): ResponsesStreamBuilder {
  const validator = createResponsesStreamValidator();
  let nextSequence: number | undefined;
  let nextOutputIndex = 0;
  const outputIndexById = new Map<string, number>();

  const outputIndexFor = (event: ResponsesStreamEvent): number | undefined => {
    if (event.type === "response.output_item.added") {
      const id = event.item.id;
      if (typeof id !== "string" || outputIndexById.has(id)) return undefined;
      outputIndexById.set(id, nextOutputIndex);
      return nextOutputIndex++;
    }
    if (event.type === "response.output_item.done") return typeof event.item.id === "string" ? outputIndexById.get(event.item.id) : undefined;
    const itemId = (event as EventRefs).item_id;
    return typeof itemId === "string" ? outputIndexById.get(itemId) : undefined;
  };

  return {
    push(event) {
      nextSequence ??= typeof event.sequence_number === "number" ? event.sequence_number : 0;
      const outputIndex = "output_index" in event ? outputIndexFor(event) : undefined;
      const out = { ...event, sequence_number: nextSequence, ...(outputIndex !== undefined ? { output_index: outputIndex } : {}) } as ResponsesStreamEvent;
      validator.check(out);
      nextSequence++;
      return [out];
    },
    end() {
      validator.end();
      return [];
    },
  };
}
