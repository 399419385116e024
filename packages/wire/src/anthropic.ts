import type {
  ContentBlock,
  ContentBlockParam,
  Message,
  MessageCreateParams,
  MessageDeltaUsage,
  MessageParam,
  RawContentBlockDelta,
  RawContentBlockDeltaEvent,
  RawContentBlockStartEvent,
  RawContentBlockStopEvent,
  RawMessageDeltaEvent,
  RawMessageStartEvent,
  RawMessageStopEvent,
  RawMessageStreamEvent,
  StopReason,
  TextBlockParam,
  Tool,
  ToolChoice,
  ToolResultBlockParam,
  ToolUseBlock,
  Usage,
} from "@anthropic-ai/sdk/resources/messages";

export type {
  ContentBlock,
  ContentBlockParam,
  Message,
  MessageCreateParams,
  MessageDeltaUsage,
  MessageParam,
  RawContentBlockDelta,
  RawContentBlockDeltaEvent,
  RawContentBlockStartEvent,
  RawContentBlockStopEvent,
  RawMessageDeltaEvent,
  RawMessageStartEvent,
  RawMessageStopEvent,
  RawMessageStreamEvent,
  StopReason,
  TextBlockParam,
  Tool,
  ToolChoice,
  ToolResultBlockParam,
  ToolUseBlock,
  Usage,
};

/** The keepalive Anthropic sends between events. The SDK drops it before its types see it, so its union lacks it. */
export interface AnthropicPingEvent {
  type: "ping";
}

/** An event on an Anthropic stream as the gateway handles it: the SDK's union plus `ping`. */
export type AnthropicStreamEvent = RawMessageStreamEvent | AnthropicPingEvent;

/**
 * Sampling parameters the Messages API accepts on older models that `@anthropic-ai/sdk` 1.14 no longer declares
 * (newer Claude models reject `temperature`). The converters carry them when a client sets them.
 */
export interface AnthropicSamplingParams {
  temperature?: number;
  top_p?: number;
  top_k?: number;
}

/** A Messages request as clients send it: the SDK's params plus the undeclared sampling parameters. */
export type AnthropicRequest = MessageCreateParams & AnthropicSamplingParams;

/** The error types Anthropic's API puts in `error.type`. */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "timeout_error"
  | "api_error"
  | "overloaded_error";

/** Anthropic's error body, as JSON answers and `event: error` carry it. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

/** Builds Anthropic's error body: `{type: "error", error: {type, message}}`. */
export function anthropicErrorBody(type: string, message: string): AnthropicErrorBody {
  return { type: "error", error: { type, message } };
}

/**
 * The Anthropic error type for an HTTP status, for errors that did not come from Anthropic (the gateway's own, or an
 * OpenAI-format provider's):
 *
 * | status | type |
 * | --- | --- |
 * | 401 | authentication_error |
 * | 402 | billing_error |
 * | 403 | permission_error |
 * | 404 | not_found_error |
 * | 413 | request_too_large |
 * | 429 | rate_limit_error |
 * | 503, 529 | overloaded_error (503 is how OpenAI-compatible servers say "overloaded"; Anthropic uses 529) |
 * | 504 | timeout_error |
 * | other 5xx | api_error |
 * | other | invalid_request_error |
 */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

/** The usage fields of a message that has produced nothing yet: what a `message_start` carries before counts exist. */
export function emptyUsage(): Usage {
  return {
    input_tokens: 0,
    output_tokens: 0,
    cache_creation: null,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: null,
    speed: null,
  };
}

/**
 * The events a client would have received had `message` been streamed, in Anthropic's order:
 * `message_start` (empty content, `stop_reason`/`stop_sequence` null, `output_tokens` 0), then per block
 * `content_block_start` → deltas → `content_block_stop`, then `message_delta` (stop reason, stop sequence, the
 * message's usage) and `message_stop`.
 *
 * Blocks: text → empty text start, one `citations_delta` per citation, one `text_delta`; thinking → empty thinking
 * start, `thinking_delta`, `signature_delta`; `tool_use`/`server_tool_use` → start with `input: {}` and one
 * `input_json_delta` carrying the whole input as JSON; every other block (redacted thinking, server tool results) goes
 * whole in its start event, as Anthropic streams them. Empty text and thinking get no delta.
 */
export function messageToEvents(message: Message): RawMessageStreamEvent[] {
  const events: RawMessageStreamEvent[] = [
    {
      type: "message_start",
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...message.usage, output_tokens: 0 },
      },
    },
  ];
  message.content.forEach((block, index) => {
    const delta = (d: RawContentBlockDelta): void => {
      events.push({ type: "content_block_delta", index, delta: d });
    };
    switch (block.type) {
      case "text":
        events.push({ type: "content_block_start", index, content_block: { type: "text", text: "", citations: null } });
        for (const citation of block.citations ?? []) delta({ type: "citations_delta", citation });
        if (block.text !== "") delta({ type: "text_delta", text: block.text });
        break;
      case "thinking":
        events.push({ type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } });
        if (block.thinking !== "") delta({ type: "thinking_delta", thinking: block.thinking });
        delta({ type: "signature_delta", signature: block.signature });
        break;
      case "tool_use":
      case "server_tool_use":
        events.push({ type: "content_block_start", index, content_block: { ...block, input: {} } });
        delta({ type: "input_json_delta", partial_json: JSON.stringify(block.input ?? {}) });
        break;
      default:
        events.push({ type: "content_block_start", index, content_block: block });
    }
    events.push({ type: "content_block_stop", index });
  });
  const { usage } = message;
  events.push(
    {
      type: "message_delta",
      delta: {
        stop_reason: message.stop_reason,
        stop_sequence: message.stop_sequence,
        stop_details: message.stop_details,
        container: message.container,
      },
      usage: {
        output_tokens: usage.output_tokens,
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        output_tokens_details: usage.output_tokens_details,
        server_tool_use: usage.server_tool_use,
      },
    },
    { type: "message_stop" },
  );
  return events;
}
