import { createAnthropicStreamBuilder, createAnthropicStreamValidator } from "./anthropic-stream";
import type { AnthropicStreamEvent } from "./anthropic";
import { createOpenAIStreamGuard, type ChatCompletionChunk } from "./openai";
import type { ResponsesStreamEvent } from "./openai-responses";
import { createResponsesStreamBuilder, createResponsesStreamValidator } from "./responses-stream";
import { SSE_DONE } from "./sse";
import { StreamEvent } from "./stream-event";

/** The three client wire formats: Chat Completions, Anthropic Messages, the Responses API. */
export type WireFormat = "openai" | "anthropic" | "responses";

/**
 * What stands between a stream's events (as policies left them) and the client: checked (Chat Completions) or rebuilt
 * so the stream is valid by construction (Anthropic Messages, the Responses API). An event that passes unchanged is
 * the same `StreamEvent` (its frame kept); a rebuilt one is new.
 */
export interface ClientStage {
  /** @throws StreamProtocolError when the event cannot be made part of a valid stream */
  push(event: StreamEvent): StreamEvent[];
  /** At a clean end: whatever completes the stream, including the format's terminator. */
  end(): StreamEvent[];
}

/** The client stream stage of `format`: one per stream. */
export function createClientStage(format: WireFormat): ClientStage {
  switch (format) {
    case "openai": {
      const guard = createOpenAIStreamGuard();
      return {
        push(e) {
          guard.check(e.json<ChatCompletionChunk>());
          return [e];
        },
        end: () => [StreamEvent.of({ data: SSE_DONE })],
      };
    }
    case "anthropic":
      return rebuilt(createAnthropicStreamBuilder(), (e: AnthropicStreamEvent) => e.type);
    case "responses":
      return rebuilt(createResponsesStreamBuilder(), (e: ResponsesStreamEvent) => e.type);
  }
}

function rebuilt<E extends { type: string }>(builder: { push(e: E): E[]; end(): E[] }, name: (e: E) => string): ClientStage {
  return {
    push(e) {
      const value = e.json<E>();
      return builder.push(value).map((out) => (out === value ? e : StreamEvent.fromJson(name(out), out)));
    },
    end: () => builder.end().map((out) => StreamEvent.fromJson(name(out), out)),
  };
}

/**
 * Checks each event of a stream of `format` as it goes to a client, whatever made it (a SKIP stream is the provider's
 * own); OpenAI's `[DONE]` passes.
 * @returns a check that throws StreamProtocolError on the first event that breaks the format's rules
 */
export function createClientValidator(format: WireFormat): (event: StreamEvent) => void {
  switch (format) {
    case "openai": {
      const guard = createOpenAIStreamGuard();
      return (e) => {
        if (e.data !== SSE_DONE) guard.check(e.json<ChatCompletionChunk>());
      };
    }
    case "anthropic": {
      const validator = createAnthropicStreamValidator();
      return (e) => validator.check(e.json<AnthropicStreamEvent>());
    }
    case "responses": {
      const validator = createResponsesStreamValidator();
      return (e) => validator.check(e.json<ResponsesStreamEvent>());
    }
  }
}
