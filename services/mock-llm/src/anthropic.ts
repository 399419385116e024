import type { CallContext, EndpointFormat, JsonAnswer } from "./endpoint";
import { hasTextPart } from "./script";
import { scriptedFailure, sseEvent, type StreamFrame, type StreamPlan } from "./sse";

/** Anthropic's error `type` for an HTTP status, as its API sends them. */
function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 402) return "billing_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 504) return "timeout_error";
  if (status === 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

function errorBody(status: number, type: string | undefined, message: string): unknown {
  return { type: "error", error: { type: type ?? errorType(status), message } };
}

function stopReason(call: CallContext): string {
  return call.script.finishReason ?? (call.script.toolCalls.length > 0 ? "tool_use" : "end_turn");
}

function json(call: CallContext): JsonAnswer {
  const { script } = call;
  const content: unknown[] = [];
  if (script.thinking !== undefined) {
    content.push({ type: "thinking", thinking: script.thinking.text, signature: script.thinking.signature });
  }
  if (hasTextPart(script)) content.push({ type: "text", text: script.text });
  for (const [i, c] of script.toolCalls.entries()) {
    let input: unknown;
    try {
      input = JSON.parse(c.arguments);
    } catch {
      input = undefined;
    }
    // A streamed answer can carry any fragments, but a whole Message needs `input` as an object.
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      const message = `mock-llm: script toolCalls[${i}].arguments is not a JSON object, which a non-streaming Anthropic answer needs`;
      return { status: 500, body: errorBody(500, "api_error", message) };
    }
    content.push({ type: "tool_use", id: c.id, name: c.name, input });
  }
  return {
    status: 200,
    body: {
      id: `msg_mock_${call.callId}`,
      type: "message",
      role: "assistant",
      content,
      model: call.model,
      stop_reason: stopReason(call),
      stop_sequence: null,
      usage: { input_tokens: script.inputTokens, output_tokens: script.outputTokens },
    },
  };
}

function stream(call: CallContext): StreamPlan {
  const { script } = call;
  const frames: StreamFrame[] = [];
  const event = (type: string, payload: Record<string, unknown>, flags: Omit<StreamFrame, "text"> = {}): void => {
    frames.push({ text: sseEvent(type, { type, ...payload }), ...flags });
  };

  event("message_start", {
    message: {
      id: `msg_mock_${call.callId}`,
      type: "message",
      role: "assistant",
      content: [],
      model: call.model,
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: script.inputTokens, output_tokens: 0 },
    },
  });
  event("ping", {});

  let index = 0;
  const block = (start: Record<string, unknown>, deltas: readonly Record<string, unknown>[], signature?: string): void => {
    event("content_block_start", { index, content_block: start });
    for (const delta of deltas) event("content_block_delta", { index, delta }, { content: true });
    // The signature closes a thinking block; it is not content, so failAfter/hangAfter do not count it.
    if (signature !== undefined) event("content_block_delta", { index, delta: { type: "signature_delta", signature } });
    event("content_block_stop", { index });
    index += 1;
  };

  if (script.thinking !== undefined) {
    block(
      { type: "thinking", thinking: "", signature: "" },
      script.thinking.chunks.map((thinking) => ({ type: "thinking_delta", thinking })),
      script.thinking.signature,
    );
  }
  if (hasTextPart(script)) {
    block(
      { type: "text", text: "" },
      script.textChunks.map((text) => ({ type: "text_delta", text })),
    );
  }
  for (const c of script.toolCalls) {
    block(
      { type: "tool_use", id: c.id, name: c.name, input: {} },
      c.argumentChunks.map((partial_json) => ({ type: "input_json_delta", partial_json })),
    );
  }

  event("message_delta", { delta: { stop_reason: stopReason(call), stop_sequence: null }, usage: { output_tokens: script.outputTokens } }, { ending: true });
  event("message_stop", {});

  return {
    frames,
    errorFrame: () =>
      sseEvent("error", {
        type: "error",
        error: { type: "api_error", message: scriptedFailure(script) },
      }),
  };
}

/** `POST /v1/messages`: Anthropic Messages, JSON and SSE. */
export const anthropicFormat: EndpointFormat = {
  name: "anthropic",
  toolIdPrefix: "toolu_mock_",
  requestIdHeader: "request-id",
  errorBody,
  json,
  stream,
};
