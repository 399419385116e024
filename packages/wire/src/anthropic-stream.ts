import type { AnthropicStreamEvent, RawContentBlockDelta, RawContentBlockDeltaEvent, RawContentBlockStartEvent, RawMessageDeltaEvent, StopReason } from "./anthropic";
import { StreamProtocolError } from "./errors";

// The rules below are the ones Claude Code and the official SDKs depend on; breaking them earns a 400 on every later
// turn of a session (text after tool_use, a block after message_delta) or silently misplaced content (the SDK's
// accumulator finds a block by its index in the content array, so indices must be 0, 1, 2, ... in order).

/**
 * Rebuilds a policy-emitted Anthropic stream so that what reaches the client is valid by construction.
 *
 * Output guarantees: exactly one `message_start`, first; block indices 0, 1, 2, ... in output order whatever the
 * input indices were; every block is start → deltas → stop, one block at a time; `tool_use` blocks trail (they are
 * held and released, renumbered, just before `message_delta`, so a text or thinking block that a policy emits after a
 * tool call goes out before it); all blocks close before the single `message_delta`; `message_stop` last; `ping`
 * passes through between `message_start` and `message_stop`.
 *
 * `stop_reason`: `tool_use` with no tool_use block released becomes `end_turn` (a policy removed every tool call);
 * a missing one (null) becomes `tool_use` or `end_turn`; every other reason (`end_turn`, `max_tokens`,
 * `stop_sequence`, `refusal`, `pause_turn`, ...) is never overwritten.
 *
 * `server_tool_use` blocks are not held: Anthropic runs those tools itself, their result block follows at once and
 * text may continue after it, so moving the call to the end would put the result before its call.
 */
export interface AnthropicStreamBuilder {
  /**
   * Takes one event (as policies emitted it, with the upstream's indices) and returns the events to send now.
   * A stop that closes nothing (a block whose start a policy dropped, or one already closed) is dropped, and a
   * missing stop is supplied when the next block starts or the message ends. A start that reuses an earlier index
   * begins a new block; later deltas with that index go to it.
   *
   * @throws StreamProtocolError for what cannot be repaired: any event before `message_start` (pings are dropped),
   *   a second `message_start`, a `message_start` carrying content, a delta for a block that never started or has
   *   stopped, a delta of the wrong kind for its block, a block or a second `message_delta` after `message_delta`,
   *   anything after `message_stop`
   */
  push(event: AnthropicStreamEvent): AnthropicStreamEvent[];
  /**
   * Call at the clean end of the stream: returns whatever is still needed for a complete stream — the open block's
   * stop, the held tool_use blocks, a `message_delta` if none came (stop reason `tool_use` if tool calls were
   * released, else `end_turn`; usage `{output_tokens: 0}`), `message_stop`. Returns `[]` after `message_stop`.
   *
   * @throws StreamProtocolError when no `message_start` was pushed (there is no message to complete)
   */
  end(): AnthropicStreamEvent[];
}

/** Checks a stream against the rules {@link AnthropicStreamBuilder} guarantees; used by tests and to count violations. */
export interface AnthropicStreamValidator {
  /** @throws StreamProtocolError when `event` may not follow the events checked so far */
  check(event: AnthropicStreamEvent): void;
  /** @throws StreamProtocolError unless the events checked so far form a complete stream (ending in `message_stop`) */
  end(): void;
}

/** Where an Anthropic stream is: before `message_start`, among blocks, after `message_delta`, after `message_stop`. */
export type AnthropicStreamPhase = "before_start" | "blocks" | "after_delta" | "stopped";
type Phase = AnthropicStreamPhase;

/**
 * Blocks and `message_delta` may come only before `message_delta`. Shared with the stream converters.
 * @throws StreamProtocolError after `message_delta`
 */
export function requireBeforeMessageDelta(phase: AnthropicStreamPhase, type: string): void {
  if (phase === "after_delta") {
    throw new StreamProtocolError(type === "message_delta" ? "second message_delta" : `${type} after message_delta`);
  }
}

/** A tool_use block held back until the message ends. */
interface HeldToolUse {
  start: RawContentBlockStartEvent;
  deltas: RawContentBlockDeltaEvent[];
}

/** Where an input block goes: straight out under a new index, or into the held tool_use blocks. */
type Route = { kind: "direct"; blockType: string; outIndex: number; closed: boolean } | { kind: "held"; blockType: string; tool: HeldToolUse; closed: boolean };

