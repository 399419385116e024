/**
 * Wire formats of the client APIs Luthien serves: SSE framing, OpenAI Chat Completions types and the rules a
 * stream must keep before it reaches a client. Depends on nothing of ours.
 */
export { encodeSseEvent, decodeSseEvents, SSE_DONE } from "./sse";
export type { SseMessage } from "./sse";
export {
  createOpenAIStreamGuard,
  completionToChunks,
  openAIErrorBody,
  StreamProtocolError,
} from "./openai";
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
  OpenAIErrorBody,
  OpenAIStreamGuard,
} from "./openai";
