/**
 * Wire formats of the client APIs Luthien serves: SSE framing, OpenAI Chat Completions, OpenAI Responses and
 * Anthropic Messages types, the rules a stream must keep before it reaches a client, and the converters used at the
 * provider edge when a client and its provider speak different formats. Depends on nothing of ours.
 */
export { encodeSseEvent, SSE_DONE } from "./sse";
export type { SseMessage } from "./sse";
export {
  createOpenAIStreamGuard,
  completionToChunks,
  openAIErrorBody,
} from "./openai";
export { StreamProtocolError, ConversionError } from "./errors";
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
  OpenAIErrorBody,
  OpenAIStreamGuard,
} from "./openai";

export { anthropicErrorBody, anthropicErrorType, emptyUsage, messageToEvents } from "./anthropic";
export type {
  AnthropicErrorBody,
  AnthropicErrorType,
  AnthropicPingEvent,
  AnthropicRequest,
  AnthropicSamplingParams,
  AnthropicStreamEvent,
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
} from "./anthropic";
export { createAnthropicStreamBuilder, createAnthropicStreamValidator } from "./anthropic-stream";
export type { AnthropicStreamBuilder, AnthropicStreamValidator } from "./anthropic-stream";

export {
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  THINKING_BUDGET_BY_EFFORT,
  openAIRequestToAnthropic,
} from "./convert/openai-request-to-anthropic";
export { TOOL_RESULT_IMAGE_NOTE, anthropicRequestToOpenAI } from "./convert/anthropic-request-to-openai";
export type { AnthropicRequestToOpenAIOptions } from "./convert/anthropic-request-to-openai";
export { anthropicMessageToOpenAI, openAICompletionToAnthropic } from "./convert/responses";
export type { AnthropicMessageToOpenAIOptions, OpenAICompletionToAnthropicOptions } from "./convert/responses";
export { createAnthropicToOpenAIStream } from "./convert/anthropic-to-openai-stream";
export type { AnthropicToOpenAIStream, AnthropicToOpenAIStreamOptions } from "./convert/anthropic-to-openai-stream";
export { createOpenAIToAnthropicStream } from "./convert/openai-to-anthropic-stream";
export type { OpenAIToAnthropicStream, OpenAIToAnthropicStreamOptions } from "./convert/openai-to-anthropic-stream";
export {
  finishReasonFromStopReason,
  responsesIdFor,
  responsesItemIdFor,
  stopReasonFromFinishReason,
  usageFromOpenAI,
  usageToOpenAI,
  usageToResponses,
} from "./convert/mapping";
export type { AnthropicTokenCounts, FinishReason } from "./convert/mapping";
export { createOpenAIAccumulator, createAnthropicAccumulator } from "./accumulate";
export { createResponsesAccumulator } from "./accumulate";
export type { StreamAccumulator } from "./accumulate";

export { RESPONSES_EVENT_TYPES, inProgressResponse, outputTextOf, responseToEvents, terminalEventType } from "./openai-responses";
export type {
  ResponsesInputItem,
  ResponsesOutputItem,
  ResponsesRequest,
  ResponsesResponse,
  ResponsesStreamEvent,
  ResponsesTerminalEventType,
  UnnumberedResponsesStreamEvent,
} from "./openai-responses";
export { createResponsesStreamBuilder, createResponsesStreamValidator } from "./responses-stream";
export type { ResponsesStreamBuilder, ResponsesStreamValidator } from "./responses-stream";
export { REASONING_ENCRYPTED_CONTENT, responsesRequestToAnthropic } from "./convert/responses-request-to-anthropic";
export { anthropicMessageToResponse } from "./convert/anthropic-to-responses";
export type { AnthropicMessageToResponseOptions } from "./convert/anthropic-to-responses";
export { createAnthropicToResponsesStream } from "./convert/anthropic-to-responses-stream";
export type { AnthropicToResponsesStream, AnthropicToResponsesStreamOptions } from "./convert/anthropic-to-responses-stream";
export { StreamEvent, decodeStreamEvents, decodeSseEvents } from "./stream-event";
export { usageOf } from "./usage";
export type { TokenUsage } from "./usage";
export { createClientStage, createClientValidator } from "./client-stage";
export type { ClientStage, WireFormat } from "./client-stage";
