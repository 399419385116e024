import type { ThinkingBlock } from "@anthropic-ai/sdk/resources/messages";
import { createAnthropicAccumulator } from "../accumulate";
import type { AnthropicStreamEvent, ContentBlock, Message, RawContentBlockStopEvent, ToolUseBlock } from "../anthropic";
import { deltaFits, requireBeforeMessageDelta, type AnthropicStreamPhase } from "../anthropic-stream";
import { StreamProtocolError } from "../errors";
import { inProgressResponse, terminalEventType, type ResponsesRequest, type ResponsesStreamEvent, type UnnumberedResponsesStreamEvent } from "../openai-responses";
import {
  anthropicMessageToResponse,
  createOutputLayout,
  functionCallItem,
  messageItem,
  reasoningItem,
  responseStatus,
  textPart,
  type ClosedMessage,
  type OutputLayout,
} from "./anthropic-to-responses";
import { responsesItemIdFor } from "./mapping";

/** Options of {@link createAnthropicToResponsesStream}. */
export interface AnthropicToResponsesStreamOptions {
  /** The client's request (see {@link AnthropicMessageToResponseOptions.request}). */
  request: ResponsesRequest;
  /** `created_at`, in seconds since the epoch. @default the time of `message_start` */
  created?: number;
  /** `completed_at` of a completed response. @default the time of the terminal event */
  completedAt?: number;
}

/** Turns one Anthropic event stream into Responses events; one instance per stream. */
export interface AnthropicToResponsesStream {
  /**
   * Takes one upstream event and returns the events to send now.
   * @throws StreamProtocolError when the upstream breaks Anthropic's order: an event before `message_start` (but
   *   `ping`), a second `message_start` or one carrying content, a block starting while another is open or out of
   *   index order (0, 1, 2, ...), a delta or
   *   stop for a block that is not the open one, a delta of the wrong kind for its block, a block or `message_delta`
   *   after `message_delta` or while a block is open, anything after `message_stop`
   */
  push(event: AnthropicStreamEvent): ResponsesStreamEvent[];
  /**
   * At the clean end of the upstream stream: closes what is open (the open block, the message item) and sends the
   * terminal event if `message_stop` never came. Returns `[]` after it.
   * @throws StreamProtocolError when there was no `message_start`
   */
  end(): ResponsesStreamEvent[];
}

type Phase = AnthropicStreamPhase;

/** The Anthropic block being streamed, and what it became. */
type OpenBlock =
  | { kind: "text"; index: number; outputIndex: number; itemId: string; contentIndex: number }
  | { kind: "reasoning"; index: number; outputIndex: number; itemId: string; summaryOpen: boolean }
  | { kind: "function_call"; index: number; outputIndex: number; itemId: string }
  | { kind: "dropped"; index: number; blockType: string };

/**
 * Converts an Anthropic stream into a Responses stream that passes {@link createResponsesStreamValidator}, numbered
 * from 0. Items follow {@link createOutputLayout}, with the ids and contents of {@link anthropicMessageToResponse}:
 *
 * - `message_start` → `response.created` and `response.in_progress` (the response in progress, see
 *   {@link inProgressResponse});
 * - a text block → (for the first of a run) `output_item.added` (message, in progress), then `content_part.added`,
 *   `output_text.delta` per non-empty text delta, `output_text.done`, `content_part.done`; the message item's
 *   `output_item.done` follows when a thinking or tool_use block starts or the message ends;
 * - thinking → `output_item.added` (reasoning), `reasoning_summary_part.added` at the first non-empty thinking
 *   delta, `reasoning_summary_text.delta`…, `.done`, `reasoning_summary_part.done`, `output_item.done`;
 * - tool_use → `output_item.added` (function_call, `arguments: ""`, in progress), then at the block's stop one
 *   `function_call_arguments.delta` with the whole arguments, `.done`, `output_item.done`. Arguments go whole, not
 *   as Anthropic's fragments: the items carry `JSON.stringify(input)`, and fragments (which keep Anthropic's spacing)
 *   would not add up to it;
 * - `message_stop` → `response.completed` or `response.incomplete` whose `response` is
 *   {@link anthropicMessageToResponse} of the message the events amount to (accumulated as
 *   {@link createAnthropicAccumulator} does), so a streamed and a whole answer are the same response;
 * - dropped: redacted thinking and server tool blocks, citations, signatures (but see `encrypted_content` in
 *   {@link anthropicMessageToResponse}), `ping`.
 *
 * Anthropic's `error` event is not an event here: the gateway handles upstream errors.
 */
