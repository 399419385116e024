import type { CompletionUsage } from "openai/resources/completions";
import type { ResponseUsage } from "openai/resources/responses/responses";
import type { ChatCompletion } from "openai/resources/chat/completions";
import type { MessageDeltaUsage, StopReason, Usage } from "../anthropic";
import { ConversionError } from "../errors";

/** Why an OpenAI choice finished. */
export type FinishReason = ChatCompletion.Choice["finish_reason"];

/**
 * Anthropic `stop_reason` → OpenAI `finish_reason`: end_turn, stop_sequence, pause_turn → stop; max_tokens,
 * model_context_window_exceeded → length; tool_use → tool_calls; refusal → content_filter; null → stop.
 */
export function finishReasonFromStopReason(reason: StopReason | null): FinishReason {
  switch (reason) {
    case null:
    case "end_turn":
    case "stop_sequence":
    case "pause_turn":
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default: {
      const unknown: never = reason;
      throw new ConversionError(`unknown stop_reason ${String(unknown)}`);
    }
  }
}

/**
 * OpenAI `finish_reason` → Anthropic `stop_reason`: stop → end_turn, length → max_tokens, tool_calls and
 * function_call → tool_use, content_filter → refusal. Tool calls decide between `tool_use` and `end_turn` whenever the
 * reason is about them or absent: some OpenAI-compatible servers finish a tool call with `stop`, and a `tool_calls`
 * finish without any call would make Anthropic clients look for one.
 */
export function stopReasonFromFinishReason(reason: FinishReason | null, hasToolCalls: boolean): StopReason {
  switch (reason) {
    case null:
    case "stop":
    case "tool_calls":
    case "function_call":
      return hasToolCalls ? "tool_use" : "end_turn";
    case "length":
      return "max_tokens";
    case "content_filter":
      return "refusal";
    default: {
      const unknown: never = reason;
      throw new ConversionError(`unknown finish_reason ${String(unknown)}`);
    }
  }
}

/** The Anthropic usage fields that carry counts, as both `Usage` and `MessageDeltaUsage` have them. */
export type AnthropicTokenCounts = Pick<Usage, "input_tokens" | "output_tokens" | "cache_read_input_tokens" | "cache_creation_input_tokens" | "output_tokens_details">;

/**
 * Anthropic usage → OpenAI usage. Anthropic's `input_tokens` excludes cached tokens and OpenAI's `prompt_tokens`
 * includes them, so `prompt_tokens` = input + cache read + cache creation; cache reads also go to
 * `prompt_tokens_details.cached_tokens`, cache creation to `cache_write_tokens`, thinking tokens to
 * `completion_tokens_details.reasoning_tokens`.
 */
export function usageToOpenAI(usage: Pick<MessageDeltaUsage, keyof AnthropicTokenCounts>): CompletionUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + cacheRead + cacheWrite;
  const result: CompletionUsage = {
    prompt_tokens: prompt,
    completion_tokens: usage.output_tokens,
    total_tokens: prompt + usage.output_tokens,
    prompt_tokens_details: cacheWrite > 0 ? { cached_tokens: cacheRead, cache_write_tokens: cacheWrite } : { cached_tokens: cacheRead },
  };
  const thinking = usage.output_tokens_details?.thinking_tokens;
  if (thinking !== undefined) result.completion_tokens_details = { reasoning_tokens: thinking };
  return result;
}

/** OpenAI usage → Anthropic counts: the inverse of {@link usageToOpenAI} (cached tokens leave `input_tokens`). */
export function usageFromOpenAI(usage: CompletionUsage): AnthropicTokenCounts {
  const cacheRead = usage.prompt_tokens_details?.cached_tokens;
  const cacheWrite = usage.prompt_tokens_details?.cache_write_tokens;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - (cacheRead ?? 0) - (cacheWrite ?? 0)),
    output_tokens: usage.completion_tokens,
    cache_read_input_tokens: cacheRead ?? null,
    cache_creation_input_tokens: cacheWrite ?? null,
    output_tokens_details: reasoning !== undefined ? { thinking_tokens: reasoning } : null,
  };
}

/**
 * The OpenAI id for an Anthropic message: `chatcmpl-` + its id, the same for a streamed and a whole answer, so the
 * upstream id stays findable in logs.
 */
export function openAIIdFor(messageId: string): string {
  return `chatcmpl-${messageId}`;
}

/**
 * Responses usage for Anthropic usage, by way of {@link usageToOpenAI}: `input_tokens` includes cache reads and cache
 * writes, which also go to `input_tokens_details.cached_tokens` / `cache_write_tokens`; thinking tokens go to
 * `output_tokens_details.reasoning_tokens` (0 when Anthropic does not report them; they are in `output_tokens` either
 * way).
 */
export function usageToResponses(usage: Pick<MessageDeltaUsage, keyof AnthropicTokenCounts>): ResponseUsage {
  const openAI = usageToOpenAI(usage);
  return {
    input_tokens: openAI.prompt_tokens,
    input_tokens_details: {
      cached_tokens: openAI.prompt_tokens_details?.cached_tokens ?? 0,
      cache_write_tokens: openAI.prompt_tokens_details?.cache_write_tokens ?? 0,
    },
    output_tokens: openAI.completion_tokens,
    output_tokens_details: { reasoning_tokens: openAI.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: openAI.total_tokens,
  };
}

/**
 * The Responses id for an Anthropic message: `resp_` + its id without the `msg_` prefix (`msg_01X` → `resp_01X`), the
 * same for a streamed and a whole answer (see {@link openAIIdFor}).
 */
export function responsesIdFor(messageId: string): string {
  return `resp_${messageIdBody(messageId)}`;
}

/**
 * The id of the output item at `outputIndex` of the response for an Anthropic message: `<prefix>_` + the message id
 * without `msg_` + `_<outputIndex>` (`msg_01X_0`, `rs_01X_1`). Function calls are named by their call instead.
 */
export function responsesItemIdFor(prefix: "msg" | "rs", messageId: string, outputIndex: number): string {
  return `${prefix}_${messageIdBody(messageId)}_${outputIndex}`;
}

function messageIdBody(messageId: string): string {
  return messageId.startsWith("msg_") ? messageId.slice("msg_".length) : messageId;
}

/** The Anthropic id for an OpenAI completion: `msg_` + its id (see {@link openAIIdFor}). */
export function anthropicIdFor(completionId: string): string {
  return `msg_${completionId}`;
}

/**
 * Parses tool-call arguments into the JSON object Anthropic's `input` must be. An empty string means "no
 * arguments" (some servers send it for parameterless functions) and becomes `{}`.
 *
 * @throws ConversionError when the text is not JSON or not a JSON object; `where` names the field in the message
 */
export function parseToolArguments(text: string, where: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConversionError(`${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new ConversionError(`${where} must be a JSON object, got ${got}`);
  }
  return value as Record<string, unknown>;
}
