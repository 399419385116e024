import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import {
  SSE_DONE,
  createAnthropicStreamValidator,
  createOpenAIStreamGuard,
  emptyUsage,
  encodeSseEvent,
  type AnthropicStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ContentBlock,
  type Message,
  type RawContentBlockDeltaEvent,
  type RawContentBlockStartEvent,
  type RawContentBlockStopEvent,
  type RawMessageDeltaEvent,
  type RawMessageStartEvent,
  type StopReason,
} from "../src";

/** A whole Anthropic message with sensible defaults. */
export function message(content: ContentBlock[], over: Partial<Message> = {}): Message {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-test",
    content,
    stop_reason: "end_turn",
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: { ...emptyUsage(), input_tokens: 10, output_tokens: 5 },
    ...over,
  };
}

export const textBlock = (text: string): ContentBlock => ({ type: "text", text, citations: null });
export const toolUseBlock = (id: string, name: string, input: unknown): ContentBlock => ({
  type: "tool_use",
  id,
  name,
  input,
  caller: { type: "direct" },
});

// Anthropic stream events, as policies would emit them.
export const messageStart = (): RawMessageStartEvent => ({ type: "message_start", message: message([], { stop_reason: null }) });
export const textStart = (index: number): RawContentBlockStartEvent => ({
  type: "content_block_start",
  index,
  content_block: { type: "text", text: "", citations: null },
});
export const thinkingStart = (index: number): RawContentBlockStartEvent => ({
  type: "content_block_start",
  index,
  content_block: { type: "thinking", thinking: "", signature: "" },
});
export const toolStart = (index: number, id: string, name: string): RawContentBlockStartEvent => ({
  type: "content_block_start",
  index,
  content_block: { type: "tool_use", id, name, input: {}, caller: { type: "direct" } },
});
export const textDelta = (index: number, text: string): RawContentBlockDeltaEvent => ({
  type: "content_block_delta",
  index,
  delta: { type: "text_delta", text },
});
export const jsonDelta = (index: number, partial_json: string): RawContentBlockDeltaEvent => ({
  type: "content_block_delta",
  index,
  delta: { type: "input_json_delta", partial_json },
});
export const blockStop = (index: number): RawContentBlockStopEvent => ({ type: "content_block_stop", index });
export const messageDelta = (stop_reason: StopReason | null, output_tokens = 7): RawMessageDeltaEvent => ({
  type: "message_delta",
  delta: { stop_reason, stop_sequence: null, stop_details: null, container: null },
  usage: {
    output_tokens,
    input_tokens: null,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
    output_tokens_details: null,
    server_tool_use: null,
  },
});
export const messageStop = (): AnthropicStreamEvent => ({ type: "message_stop" });

/** Checks a whole Anthropic event sequence with the validator; throws at the first violation. */
export function validateAnthropic(events: readonly AnthropicStreamEvent[]): void {
  const validator = createAnthropicStreamValidator();
  for (const event of events) validator.check(event);
  validator.end();
}

/** Checks a whole OpenAI chunk sequence with the stream guard, and that exactly one finish_reason came. */
export function validateOpenAI(chunks: readonly ChatCompletionChunk[]): void {
  const guard = createOpenAIStreamGuard();
  for (const chunk of chunks) guard.check(chunk);
  const finishes = chunks.flatMap((c) => c.choices).filter((c) => c.finish_reason !== null);
  if (finishes.length !== 1) throw new Error(`expected one finish_reason, got ${finishes.length}`);
}

// An OpenAI chunk with defaults, for the converter tests.
export function chunk(delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice["finish_reason"] = null): ChatCompletionChunk {
  return {
    id: "chatcmpl-9",
    object: "chat.completion.chunk",
    created: 1700000000,
    model: "gpt-test",
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
}

export function usageChunk(prompt: number, completion: number, cached?: number): ChatCompletionChunk {
  return {
    id: "chatcmpl-9",
    object: "chat.completion.chunk",
    created: 1700000000,
    model: "gpt-test",
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
    },
  };
}

/** SSE bytes as Anthropic sends them: `event: <type>` and the JSON. */
export function anthropicSse(events: readonly AnthropicStreamEvent[]): string {
  return events.map((e) => encodeSseEvent({ event: e.type, data: JSON.stringify(e) })).join("");
}

/** SSE bytes as OpenAI sends them: unnamed events, then `data: [DONE]`. */
export function openAISse(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((c) => encodeSseEvent({ data: JSON.stringify(c) })).join("") + encodeSseEvent({ data: SSE_DONE });
}

/** `text` as UTF-8 bytes cut every `size` bytes, so pieces split lines and multi-byte characters. */
export async function* bytesInPieces(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/**
 * A local HTTP server that answers every request with the SSE body set by `serve`, written in 7-byte pieces, and
 * the official SDK clients pointed at it: what strict clients make of a stream is what they accept.
 */
export interface SdkHarness {
  anthropic: Anthropic;
  openai: OpenAI;
  /** The next answers' body. */
  serve(body: string): void;
  /** The official Anthropic accumulator's result for an SSE body. */
  anthropicFinalMessage(body: string): Promise<Message>;
  /** The official OpenAI accumulator's result for an SSE body. */
  openAIFinalCompletion(body: string): Promise<ChatCompletion>;
  close(): Promise<void>;
}

export async function startSdkHarness(): Promise<SdkHarness> {
  let body = "";
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const bytes = Buffer.from(body, "utf8");
      for (let i = 0; i < bytes.length; i += 7) res.write(bytes.subarray(i, i + 7));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const anthropic = new Anthropic({ apiKey: "test-key", baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
  const openai = new OpenAI({ apiKey: "test-key", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  return {
    anthropic,
    openai,
    serve(next) {
      body = next;
    },
    async anthropicFinalMessage(next) {
      body = next;
      const final = await anthropic.messages.stream({ model: "claude-test", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).finalMessage();
      // The SDK adds its structured-output parse, which is not part of the wire message.
      const { parsed_output: _parsed, ...wire } = final;
      return wire;
    },
    openAIFinalCompletion(next) {
      body = next;
      return openai.chat.completions.stream({ model: "gpt-test", messages: [{ role: "user", content: "hi" }] }).finalChatCompletion();
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err !== undefined ? reject(err) : resolve())));
    },
  };
}