/** Creates an {@link AnthropicStreamBuilder} for one stream. */
export function createAnthropicStreamBuilder(): AnthropicStreamBuilder {
  let phase: Phase = "before_start";
  let nextIndex = 0;
  let released = 0;
  const routes = new Map<number, Route>();
  const held: HeldToolUse[] = [];
  // Blocks are sequential: at most one input block is open, and starting another closes it.
  let open: Route | undefined;

  const closeOpen = (out: AnthropicStreamEvent[]): void => {
    if (open === undefined) return;
    open.closed = true;
    if (open.kind === "direct") out.push({ type: "content_block_stop", index: open.outIndex });
    open = undefined;
  };

  const endMessage = (event: RawMessageDeltaEvent, out: AnthropicStreamEvent[]): void => {
    closeOpen(out);
    for (const tool of held) {
      const index = nextIndex++;
      out.push({ ...tool.start, index });
      for (const delta of tool.deltas) out.push({ ...delta, index });
      out.push({ type: "content_block_stop", index });
      released++;
    }
    held.length = 0;
    const stopReason = settleStopReason(event.delta.stop_reason, released > 0);
    out.push({ ...event, delta: { ...event.delta, stop_reason: stopReason } });
    phase = "after_delta";
  };

  const requireBlocksPhase = (type: string): void => requireBeforeMessageDelta(phase, type);

  return {
    push(event) {
      if (phase === "stopped") throw new StreamProtocolError(`${event.type} after message_stop`);
      if (phase === "before_start" && event.type !== "message_start") {
        if (event.type === "ping") return [];
        throw new StreamProtocolError(`${event.type} before message_start`);
      }
      const out: AnthropicStreamEvent[] = [];
      switch (event.type) {
        case "ping":
          return [event];
        case "message_start":
          if (phase !== "before_start") throw new StreamProtocolError("second message_start");
          if (event.message.content.length > 0) throw new StreamProtocolError("message_start carries content");
          phase = "blocks";
          return [event];
        case "content_block_start": {
          requireBlocksPhase(event.type);
          closeOpen(out);
          const blockType = event.content_block.type;
          if (blockType === "tool_use") {
            const tool: HeldToolUse = { start: event, deltas: [] };
            held.push(tool);
            open = { kind: "held", blockType, tool, closed: false };
          } else {
            open = { kind: "direct", blockType, outIndex: nextIndex++, closed: false };
            out.push({ ...event, index: open.outIndex });
          }
          routes.set(event.index, open);
          return out;
        }
        case "content_block_delta": {
          requireBlocksPhase(event.type);
          const route = routes.get(event.index);
          if (route === undefined) throw new StreamProtocolError(`delta for block ${event.index}, which never started`);
          if (route.closed) throw new StreamProtocolError(`delta for block ${event.index} after its stop`);
          if (!deltaFits(route.blockType, event.delta.type)) {
            throw new StreamProtocolError(`${event.delta.type} in ${route.blockType} block ${event.index}`);
          }
          if (route.kind === "held") route.tool.deltas.push(event);
          else out.push({ ...event, index: route.outIndex });
          return out;
        }
        case "content_block_stop":
          requireBlocksPhase(event.type);
          // Only the open block can still be closed; a stop for anything else has nothing left to close.
          if (open !== undefined && routes.get(event.index) === open) closeOpen(out);
          return out;
        case "message_delta":
          requireBlocksPhase(event.type);
          endMessage(event, out);
          return out;
        case "message_stop":
          if (phase === "blocks") endMessage(syntheticMessageDelta(), out);
          out.push(event);
          phase = "stopped";
          return out;
        default: {
          const unknown: never = event;
          throw new StreamProtocolError(`unknown event type ${(unknown as { type: string }).type}`);
        }
      }
    },

    end() {
      switch (phase) {
        case "before_start":
          throw new StreamProtocolError("stream ended before message_start");
        case "stopped":
          return [];
        case "blocks":
        case "after_delta": {
          const out: AnthropicStreamEvent[] = [];
          if (phase === "blocks") endMessage(syntheticMessageDelta(), out);
          out.push({ type: "message_stop" });
          phase = "stopped";
          return out;
        }
        default: {
          const unknown: never = phase;
          throw new StreamProtocolError(`unknown phase ${String(unknown)}`);
        }
      }
    },
  };
}

