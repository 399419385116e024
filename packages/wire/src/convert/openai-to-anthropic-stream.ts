import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { CompletionUsage } from "openai/resources/completions";
import { emptyUsage, type AnthropicStreamEvent } from "../anthropic";
import { StreamProtocolError } from "../errors";
import { anthropicIdFor, stopReasonFromFinishReason, usageFromOpenAI, type FinishReason } from "./mapping";

/** Options of {@link createOpenAIToAnthropicStream}. */
export interface OpenAIToAnthropicStreamOptions {
  /** The `model` the Anthropic client sees (the one it asked for). */
  model: string;
  /** The message id. @default `msg_` + the first chunk's id */
  messageId?: string;
}

/** Turns one OpenAI chunk stream into Anthropic events; one instance per stream. */
export interface OpenAIToAnthropicStream {
  /**
   * Takes one upstream chunk and returns the events to send now.
   * @throws StreamProtocolError when a tool call reaches its finish without a name
   */
  push(chunk: ChatCompletionChunk): AnthropicStreamEvent[];
  /**
   * At the clean end of the upstream stream (after `[DONE]`): closes what is open, emits the tool calls not yet
   * emitted, `message_delta` (the stop reason — `end_turn` if no finish_reason ever came, `tool_use` if tool calls
   * went out — and the usage known by now) and `message_stop`. Returns `[]` when called again.
   * @throws StreamProtocolError when no chunk came at all (there is no message to complete), or a tool call has no name
   */
  end(): AnthropicStreamEvent[];
}

/** One OpenAI tool call, gathered from its deltas. */
interface ToolCall {
  id: string | undefined;
  name: string | undefined;
  fragments: string[];
}

/**
 * Converts an OpenAI chunk stream (choice 0) into a valid Anthropic stream: the first chunk → `message_start` (id,
 * the client's model, usage 0 until known); content and refusal deltas → one text block, started lazily and streamed
 * as it comes; each tool-call `index` → its own `tool_use` block (start with id and name, `input: {}`, then its
 * argument fragments as `input_json_delta`); `finish_reason` → the text block closes, the tool blocks go out, the
 * stop reason is kept; a usage chunk (`include_usage`) → the usage of `message_delta`.
 *
 * Tool-call blocks go out whole, in tool-call index order, at the finish (or at `end()`), never while the model is
 * still writing. Anthropic blocks cannot interleave, but OpenAI's parallel tool-call deltas can, and a name or id may
 * arrive after the first fragments; tool_use blocks must also trail every text block, and OpenAI may send text after
 * a tool call. The gateway's stream builder holds tool_use blocks until `message_delta` anyway, so a client sees
 * them no later than it would otherwise.
 *
 * Ignored: choices other than 0, deltas after the finish_reason (only usage is taken then), logprobs. A tool call
 * without an id gets `toolu_<message id>_<index>`.
 */
export function createOpenAIToAnthropicStream(options: OpenAIToAnthropicStreamOptions): OpenAIToAnthropicStream {
  let messageId: string | undefined;
  let nextIndex = 0;
  let textIndex: number | undefined;
  const toolCalls = new Map<number, ToolCall>();
  let toolUseBlocks = 0;
  let finishReason: FinishReason | null = null;
  let blocksDone = false;
  let ended = false;
  let usage: CompletionUsage | undefined;

  const text = (t: string | null | undefined, out: AnthropicStreamEvent[]): void => {
    if (t === null || t === undefined || t === "") return;
    if (textIndex === undefined) {
      textIndex = nextIndex++;
      out.push({ type: "content_block_start", index: textIndex, content_block: { type: "text", text: "", citations: null } });
    }
    out.push({ type: "content_block_delta", index: textIndex, delta: { type: "text_delta", text: t } });
  };

  /** Closes the text block and emits every tool call: nothing may follow them but message_delta. */
  const finishBlocks = (out: AnthropicStreamEvent[]): void => {
    if (blocksDone) return;
    blocksDone = true;
    if (textIndex !== undefined) out.push({ type: "content_block_stop", index: textIndex });
    for (const [callIndex, call] of [...toolCalls].sort(([a], [b]) => a - b)) {
      if (call.name === undefined) throw new StreamProtocolError(`tool call ${callIndex} ended without a name`);
      const index = nextIndex++;
      const id = call.id ?? `toolu_${(messageId ?? "").replace(/[^A-Za-z0-9_-]/g, "_")}_${callIndex}`;
      out.push({
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id, name: call.name, input: {}, caller: { type: "direct" } },
      });
      for (const partial_json of call.fragments) {
        out.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json } });
      }
      out.push({ type: "content_block_stop", index });
      toolUseBlocks++;
    }
  };

  return {
    push(chunk) {
      const out: AnthropicStreamEvent[] = [];
      if (messageId === undefined) {
        messageId = options.messageId ?? anthropicIdFor(chunk.id);
        out.push({
          type: "message_start",
          message: {
            id: messageId,
            type: "message",
            role: "assistant",
            model: options.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            stop_details: null,
            container: null,
            diagnostics: null,
            usage: emptyUsage(),
          },
        });
      }
      if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
      const choice = chunk.choices.find((c) => c.index === 0);
      if (choice === undefined || blocksDone) return out;
      const { delta } = choice;
      text(delta.content, out);
      text(delta.refusal, out);
      for (const call of delta.tool_calls ?? []) {
        let state = toolCalls.get(call.index);
        if (state === undefined) {
          state = { id: undefined, name: undefined, fragments: [] };
          toolCalls.set(call.index, state);
        }
        if (call.id !== undefined && call.id !== "") state.id ??= call.id;
        if (call.function?.name !== undefined && call.function.name !== "") state.name ??= call.function.name;
        const fragment = call.function?.arguments;
        if (fragment !== undefined && fragment !== "") state.fragments.push(fragment);
      }
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        finishReason = choice.finish_reason;
        finishBlocks(out);
      }
      return out;
    },

    end() {
      if (messageId === undefined) throw new StreamProtocolError("stream ended before any chunk");
      if (ended) return [];
      ended = true;
      const out: AnthropicStreamEvent[] = [];
      finishBlocks(out);
      const counts = usage !== undefined ? usageFromOpenAI(usage) : undefined;
      out.push(
        {
          type: "message_delta",
          delta: {
            stop_reason: stopReasonFromFinishReason(finishReason, toolUseBlocks > 0),
            stop_sequence: null,
            stop_details: null,
            container: null,
          },
          usage: {
            output_tokens: counts?.output_tokens ?? 0,
            input_tokens: counts?.input_tokens ?? null,
            cache_read_input_tokens: counts?.cache_read_input_tokens ?? null,
            cache_creation_input_tokens: counts?.cache_creation_input_tokens ?? null,
            output_tokens_details: counts?.output_tokens_details ?? null,
            server_tool_use: null,
          },
        },
        { type: "message_stop" },
      );
      return out;
    },
  };
}
