import type { CallContext, EndpointFormat, JsonAnswer } from "./endpoint";
import { requestedTopLogprobs, textLogprobs, type TokenLogprob } from "./logprobs";
import { scriptedFailure, sseData, type StreamFrame, type StreamPlan } from "./sse";

/** OpenAI's error `type` for an HTTP status, as its API sends them. */
function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** An HTTP error body in OpenAI's format, shared by every OpenAI endpoint. */
export function openaiErrorBody(status: number, type: string | undefined, message: string): unknown {
  return { error: { message, type: type ?? errorType(status), param: null, code: null } };
}

/** What every OpenAI endpoint format shares: tool-call ids, request-id header, error bodies. */
export const OPENAI_FORMAT_BASE: Pick<EndpointFormat, "toolIdPrefix" | "requestIdHeader" | "errorBody"> = {
  toolIdPrefix: "call_mock_",
  requestIdHeader: "x-request-id",
  errorBody: openaiErrorBody,
};

function finishReason(call: CallContext): string {
  return call.script.finishReason ?? (call.script.toolCalls.length > 0 ? "tool_calls" : "stop");
}

function usage(call: CallContext): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const { inputTokens, outputTokens } = call.script;
  return { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

/** Chat Completions `choices[].logprobs`; `entries` undefined (not asked for) gives null. */
function choiceLogprobs(entries: TokenLogprob[] | undefined): { content: TokenLogprob[]; refusal: null } | null {
  return entries === undefined ? null : { content: entries, refusal: null };
}

/** Per text piece, its logprob entries when the request has `logprobs: true`, else undefined. */
function pieceLogprobsOf(call: CallContext): TokenLogprob[][] | undefined {
  if (call.request["logprobs"] !== true) return undefined;
  return textLogprobs(call.script.textChunks, requestedTopLogprobs(call.request));
}

function json(call: CallContext): JsonAnswer {
  const { script } = call;
  const hasTools = script.toolCalls.length > 0;
  const message: Record<string, unknown> = {
    role: "assistant",
    // OpenAI sends null, not "", when the model only called tools.
    content: hasTools && script.text === "" ? null : script.text,
    refusal: null,
  };
  if (hasTools) {
    message["tool_calls"] = script.toolCalls.map((c) => ({
      id: c.id,
      type: "function",
      function: { name: c.name, arguments: c.arguments },
    }));
  }
  const logprobs = choiceLogprobs(pieceLogprobsOf(call)?.flat());
  return {
    status: 200,
    body: {
      id: `chatcmpl-mock-${call.callId}`,
      object: "chat.completion",
      created: call.created,
      model: call.model,
      choices: [{ index: 0, message, logprobs, finish_reason: finishReason(call) }],
      usage: usage(call),
    },
  };
}

/**
 * The frames every OpenAI SSE stream ends with: the finish chunk (the ending), the usage chunk (`base` with no
 * choices) when the request's `stream_options.include_usage` asks for it, and `[DONE]`.
 */
function streamEnd(call: CallContext, base: Record<string, unknown>, finishChunk: string): StreamFrame[] {
  const frames: StreamFrame[] = [{ text: finishChunk, ending: true }];
  const options = call.request["stream_options"];
  if (typeof options === "object" && options !== null && (options as Record<string, unknown>)["include_usage"] === true) {
    frames.push({ text: sseData({ ...base, choices: [], usage: usage(call) }) });
  }
  frames.push({ text: "data: [DONE]\n\n" });
  return frames;
}

/** OpenAI's mid-stream error: a bare `data: {error}` event, which the SDK raises as an APIError. */
function errorFrame(call: CallContext): () => string {
  return () => sseData({ error: { message: scriptedFailure(call.script), type: "server_error", param: null, code: null } });
}

function stream(call: CallContext): StreamPlan {
  const { script } = call;
  const base = { id: `chatcmpl-mock-${call.callId}`, object: "chat.completion.chunk", created: call.created, model: call.model };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, logprobs: unknown = null): string =>
    sseData({ ...base, choices: [{ index: 0, delta, logprobs, finish_reason: finish }] });

  const logprobs = pieceLogprobsOf(call);
  const frames: StreamFrame[] = [{ text: chunk({ role: "assistant", content: "" }) }];
  script.textChunks.forEach((piece, i) => {
    frames.push({ text: chunk({ content: piece }, null, choiceLogprobs(logprobs?.[i])), content: true });
  });
  script.toolCalls.forEach((c, index) => {
    frames.push({
      text: chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: "" } }] }),
    });
    for (const piece of c.argumentChunks) {
      frames.push({ text: chunk({ tool_calls: [{ index, function: { arguments: piece } }] }), content: true });
    }
  });
  frames.push(...streamEnd(call, base, chunk({}, finishReason(call))));
  return { frames, errorFrame: errorFrame(call) };
}

/** `POST /v1/chat/completions`: OpenAI Chat Completions, JSON and SSE. Thinking in a script is ignored. */
export const openaiFormat: EndpointFormat = {
  ...OPENAI_FORMAT_BASE,
  name: "openai",
  json,
  stream,
};

function completionChoice(text: string, finish: string | null): Record<string, unknown> {
  return { text, index: 0, logprobs: null, finish_reason: finish };
}

function completionFinish(call: CallContext): string {
  return call.script.finishReason ?? "stop";
}

function completionBase(call: CallContext): Record<string, unknown> {
  return { id: `cmpl-mock-${call.callId}`, object: "text_completion", created: call.created, model: call.model };
}

/**
 * `POST /v1/completions`: legacy OpenAI Completions, JSON and SSE. The script's text is the completion; thinking
 * and tool calls are ignored, and `logprobs` is always null.
 */
export const completionsFormat: EndpointFormat = {
  ...OPENAI_FORMAT_BASE,
  name: "completions",
  json: (call) => ({
    status: 200,
    body: {
      ...completionBase(call),
      choices: [completionChoice(call.script.text, completionFinish(call))],
      usage: usage(call),
    },
  }),
  stream: (call) => {
    const base = completionBase(call);
    const chunk = (text: string, finish: string | null): string => sseData({ ...base, choices: [completionChoice(text, finish)] });
    const frames: StreamFrame[] = call.script.textChunks.map((piece) => ({ text: chunk(piece, null), content: true }));
    frames.push(...streamEnd(call, base, chunk("", completionFinish(call))));
    return { frames, errorFrame: errorFrame(call) };
  },
};
