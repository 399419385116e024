import type { ChatCompletion, ChatCompletionMessage, ChatCompletionMessageFunctionToolCall } from "openai/resources/chat/completions";
import { emptyUsage, type ContentBlock, type Message } from "../anthropic";
import { ConversionError } from "../errors";
import { anthropicIdFor, finishReasonFromStopReason, openAIIdFor, parseToolArguments, stopReasonFromFinishReason, usageFromOpenAI, usageToOpenAI } from "./mapping";

/** Options of {@link anthropicMessageToOpenAI}. */
export interface AnthropicMessageToOpenAIOptions {
  /** The completion's `created`, in seconds since the epoch. @default now */
  created?: number;
}

/**
 * Translates a whole Anthropic message into an OpenAI chat completion with one choice. Pure but for the default
 * `created`.
 *
 * id `chatcmpl-` + the message id; text blocks joined into `content` (null when there are only tool calls, "" when
 * there is nothing); `tool_use` blocks → `tool_calls` (same ids, `arguments` = `JSON.stringify(input)`);
 * `stop_reason` → `finish_reason` (end_turn, stop_sequence, pause_turn → stop; max_tokens,
 * model_context_window_exceeded → length; tool_use → tool_calls, or stop when no tool call is left; refusal →
 * content_filter); usage: `prompt_tokens` = input + cache read + cache creation tokens, `completion_tokens` = output.
 *
 * Dropped: thinking and redacted_thinking blocks (OpenAI has no standard field for them), server tool blocks,
 * citations, `stop_sequence`, `stop_details`, `container`.
 */
export function anthropicMessageToOpenAI(message: Message, options: AnthropicMessageToOpenAIOptions = {}): ChatCompletion {
  const texts: string[] = [];
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = [];
  for (const block of message.content) {
    if (block.type === "text") texts.push(block.text);
    else if (block.type === "tool_use") {
      toolCalls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  const reply: ChatCompletionMessage = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : toolCalls.length > 0 ? null : "",
    refusal: null,
  };
  if (toolCalls.length > 0) reply.tool_calls = toolCalls;
  const finish = finishReasonFromStopReason(message.stop_reason);
  return {
    id: openAIIdFor(message.id),
    object: "chat.completion",
    created: options.created ?? Math.floor(Date.now() / 1000),
    model: message.model,
    choices: [{ index: 0, message: reply, finish_reason: finish === "tool_calls" && toolCalls.length === 0 ? "stop" : finish, logprobs: null }],
    usage: usageToOpenAI(message.usage),
  };
}

/** Options of {@link openAICompletionToAnthropic}. */
export interface OpenAICompletionToAnthropicOptions {
  /** The `model` the Anthropic client sees (the one it asked for). @default the completion's model */
  model?: string;
}

/**
 * Translates an OpenAI chat completion into an Anthropic message, from its first choice. Pure.
 *
 * id `msg_` + the completion id; `content` and `refusal` → text blocks; function `tool_calls` → `tool_use` blocks
 * (same ids, arguments parsed, `""` → `{}`); `finish_reason` → `stop_reason` (stop → end_turn, length → max_tokens,
 * tool_calls / function_call → tool_use, content_filter → refusal; tool calls under a `stop` finish still give
 * tool_use); usage: `input_tokens` = prompt − cached − cache-write tokens, cached → `cache_read_input_tokens`,
 * `completion_tokens` → `output_tokens`. `stop_sequence` is always null (OpenAI does not say which one matched).
 *
 * Dropped: other choices, logprobs, annotations, audio, `system_fingerprint`, `service_tier`.
 *
 * @throws ConversionError when there is no choice, a tool call is a custom one, or its arguments are not a JSON object
 */
export function openAICompletionToAnthropic(completion: ChatCompletion, options: OpenAICompletionToAnthropicOptions = {}): Message {
  const choice = completion.choices[0];
  if (choice === undefined) throw new ConversionError("the completion has no choices");
  const { message } = choice;
  const content: ContentBlock[] = [];
  for (const text of [message.content, message.refusal]) {
    if (text !== null && text !== undefined && text !== "") content.push({ type: "text", text, citations: null });
  }
  (message.tool_calls ?? []).forEach((call, i) => {
    const where = `choices[0].message.tool_calls[${i}]`;
    if (call.type !== "function") throw new ConversionError(`${where}: custom tool calls cannot be converted`);
    const input = parseToolArguments(call.function.arguments, `${where}.function.arguments`);
    content.push({ type: "tool_use", id: call.id, name: call.function.name, input, caller: { type: "direct" } });
  });
  const hasToolUse = content.some((b) => b.type === "tool_use");
  return {
    id: anthropicIdFor(completion.id),
    type: "message",
    role: "assistant",
    model: options.model ?? completion.model,
    content,
    stop_reason: stopReasonFromFinishReason(choice.finish_reason, hasToolUse),
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: completion.usage !== undefined ? { ...emptyUsage(), ...usageFromOpenAI(completion.usage) } : emptyUsage(),
  };
}
