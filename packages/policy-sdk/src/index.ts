/**
 * What a policy author imports. A policy is a stateless singleton that sees each call's request, response and
 * stream events in the client's own format; per-call state lives on `ctx.state`. Helpers carry the hard parts:
 * text transformers with cross-chunk hold-back (`createTextPolicy`, `createStringReplacer`, `createRegexReplacer`),
 * a tool-call gate (`createToolCallGate`), `requestText` / `responseText` (every text carrier of a request, a
 * response or a stream event, from one walker per format), and a test kit (`runPolicy`).
 *
 * ### Usage
 * ```ts
 * export const shout = createTextPolicy({ name: "shout", createTransformer: () => mapText((t) => t.toUpperCase()) });
 * ```
 */
export { deny, respond, isDeny, isRespond } from "./policy";
export type {
  Policy,
  AnyPolicy,
  PolicyContext,
  PolicyRequest,
  PolicyResponse,
  PolicyEvent,
  RequestOutcome,
  ResponseOutcome,
  DenyDecision,
  RespondDecision,
  ResponseMode,
  ClientFormat,
  CallInfo,
  ApprovalRequest,
  ApprovalOutcome,
} from "./policy";
export { createTextPolicy, mapText } from "./text-policy";
export type { TextPolicyOptions, TextScope, TextStreamTransformer, TextTarget } from "./text-policy";
export { createStringReplacer } from "./string-replacer";
export type { StringReplacerOptions } from "./string-replacer";
export { createRegexReplacer, DEFAULT_MAX_MATCH_LENGTH } from "./regex-replacer";
export type { RegexReplacerOptions, RegexRule } from "./regex-replacer";
export { createToolCallGate } from "./tool-call-gate";
export type { ToolCall, ToolCallContext, ToolCallDecision, ToolCallGateOptions } from "./tool-call-gate";
export { requestText, responseText } from "./request-text";
export type { RequestText, ResponseText } from "./request-text";
export { withKeepalive } from "./keepalive";
// Re-exported: policies match tool and model names the way the gateway and the control plane do.
export { createGlobMatcher } from "@luthien/runtime";
export {
  runPolicy,
  openAIRequest,
  openAIResponse,
  openAIStream,
  anthropicRequest,
  anthropicResponse,
  anthropicStream,
  responsesRequest,
  responsesResponse,
  responsesStream,
  seededRandom,
  pickOne,
  randomPieces,
} from "./test-kit";
export type {
  PolicyRun,
  RecordedActivity,
  RecordedAnthropicReply,
  RecordedOpenAIReply,
  RecordedReply,
  RecordedResponsesReply,
  RecordedToolCall,
  RunPolicyInput,
} from "./test-kit";
export { startChainRun, startCallRun, chainMode, shadowAction, DEFAULT_APPROVAL_TIMEOUT_MS } from "./chain";
export type { ChainRun, CallRun, ChainHooks, EventOutcome } from "./chain";