export function createAnthropicToResponsesStream(options: AnthropicToResponsesStreamOptions): AnthropicToResponsesStream {
  const { request } = options;
  const accumulator = createAnthropicAccumulator();
  let phase: Phase = "before_start";
  let sequence = 0;
  let created = options.created;
  let layout: OutputLayout | undefined;
  let open: OpenBlock | undefined;
  /** Texts of the open message item's parts, as each part is done. */
  let messageTexts: string[] = [];

  const message = (): Message => accumulator.result() as Message;
  const emitter =
    (out: ResponsesStreamEvent[]) =>
    (event: UnnumberedResponsesStreamEvent): void => {
      out.push({ ...event, sequence_number: sequence++ } as ResponsesStreamEvent);
    };

  const closeMessage = (closed: ClosedMessage, status: "completed" | "incomplete", emit: Emit): void => {
    emit({ type: "response.output_item.done", output_index: closed.outputIndex, item: messageItem(closed.itemId, messageTexts, status) });
    messageTexts = [];
  };

  /** What `message_delta` (or its absence at the end) closes: the open message item, with the stop reason's status. */
  const endBlocks = (emit: Emit): void => {
    if (open !== undefined) throw new StreamProtocolError(`the message ends while block ${open.index} is open`);
    const closed = layout?.openMessage();
    if (closed !== undefined) closeMessage(closed, responseStatus(message().stop_reason).status, emit);
    phase = "after_delta";
  };

  const finish = (emit: Emit): void => {
    const response = anthropicMessageToResponse(message(), { request, created, completedAt: options.completedAt });
    emit({ type: terminalEventType(response.status), response });
    phase = "stopped";
  };

  const startBlock = (index: number, block: ContentBlock, emit: Emit): OpenBlock => {
    const place = layout as OutputLayout;
    switch (block.type) {
      case "text": {
        const at = place.text();
        if (at.newItem) emit({ type: "response.output_item.added", output_index: at.outputIndex, item: messageItem(at.itemId, [], "in_progress") });
        const refs = { output_index: at.outputIndex, item_id: at.itemId, content_index: at.contentIndex };
        emit({ type: "response.content_part.added", ...refs, part: textPart("") });
        if (block.text !== "") emit({ type: "response.output_text.delta", ...refs, delta: block.text, logprobs: [] });
        return { kind: "text", index, outputIndex: at.outputIndex, itemId: at.itemId, contentIndex: at.contentIndex };
      }
      case "thinking": {
        const { outputIndex, closed } = place.item();
        if (closed !== undefined) closeMessage(closed, "completed", emit);
        const itemId = responsesItemIdFor("rs", message().id, outputIndex);
        emit({ type: "response.output_item.added", output_index: outputIndex, item: { id: itemId, type: "reasoning", summary: [] } });
        const state: OpenBlock = { kind: "reasoning", index, outputIndex, itemId, summaryOpen: false };
        summaryDelta(state, block.thinking, emit);
        return state;
      }
      case "tool_use": {
        const { outputIndex, closed } = place.item();
        if (closed !== undefined) closeMessage(closed, "completed", emit);
        const item = { ...functionCallItem(block), arguments: "", status: "in_progress" as const };
        emit({ type: "response.output_item.added", output_index: outputIndex, item });
        return { kind: "function_call", index, outputIndex, itemId: item.id };
      }
      default:
        return { kind: "dropped", index, blockType: block.type };
    }
  };

  const summaryDelta = (block: OpenBlock & { kind: "reasoning" }, delta: string, emit: Emit): void => {
    if (delta === "") return;
    const refs = { output_index: block.outputIndex, item_id: block.itemId, summary_index: 0 };
    if (!block.summaryOpen) {
      emit({ type: "response.reasoning_summary_part.added", ...refs, part: { type: "summary_text", text: "" } });
      block.summaryOpen = true;
    }
    emit({ type: "response.reasoning_summary_text.delta", ...refs, delta });
  };

  /** Closes the open block from what the accumulator made of it. */
  const stopBlock = (block: OpenBlock, emit: Emit): void => {
    const whole = message().content[block.index];
    switch (block.kind) {
      case "text": {
        const text = (whole as ContentBlock & { type: "text" }).text;
        const refs = { output_index: block.outputIndex, item_id: block.itemId, content_index: block.contentIndex };
        emit({ type: "response.output_text.done", ...refs, text, logprobs: [] });
        emit({ type: "response.content_part.done", ...refs, part: textPart(text) });
        messageTexts.push(text);
        return;
      }
      case "reasoning": {
        const thinking = whole as ThinkingBlock;
        if (block.summaryOpen) {
          const refs = { output_index: block.outputIndex, item_id: block.itemId, summary_index: 0 };
          emit({ type: "response.reasoning_summary_text.done", ...refs, text: thinking.thinking });
          emit({ type: "response.reasoning_summary_part.done", ...refs, part: { type: "summary_text", text: thinking.thinking } });
        }
        emit({ type: "response.output_item.done", output_index: block.outputIndex, item: reasoningItem(thinking, block.itemId, request) });
        return;
      }
      case "function_call": {
        const item = functionCallItem(whole as ToolUseBlock);
        const refs = { output_index: block.outputIndex, item_id: block.itemId };
        if (item.arguments !== "") emit({ type: "response.function_call_arguments.delta", ...refs, delta: item.arguments });
        emit({ type: "response.function_call_arguments.done", ...refs, arguments: item.arguments, name: item.name });
        emit({ type: "response.output_item.done", output_index: block.outputIndex, item });
        return;
      }
      case "dropped":
        return;
      default: {
        const unknown: never = block;
        throw new StreamProtocolError(`unknown block state ${JSON.stringify(unknown)}`);
      }
    }
  };

  const requireOpen = (type: string, index: number): OpenBlock => {
    if (open === undefined || open.index !== index) throw new StreamProtocolError(`${type} for block ${index}, which is not the open block`);
    return open;
  };

  const requireBlocksPhase = (type: string): void => requireBeforeMessageDelta(phase, type);

  return {
    push(event) {
      if (event.type === "ping") return [];
      if (phase === "stopped") throw new StreamProtocolError(`${event.type} after message_stop`);
      if (phase === "before_start" && event.type !== "message_start") throw new StreamProtocolError(`${event.type} before message_start`);
      const out: ResponsesStreamEvent[] = [];
      const emit = emitter(out);
      switch (event.type) {
        case "message_start": {
          if (phase !== "before_start") throw new StreamProtocolError("second message_start");
          if (event.message.content.length > 0) throw new StreamProtocolError("message_start carries content");
          accumulator.push(event);
          created ??= Math.floor(Date.now() / 1000);
          layout = createOutputLayout(event.message.id);
          const pending = inProgressResponse(anthropicMessageToResponse(event.message, { request, created }));
          emit({ type: "response.created", response: pending });
          emit({ type: "response.in_progress", response: pending });
          phase = "blocks";
          return out;
        }
        case "content_block_start":
          requireBlocksPhase(event.type);
          if (open !== undefined) throw new StreamProtocolError(`block ${event.index} started while block ${open.index} is open`);
          // The accumulator places blocks by index; a gap would leave a hole in the message's content.
          if (event.index !== message().content.length) throw new StreamProtocolError(`block index ${event.index}, expected ${message().content.length}`);
          accumulator.push(event);
          open = startBlock(event.index, event.content_block, emit);
          return out;
        case "content_block_delta": {
          requireBlocksPhase(event.type);
          const block = requireOpen(event.type, event.index);
          const blockType = message().content[event.index]?.type ?? "";
          if (!deltaFits(blockType, event.delta.type)) throw new StreamProtocolError(`${event.delta.type} in ${blockType} block ${event.index}`);
          accumulator.push(event);
          const { delta } = event;
          if (block.kind === "text" && delta.type === "text_delta" && delta.text !== "") {
            emit({ type: "response.output_text.delta", output_index: block.outputIndex, item_id: block.itemId, content_index: block.contentIndex, delta: delta.text, logprobs: [] });
          } else if (block.kind === "reasoning" && delta.type === "thinking_delta") {
            summaryDelta(block, delta.thinking, emit);
          }
          return out;
        }
        case "content_block_stop": {
          requireBlocksPhase(event.type);
          const block = requireOpen(event.type, event.index);
          accumulator.push(event);
          open = undefined;
          stopBlock(block, emit);
          return out;
        }
        case "message_delta":
          requireBlocksPhase(event.type);
          accumulator.push(event);
          endBlocks(emit);
          return out;
        case "message_stop":
          if (phase === "blocks") endBlocks(emit);
          accumulator.push(event);
          finish(emit);
          return out;
        default: {
          const unknown: never = event;
          throw new StreamProtocolError(`unknown event type ${(unknown as { type: string }).type}`);
        }
      }
    },

    end() {
      const out: ResponsesStreamEvent[] = [];
      const emit = emitter(out);
      switch (phase) {
        case "before_start":
          throw new StreamProtocolError("stream ended before message_start");
        case "stopped":
          return [];
        case "blocks":
          if (open !== undefined) {
            const stop: RawContentBlockStopEvent = { type: "content_block_stop", index: open.index };
            accumulator.push(stop);
            const block = open;
            open = undefined;
            stopBlock(block, emit);
          }
          endBlocks(emit);
          finish(emit);
          return out;
        case "after_delta":
          finish(emit);
          return out;
        default: {
          const unknown: never = phase;
          throw new StreamProtocolError(`unknown phase ${String(unknown)}`);
        }
      }
    },
  };
}

type Emit = (event: UnnumberedResponsesStreamEvent) => void;
