import type { CallContext, EndpointFormat, JsonAnswer } from "./endpoint";
import { sseData, type StreamFrame, type StreamPlan } from "./sse";

/** OpenAI's error `type` for an HTTP status, as its API sends them. */
function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function finishReason(call: CallContext): string {
  return call.script.finishReason ?? (call.script.toolCalls.length > 0 ? "tool_calls" : "stop");
}

function usage(call: CallContext): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const { inputTokens, outputTokens } = call.script;
  return { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
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
  return {
    status: 200,
    body: {
      id: `chatcmpl-mock-${call.callId}`,
      object: "chat.completion",
      created: call.created,
      model: call.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(call) }],
      usage: usage(call),
    },
  };
}

function stream(call: CallContext): StreamPlan {
  const { script } = call;
  const base = { id: `chatcmpl-mock-${call.callId}`, object: "chat.completion.chunk", created: call.created, model: call.model };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    sseData({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });

  const frames: StreamFrame[] = [{ text: chunk({ role: "assistant", content: "" }) }];
  for (const piece of script.textChunks) frames.push({ text: chunk({ content: piece }), content: true });
  script.toolCalls.forEach((c, index) => {
    frames.push({
      text: chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: "" } }] }),
    });
    for (const piece of c.argumentChunks) {
      frames.push({ text: chunk({ tool_calls: [{ index, function: { arguments: piece } }] }), content: true });
    }
  });
  frames.push({ text: chunk({}, finishReason(call)), ending: true });
  const options = call.request["stream_options"];
  if (typeof options === "object" && options !== null && (options as Record<string, unknown>)["include_usage"] === true) {
    frames.push({ text: sseData({ ...base, choices: [], usage: usage(call) }) });
  }
  frames.push({ text: "data: [DONE]\n\n" });

  return {
    frames,
    errorFrame: sseData({
      error: { message: `mock-llm: scripted failure after ${script.failAfter ?? 0} events`, type: "server_error", param: null, code: null },
    }),
  };
}

/** `POST /v1/chat/completions`: OpenAI Chat Completions, JSON and SSE. Thinking in a script is ignored. */
export const openaiFormat: EndpointFormat = {
  name: "openai",
  toolIdPrefix: "call_mock_",
  requestIdHeader: "x-request-id",
  errorBody: (status, type, message) => ({ error: { message, type: type ?? errorType(status), param: null, code: null } }),
  json,
  stream,
};
