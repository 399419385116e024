import type { CallContext, EndpointFormat, JsonAnswer } from "./endpoint";
import { eventLogprob, requestedTopLogprobs, textLogprobs, type TokenLogprob } from "./logprobs";
import { OPENAI_FORMAT_BASE } from "./openai";
import { hasTextPart } from "./script";
import { scriptedFailure, sseEvent, type StreamFrame, type StreamPlan } from "./sse";

type Json = Record<string, unknown>;

/** How a Responses stream module appends one event; `sequence_number` is added in order. */
type Emit = (type: string, payload: Json, flags?: Omit<StreamFrame, "text">) => void;

/** One item of `output`, in both the shapes a stream shows it in, with the events that fill it in. */
interface OutputItem {
  /** As `response.output_item.added` shows it: in progress, nothing in it yet. */
  readonly added: Json;
  /** Finished, as `response.output_item.done` and the final response carry it. */
  readonly done: Json;
  /** The events between `added` and `done`. */
  emitBody(emit: Emit, outputIndex: number): void;
}

/**
 * Why a response stops short (`incomplete_details.reason`), from the script's `finishReason`: `max_output_tokens`
 * or `content_filter`; Chat's `length` and Anthropic's `max_tokens` mean `max_output_tokens`, so that one script
 * can serve every format. Anything else (or nothing) completes the response.
 */
function incompleteReason(call: CallContext): string | undefined {
  const reason = call.script.finishReason;
  if (reason === "length" || reason === "max_tokens") return "max_output_tokens";
  return reason === "max_output_tokens" || reason === "content_filter" ? reason : undefined;
}

function finalStatus(call: CallContext): "completed" | "incomplete" {
  return incompleteReason(call) === undefined ? "completed" : "incomplete";
}

function included(call: CallContext, what: string): boolean {
  const include = call.request["include"];
  return Array.isArray(include) && include.includes(what);
}

function usage(call: CallContext): Json {
  const { inputTokens, outputTokens, thinking } = call.script;
  const reasoningTokens = thinking === undefined ? 0 : Math.min(outputTokens, Math.ceil(thinking.text.length / 4));
  return {
    input_tokens: inputTokens,
    // cache_write_tokens is in the SDK's ResponseUsage type as a required field.
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: inputTokens + outputTokens,
  };
}

function reasoningItem(call: CallContext, thinking: NonNullable<CallContext["script"]["thinking"]>): OutputItem {
  const id = `rs_mock_${call.callId}`;
  const summary = { type: "summary_text", text: thinking.text };
  // OpenAI sends the reasoning itself only encrypted, and only when asked; the script's signature stands in for it.
  const encrypted = included(call, "reasoning.encrypted_content") ? { encrypted_content: thinking.signature } : {};
  return {
    added: { id, type: "reasoning", summary: [] },
    done: { id, type: "reasoning", summary: [summary], ...encrypted },
    emitBody: (emit, output_index) => {
      const at = { item_id: id, output_index, summary_index: 0 };
      emit("response.reasoning_summary_part.added", { ...at, part: { type: "summary_text", text: "" } });
      for (const delta of thinking.chunks) emit("response.reasoning_summary_text.delta", { ...at, delta }, { content: true });
      emit("response.reasoning_summary_text.done", { ...at, text: thinking.text });
      emit("response.reasoning_summary_part.done", { ...at, part: summary });
    },
  };
}

function messageItem(call: CallContext, status: string): OutputItem {
  const { script } = call;
  const id = `msg_mock_${call.callId}`;
  const pieces: TokenLogprob[][] = included(call, "message.output_text.logprobs") ? textLogprobs(script.textChunks, requestedTopLogprobs(call.request)) : script.textChunks.map(() => []);
  const logprobs = pieces.flat();
  const part = { type: "output_text", annotations: [], logprobs, text: script.text };
  return {
    added: { id, type: "message", status: "in_progress", content: [], role: "assistant" },
    done: { id, type: "message", status, content: [part], role: "assistant" },
    emitBody: (emit, output_index) => {
      const at = { item_id: id, output_index, content_index: 0 };
      emit("response.content_part.added", { ...at, part: { type: "output_text", annotations: [], logprobs: [], text: "" } });
      script.textChunks.forEach((delta, i) => {
        emit("response.output_text.delta", { ...at, delta, logprobs: (pieces[i] ?? []).map(eventLogprob) }, { content: true });
      });
      emit("response.output_text.done", { ...at, text: script.text, logprobs: logprobs.map(eventLogprob) });
      emit("response.content_part.done", { ...at, part });
    },
  };
}