/** Creates an {@link AnthropicStreamValidator} for one stream. */
export function createAnthropicStreamValidator(): AnthropicStreamValidator {
  let phase: Phase = "before_start";
  let nextIndex = 0;
  let toolUses = 0;
  let open: { index: number; blockType: string } | undefined;

  const requireOpen = (type: string, index: number): { index: number; blockType: string } => {
    if (open === undefined || open.index !== index) {
      throw new StreamProtocolError(`${type} for block ${index}, which is not the open block`);
    }
    return open;
  };

  return {
    check(event) {
      if (phase === "stopped") throw new StreamProtocolError(`${event.type} after message_stop`);
      if (phase === "before_start" && event.type !== "message_start") {
        throw new StreamProtocolError(`${event.type} before message_start`);
      }
      if (phase === "after_delta" && event.type !== "message_stop" && event.type !== "ping") {
        throw new StreamProtocolError(`${event.type} after message_delta`);
      }
      switch (event.type) {
        case "ping":
          return;
        case "message_start":
          if (phase !== "before_start") throw new StreamProtocolError("second message_start");
          if (event.message.content.length > 0) throw new StreamProtocolError("message_start carries content");
          phase = "blocks";
          return;
        case "content_block_start": {
          if (open !== undefined) throw new StreamProtocolError(`block ${event.index} started while block ${open.index} is open`);
          if (event.index !== nextIndex) throw new StreamProtocolError(`block index ${event.index}, expected ${nextIndex}`);
          const blockType = event.content_block.type;
          if (toolUses > 0 && blockType !== "tool_use") {
            throw new StreamProtocolError(`${blockType} block ${event.index} after a tool_use block: tool_use blocks must trail`);
          }
          if (blockType === "tool_use") toolUses++;
          open = { index: event.index, blockType };
          nextIndex++;
          return;
        }
        case "content_block_delta": {
          const block = requireOpen(event.type, event.index);
          if (!deltaFits(block.blockType, event.delta.type)) {
            throw new StreamProtocolError(`${event.delta.type} in ${block.blockType} block ${event.index}`);
          }
          return;
        }
        case "content_block_stop":
          requireOpen(event.type, event.index);
          open = undefined;
          return;
        case "message_delta":
          if (open !== undefined) throw new StreamProtocolError(`message_delta while block ${open.index} is open`);
          if (event.delta.stop_reason === null) throw new StreamProtocolError("message_delta without stop_reason");
          if (event.delta.stop_reason === "tool_use" && toolUses === 0) {
            throw new StreamProtocolError("stop_reason tool_use without a tool_use block");
          }
          phase = "after_delta";
          return;
        case "message_stop":
          if (phase !== "after_delta") throw new StreamProtocolError("message_stop without message_delta");
          phase = "stopped";
          return;
        default: {
          const unknown: never = event;
          throw new StreamProtocolError(`unknown event type ${(unknown as { type: string }).type}`);
        }
      }
    },

    end() {
      if (phase !== "stopped") throw new StreamProtocolError(`stream ended in phase ${phase}, before message_stop`);
    },
  };
}

/** Whether a delta of this kind may extend a block of this type. Shared with the stream converters. */
export function deltaFits(blockType: string, deltaType: RawContentBlockDelta["type"]): boolean {
  switch (deltaType) {
    case "text_delta":
    case "citations_delta":
      return blockType === "text";
    case "thinking_delta":
    case "signature_delta":
      return blockType === "thinking";
    case "input_json_delta":
      return blockType === "tool_use" || blockType === "server_tool_use";
    default: {
      const unknown: never = deltaType;
      throw new StreamProtocolError(`unknown delta type ${String(unknown)}`);
    }
  }
}

/** Never lie about tool calls, never hide why the model stopped: see {@link AnthropicStreamBuilder}. */
function settleStopReason(reason: StopReason | null, toolUseReleased: boolean): StopReason {
  if (reason === null) return toolUseReleased ? "tool_use" : "end_turn";
  if (reason === "tool_use" && !toolUseReleased) return "end_turn";
  return reason;
}

function syntheticMessageDelta(): RawMessageDeltaEvent {
  return {
    type: "message_delta",
    delta: { stop_reason: null, stop_sequence: null, stop_details: null, container: null },
    usage: {
      output_tokens: 0,
      input_tokens: null,
      cache_creation_input_tokens: null,
      cache_read_input_tokens: null,
      output_tokens_details: null,
      server_tool_use: null,
    },
  };
}
