import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { AnthropicStreamEvent, MessageDeltaUsage } from "../anthropic";
import { StreamProtocolError } from "../errors";
import { finishReasonFromStopReason, openAIIdFor, usageToOpenAI, type FinishReason } from "./mapping";

/** Options of {@link createAnthropicToOpenAIStream}. */
export interface AnthropicToOpenAIStreamOptions {
  /** The client asked for `stream_options.include_usage`: a last chunk with `choices: []` then carries usage. */
  includeUsage: boolean;
  /** `created` of every chunk, in seconds since the epoch. @default the time of `message_start` */
  created?: number;
}

/** Turns one Anthropic event stream into OpenAI chunks; one instance per stream. */
export interface AnthropicToOpenAIStream {
  /**
   * Takes one upstream event and returns the chunks to send now.
   * @throws StreamProtocolError when the upstream breaks Anthropic's order (an event before `message_start`, a
   *   second `message_start` or `message_delta`, a delta for a block that never started)
   */
  push(event: AnthropicStreamEvent): ChatCompletionChunk[];
  /**
   * At the clean end of the upstream stream: the finish chunk (and usage chunk) if `message_delta` never came —
   * `tool_calls` when tool calls went out, else `stop`. Returns `[]` when everything was sent.
   * @throws StreamProtocolError when there was no `message_start`
   */
  end(): ChatCompletionChunk[];
}

type UsageCounts = Pick<MessageDeltaUsage, "input_tokens" | "output_tokens" | "cache_read_input_tokens" | "cache_creation_input_tokens" | "output_tokens_details">;

type BlockState = { kind: "text" } | { kind: "tool"; toolIndex: number; startInput: unknown; argumentsSent: boolean } | { kind: "dropped" };

/**
 * Converts an Anthropic stream into OpenAI chunks, all sharing id (`chatcmpl-` + message id), `created` and `model`:
 *
 * - `message_start` → one role chunk, `delta: {role: "assistant", content: ""}`;
 * - `text_delta` → content deltas;
 * - `tool_use` start → `tool_calls: [{index: n, id, type: "function", function: {name, arguments: ""}}]`, with n
 *   counting tool calls from 0 in order; `input_json_delta` → `{index: n, function: {arguments}}`; a tool_use block
 *   that got no delta sends its start `input` as JSON when it stops;
 * - `message_delta` → one chunk with the mapped `finish_reason` (`tool_calls` only if a tool call went out), then,
 *   with `includeUsage`, a usage chunk with `choices: []`;
 * - dropped: thinking, redacted_thinking, server tool blocks, citations, signatures, `ping`, `message_stop`.
 *
 * Anthropic's `error` event is not an event here: the gateway handles upstream errors.
 */
export function createAnthropicToOpenAIStream(options: AnthropicToOpenAIStreamOptions): AnthropicToOpenAIStream {
  let base: Pick<ChatCompletionChunk, "id" | "object" | "created" | "model"> | undefined;
  const blocks = new Map<number, BlockState>();
  let toolCalls = 0;
  let finished = false;
  let usage: UsageCounts = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: null,
    cache_creation_input_tokens: null,
    output_tokens_details: null,
  };

  const chunk = (delta: ChatCompletionChunk.Choice.Delta, finishReason: FinishReason | null = null): ChatCompletionChunk => {
    if (base === undefined) throw new StreamProtocolError("no message_start yet");
    return { ...base, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] };
  };

  const finish = (reason: FinishReason): ChatCompletionChunk[] => {
    finished = true;
    const out = [chunk({}, reason === "tool_calls" && toolCalls === 0 ? "stop" : reason)];
    if (options.includeUsage && base !== undefined) out.push({ ...base, choices: [], usage: usageToOpenAI(usage) });
    return out;
  };

  return {
    push(event) {
      if (event.type === "ping") return [];
      if (base === undefined && event.type !== "message_start") {
        throw new StreamProtocolError(`${event.type} before message_start`);
      }
      switch (event.type) {
        case "message_start": {
          if (base !== undefined) throw new StreamProtocolError("second message_start");
          const { message } = event;
          base = {
            id: openAIIdFor(message.id),
            object: "chat.completion.chunk",
            created: options.created ?? Math.floor(Date.now() / 1000),
            model: message.model,
          };
          usage = {
            input_tokens: message.usage.input_tokens,
            output_tokens: message.usage.output_tokens,
            cache_read_input_tokens: message.usage.cache_read_input_tokens ?? null,
            cache_creation_input_tokens: message.usage.cache_creation_input_tokens ?? null,
            output_tokens_details: message.usage.output_tokens_details ?? null,
          };
          return [chunk({ role: "assistant", content: "" })];
        }
        case "content_block_start": {
          const block = event.content_block;
          switch (block.type) {
            case "text":
              blocks.set(event.index, { kind: "text" });
              return block.text !== "" ? [chunk({ content: block.text })] : [];
            case "tool_use": {
              const toolIndex = toolCalls++;
              blocks.set(event.index, { kind: "tool", toolIndex, startInput: block.input, argumentsSent: false });
              return [chunk({ tool_calls: [{ index: toolIndex, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })];
            }
            default:
              blocks.set(event.index, { kind: "dropped" });
              return [];
          }
        }
        case "content_block_delta": {
          const block = blocks.get(event.index);
          if (block === undefined) throw new StreamProtocolError(`delta for block ${event.index}, which never started`);
          const { delta } = event;
          if (block.kind === "text" && delta.type === "text_delta" && delta.text !== "") return [chunk({ content: delta.text })];
          if (block.kind === "tool" && delta.type === "input_json_delta" && delta.partial_json !== "") {
            block.argumentsSent = true;
            return [chunk({ tool_calls: [{ index: block.toolIndex, function: { arguments: delta.partial_json } }] })];
          }
          return [];
        }
        case "content_block_stop": {
          const block = blocks.get(event.index);
          if (block?.kind !== "tool" || block.argumentsSent) return [];
          // A block synthesized whole (by a policy, or from a whole message) may carry its input in the start.
          block.argumentsSent = true;
          const args = JSON.stringify(block.startInput ?? {});
          return [chunk({ tool_calls: [{ index: block.toolIndex, function: { arguments: args } }] })];
        }
        case "message_delta": {
          if (finished) throw new StreamProtocolError("second message_delta");
          const u = event.usage;
          usage = {
            input_tokens: u.input_tokens ?? usage.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens ?? usage.cache_read_input_tokens,
            cache_creation_input_tokens: u.cache_creation_input_tokens ?? usage.cache_creation_input_tokens,
            output_tokens_details: u.output_tokens_details ?? usage.output_tokens_details,
          };
          return finish(finishReasonFromStopReason(event.delta.stop_reason));
        }
        case "message_stop":
          return [];
        default: {
          const unknown: never = event;
          throw new StreamProtocolError(`unknown event type ${(unknown as { type: string }).type}`);
        }
      }
    },

    end() {
      if (base === undefined) throw new StreamProtocolError("stream ended before message_start");
      return finished ? [] : finish(toolCalls > 0 ? "tool_calls" : "stop");
    },
  };
}