function functionCallItems(call: CallContext, lastStatus: string): OutputItem[] {
  const calls = call.script.toolCalls;
  return calls.map((c, i) => {
    const id = `fc_mock_${call.callId}_${i}`;
    const item = { id, type: "function_call", call_id: c.id, name: c.name };
    return {
      added: { ...item, status: "in_progress", arguments: "" },
      done: { ...item, status: i === calls.length - 1 ? lastStatus : "completed", arguments: c.arguments },
      emitBody: (emit, output_index) => {
        const at = { item_id: id, output_index };
        for (const delta of c.argumentChunks) emit("response.function_call_arguments.delta", { ...at, delta }, { content: true });
        emit("response.function_call_arguments.done", { ...at, name: c.name, arguments: c.arguments });
      },
    };
  });
}

/** The answer's output items in order: reasoning (when the script thinks), the message, the function calls. */
function outputItems(call: CallContext): OutputItem[] {
  const { script } = call;
  // A response cut short leaves its last item incomplete.
  const last = finalStatus(call);
  const items: OutputItem[] = [];
  if (script.thinking !== undefined) items.push(reasoningItem(call, script.thinking));
  if (hasTextPart(script)) items.push(messageItem(call, script.toolCalls.length === 0 ? last : "completed"));
  items.push(...functionCallItems(call, last));
  return items;
}

/** The Response object, with the request settings OpenAI echoes (and its defaults for those not given). */
function responseObject(call: CallContext, status: "in_progress" | "completed" | "incomplete", output: Json[]): Json {
  const r = call.request;
  const echo = (key: string, fallback: unknown): unknown => r[key] ?? fallback;
  const merged = (key: string, defaults: Json): Json => {
    const given = r[key];
    return typeof given === "object" && given !== null ? { ...defaults, ...(given as Json) } : defaults;
  };
  const reason = incompleteReason(call);
  return {
    id: `resp_mock_${call.callId}`,
    object: "response",
    created_at: call.created,
    status,
    background: echo("background", false),
    completed_at: status === "completed" ? call.created : null,
    error: null,
    incomplete_details: status === "incomplete" && reason !== undefined ? { reason } : null,
    instructions: echo("instructions", null),
    max_output_tokens: echo("max_output_tokens", null),
    max_tool_calls: echo("max_tool_calls", null),
    model: call.model,
    output,
    parallel_tool_calls: echo("parallel_tool_calls", true),
    previous_response_id: echo("previous_response_id", null),
    prompt_cache_key: echo("prompt_cache_key", null),
    reasoning: merged("reasoning", { effort: null, summary: null }),
    safety_identifier: echo("safety_identifier", null),
    // OpenAI reports the tier it used; "auto" ends up as "default".
    service_tier: r["service_tier"] === undefined || r["service_tier"] === "auto" ? "default" : r["service_tier"],
    store: echo("store", true),
    temperature: echo("temperature", 1),
    text: merged("text", { format: { type: "text" }, verbosity: "medium" }),
    tool_choice: echo("tool_choice", "auto"),
    tools: echo("tools", []),
    top_logprobs: echo("top_logprobs", 0),
    top_p: echo("top_p", 1),
    truncation: echo("truncation", "disabled"),
    // OpenAI sends null, not an absent field, until the response is over.
    usage: status === "in_progress" ? null : usage(call),
    user: echo("user", null),
    metadata: echo("metadata", {}),
  };
}

function json(call: CallContext): JsonAnswer {
  const output = outputItems(call).map((item) => item.done);
  return { status: 200, body: responseObject(call, finalStatus(call), output) };
}

function stream(call: CallContext): StreamPlan {
  const frames: StreamFrame[] = [];
  const emit: Emit = (type, payload, flags = {}) => {
    frames.push({ text: sseEvent(type, { type, ...payload, sequence_number: frames.length }), ...flags });
  };

  const inProgress = responseObject(call, "in_progress", []);
  emit("response.created", { response: inProgress });
  emit("response.in_progress", { response: inProgress });
  const items = outputItems(call);
  items.forEach((item, output_index) => {
    emit("response.output_item.added", { output_index, item: item.added });
    item.emitBody(emit, output_index);
    emit("response.output_item.done", { output_index, item: item.done });
  });
  const status = finalStatus(call);
  const final = responseObject(
    call,
    status,
    items.map((item) => item.done),
  );
  emit(`response.${status}`, { response: final }, { ending: true });

  return {
    frames,
    errorFrame: (sent) => sseEvent("error", { type: "error", code: "server_error", message: scriptedFailure(call.script), param: null, sequence_number: sent }),
  };
}

/**
 * `POST /v1/responses`: the OpenAI Responses API, JSON and SSE. Thinking becomes a reasoning item with a summary;
 * `include: ["message.output_text.logprobs"]` adds logprobs to the text; `finishReason` `max_output_tokens` (or
 * `content_filter`) makes the response `incomplete`.
 */
export const responsesFormat: EndpointFormat = {
  ...OPENAI_FORMAT_BASE,
  name: "responses",
  json,
  stream,
};
