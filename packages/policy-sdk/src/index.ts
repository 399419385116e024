/**
 * What a policy author imports. A policy is a stateless singleton that sees each call's request, response and
 * stream events in the client's own format; per-call state lives on `ctx.state`.
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
} from "./policy";
export { createTextPolicy, mapText } from "./text-policy";
export type { TextPolicyOptions, TextStreamTransformer, TextTarget } from "./text-policy";
export { createStringReplacer } from "./string-replacer";
export type { StringReplacerOptions } from "./string-replacer";
