import {
  createAnthropicAccumulator,
  createAnthropicStreamBuilder,
  createAnthropicStreamValidator,
  createOpenAIAccumulator,
  createOpenAIStreamGuard,
  emptyUsage,
  type AnthropicStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type ChatCompletionMessageParam,
  type ContentBlock,
  type Message,
  type MessageCreateParams,
  type MessageParam,
  type StopReason,
} from "@luthien/wire";
import {
  isDeny,
  isRespond,
  type AnyPolicy,
  type CallInfo,
  type DenyDecision,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
  type RequestOutcome,
} from "./policy";
import { chainMode, startChainRun } from "./chain";
import type { ToolCall } from "./tool-call-gate";

/** What to run a policy against: a request, and a whole response or a recorded stream in the same format. */
export interface RunPolicyInput {
  request: PolicyRequest;
  /** A non-streaming response. Ignored when the request is denied or answered by a policy. */
  response?: PolicyResponse;
  /** A recorded stream (`openAIStream`, `anthropicStream`, or captured events). Ignored like `response`. */
  stream?: readonly PolicyEvent[];
  /** Call info the policies see. @default callId "test-call", format of the request, keyId/userId/sessionId "", the request's model */
  info?: Partial<CallInfo>;
}

/** One `ctx.emit(action, data)`, as the activity event `policy.<policy>.<action>`. */
export interface RecordedActivity {
  policy: string;
  action: string;
  data: Record<string, unknown> | undefined;
}

/** What a run produced. */
export interface PolicyRun {
  /** The request as the provider would get it, or the deny / respond decision. */
  request: RequestOutcome;
  /**
   * The response the client gets: the chain's answer for a whole response, the stream as the client would assemble
   * it (after the gateway's stream stage) for a stream, the decision's response for a respond, undefined otherwise.
   */
  response: PolicyResponse | DenyDecision | undefined;
  /** A stream's events as the chain emitted them. */
  events: PolicyEvent[];
  /**
   * A stream's events as the client gets them: OpenAI chunks checked by the gateway's stream guard; Anthropic
   * events rebuilt by the gateway's stream builder (blocks renumbered, tool_use trailing, stop reason settled).
   */
  delivered: PolicyEvent[];
  /** Every `ctx.emit`, in order. */
  activity: RecordedActivity[];
  /** How many times a policy called `ctx.keepalive()`. */
  keepalives: number;
  /**
   * The client's assistant text, format-agnostic: OpenAI choice 0's content, or the Anthropic text blocks joined by
   * a blank line ("" when there is no response, e.g. a denied request).
   */
  text: string;
  /** The client's tool calls, in order, inputs parsed from JSON (OpenAI choice 0; Anthropic tool_use blocks). */
  toolCalls: ToolCall[];
  /** Why the response stopped: Anthropic `stop_reason`, OpenAI choice 0's `finish_reason` (null without one). */
  stopReason: string | null;
}


/**
 * Runs a policy (or a chain, each policy seeing the previous one's output) in-process the way the engine and the
 * gateway do: `onRequest` through the chain (a deny or respond stops there); then, unless the chain's mode is SKIP,
 * `onResponse` for a whole response or `onEvent` per event and `onStreamEnd` for a stream (what a policy releases
 * at the end passes the policies after it). In OBSERVE mode the policies see everything and the output is the input.
 *
 * @throws what a policy throws, and StreamProtocolError when the emitted stream breaks its format's rules in a way
 *   the gateway would refuse (OpenAI) or could not repair (Anthropic)
 */
export async function runPolicy(policy: AnyPolicy | readonly AnyPolicy[], input: RunPolicyInput): Promise<PolicyRun> {
  const policies: readonly AnyPolicy[] = isPolicyList(policy) ? policy : [policy];
  const { request } = input;
  const model = typeof request.body.model === "string" ? request.body.model : "";
  const info: CallInfo = {
    callId: "test-call",
    format: request.format,
    stream: input.stream !== undefined,
    keyId: "",
    userId: "",
    sessionId: "",
    model,
    ...input.info,
  };
  const activity: RecordedActivity[] = [];
  let keepalives = 0;
  const run = startChainRun(policies, info, {
    emit: (policyName, action, data) => activity.push({ policy: policyName, action, data }),
    keepalive: () => {
      keepalives++;
    },
  });
  const result = (r: Pick<PolicyRun, "request"> & Partial<Pick<PolicyRun, "response" | "events" | "delivered">>): PolicyRun => ({
    response: undefined,
    events: [],
    delivered: [],
    activity,
    keepalives,
    ...r,
    ...summarize(r.response),
  });

  const outcome = await run.onRequest(request);
  if (isDeny(outcome)) return result({ request: outcome });
  if (isRespond(outcome)) return result({ request: outcome, response: outcome.response });
  const current = outcome;
  // As the engine does: SKIP sees nothing of the response, OBSERVE sees it but changes nothing.
  const mode = chainMode(policies);

  if (input.response !== undefined) {
    if (mode === "SKIP") return result({ request: current, response: input.response });
    const response = await run.onResponse(input.response);
    return result({ request: current, response: mode === "OBSERVE" ? input.response : response });
  }

  if (input.stream === undefined) return result({ request: current });

  let events: PolicyEvent[] = [];
  if (mode === "SKIP") events = [...input.stream];
  else {
    for (const e of input.stream) events.push(...(await run.onEvent(e)));
    events.push(...(await run.onStreamEnd()));
    if (mode === "OBSERVE") events = [...input.stream];
  }
  const { delivered, response } = deliver(request.format, events);
  return result({ request: current, response, events, delivered });
}

/** The format-agnostic view of a response: text, tool calls, stop reason. */
function summarize(response: PolicyResponse | DenyDecision | undefined): Pick<PolicyRun, "text" | "toolCalls" | "stopReason"> {
  if (response === undefined || isDeny(response)) return { text: "", toolCalls: [], stopReason: null };
  if (response.format === "openai") {
    const choice = response.body.choices[0];
    return {
      text: choice?.message.content ?? "",
      toolCalls: (choice?.message.tool_calls ?? []).map((t) =>
        t.type === "function" ? { id: t.id, name: t.function.name, input: parseArguments(t.function.arguments) } : { id: t.id, name: t.custom.name, input: t.custom.input },
      ),
      stopReason: choice?.finish_reason ?? null,
    };
  }
  const { content, stop_reason: stopReason } = response.body;
  return {
    text: content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n\n"),
    toolCalls: content.flatMap((b) => (b.type === "tool_use" ? [{ id: b.id, name: b.name, input: b.input }] : [])),
    stopReason,
  };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isPolicyList(p: AnyPolicy | readonly AnyPolicy[]): p is readonly AnyPolicy[] {
  return Array.isArray(p);
}

/** The gateway's stream stage, then the client's accumulator. */
function deliver(format: PolicyRequest["format"], events: readonly PolicyEvent[]): { delivered: PolicyEvent[]; response: PolicyResponse | undefined } {
  if (format === "openai") {
    const guard = createOpenAIStreamGuard();
    const acc = createOpenAIAccumulator();
    const delivered: PolicyEvent[] = [];
    for (const e of events) {
      if (e.format !== "openai") throw new Error("an Anthropic event in an OpenAI stream");
      guard.check(e.chunk);
      acc.push(e.chunk);
      delivered.push(e);
    }
    const body = acc.result();
    return { delivered, response: body === undefined ? undefined : { format: "openai", body } };
  }
  const builder = createAnthropicStreamBuilder();
  const validator = createAnthropicStreamValidator();
  const acc = createAnthropicAccumulator();
  const out: AnthropicStreamEvent[] = [];
  for (const e of events) {
    if (e.format !== "anthropic") throw new Error("an OpenAI chunk in an Anthropic stream");
    out.push(...builder.push(e.event));
  }
  if (out.length > 0 || events.length > 0) out.push(...builder.end());
  for (const e of out) {
    validator.check(e);
    acc.push(e);
  }
  const body = acc.result();
  return { delivered: out.map((event) => ({ format: "anthropic", event })), response: body === undefined ? undefined : { format: "anthropic", body } };
}

// --- Recorded traffic builders ---

/** A tool call in a recorded reply. */
export interface RecordedToolCall {
  name: string;
  /** The arguments as a value (sent as its JSON), or `arguments` as raw JSON text. @default {} */
  input?: unknown;
  arguments?: string;
  /** Stream the arguments as exactly these fragments (they must join to the JSON text). @default one fragment */
  argumentChunks?: readonly string[];
  /** @default `call_<i>` (OpenAI) or `toolu_<i>` (Anthropic) */
  id?: string;
}

/** A model's reply, for the builders below. */
export interface RecordedReply {
  /** @default "" */
  text?: string;
  /** The text as exactly these deltas (joined, the text). @default [text] */
  chunks?: readonly string[];
  /** Tool calls after the text, in order. */
  toolCalls?: readonly RecordedToolCall[];
  /** @default "gpt-4o-mini" / "claude-test" */
  model?: string;
}

export interface RecordedOpenAIReply extends RecordedReply {
  /** @default "tool_calls" with tool calls, else "stop" */
  finishReason?: ChatCompletion.Choice["finish_reason"];
}

export interface RecordedAnthropicReply extends RecordedReply {
  /** A thinking block before the text. */
  thinking?: string;
  /** @default "tool_use" with tool calls, else "end_turn" */
  stopReason?: StopReason;
}

const argumentText = (call: RecordedToolCall): string => call.arguments ?? JSON.stringify(call.input ?? {});
const textPieces = (reply: RecordedReply): string[] => [...(reply.chunks ?? (reply.text !== undefined && reply.text !== "" ? [reply.text] : []))];

/** A user turn as an OpenAI request (`gpt-4o-mini` unless `extra` says otherwise). */
export function openAIRequest(content: string | ChatCompletionMessageParam[], extra: Partial<ChatCompletionCreateParams> = {}): PolicyRequest {
  const messages = typeof content === "string" ? [{ role: "user" as const, content }] : content;
  return { format: "openai", body: { model: "gpt-4o-mini", messages, ...extra } as ChatCompletionCreateParams };
}

/** A user turn as an Anthropic request (`claude-test`, `max_tokens` 1024 unless `extra` says otherwise). */
export function anthropicRequest(content: string | MessageParam[], extra: Partial<MessageCreateParams> = {}): PolicyRequest {
  const messages = typeof content === "string" ? [{ role: "user" as const, content }] : content;
  return { format: "anthropic", body: { model: "claude-test", max_tokens: 1024, messages, ...extra } as MessageCreateParams };
}

/** The reply as an OpenAI `chat.completion`. */
export function openAIResponse(reply: RecordedOpenAIReply): PolicyResponse {
  const calls = reply.toolCalls ?? [];
  const text = textPieces(reply).join("");
  const body: ChatCompletion = {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1,
    model: reply.model ?? "gpt-4o-mini",
    choices: [{
      index: 0,
      logprobs: null,
      finish_reason: reply.finishReason ?? (calls.length > 0 ? "tool_calls" : "stop"),
      message: {
        role: "assistant",
        content: text === "" && calls.length > 0 ? null : text,
        refusal: null,
        ...(calls.length > 0
          ? { tool_calls: calls.map((c, i) => ({ id: c.id ?? `call_${i}`, type: "function" as const, function: { name: c.name, arguments: argumentText(c) } })) }
          : {}),
      },
    }],
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
  };
  return { format: "openai", body };
}

/** The reply as OpenAI stream chunks: role, text deltas, tool calls (name first, then argument fragments), finish, usage. */
export function openAIStream(reply: RecordedOpenAIReply): PolicyEvent[] {
  const base = { id: "chatcmpl-test", object: "chat.completion.chunk" as const, created: 1, model: reply.model ?? "gpt-4o-mini" };
  const chunk = (delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice["finish_reason"] = null): PolicyEvent => ({
    format: "openai",
    chunk: { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] },
  });
  const calls = reply.toolCalls ?? [];
  const events = [chunk({ role: "assistant", content: "" }), ...textPieces(reply).map((content) => chunk({ content }))];
  calls.forEach((c, index) => {
    events.push(chunk({ tool_calls: [{ index, id: c.id ?? `call_${index}`, type: "function", function: { name: c.name, arguments: "" } }] }));
    for (const piece of c.argumentChunks ?? [argumentText(c)]) events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
  });
  events.push(chunk({}, reply.finishReason ?? (calls.length > 0 ? "tool_calls" : "stop")));
  events.push({ format: "openai", chunk: { ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } } });
  return events;
}

/** The reply as an Anthropic `Message`. */
export function anthropicResponse(reply: RecordedAnthropicReply): PolicyResponse {
  const calls = reply.toolCalls ?? [];
  const text = textPieces(reply).join("");
  const content: ContentBlock[] = [];
  if (reply.thinking !== undefined) content.push({ type: "thinking", thinking: reply.thinking, signature: "sig" });
  if (text !== "") content.push({ type: "text", text, citations: null });
  calls.forEach((c, i) =>
    content.push({ type: "tool_use", id: c.id ?? `toolu_${i}`, name: c.name, input: JSON.parse(argumentText(c)) as unknown, caller: { type: "direct" } }),
  );
  return { format: "anthropic", body: anthropicMessage(reply, content, reply.stopReason ?? (calls.length > 0 ? "tool_use" : "end_turn")) };
}

/** The reply as Anthropic stream events: message_start, thinking, text, tool_use blocks, message_delta, message_stop. */
export function anthropicStream(reply: RecordedAnthropicReply): PolicyEvent[] {
  const calls = reply.toolCalls ?? [];
  const events: AnthropicStreamEvent[] = [{ type: "message_start", message: anthropicMessage(reply, [], null) }];
  let index = 0;
  if (reply.thinking !== undefined) {
    events.push(
      { type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } },
      { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: reply.thinking } },
      { type: "content_block_delta", index, delta: { type: "signature_delta", signature: "sig" } },
      { type: "content_block_stop", index },
    );
    index++;
  }
  const pieces = textPieces(reply);
  if (pieces.length > 0) {
    events.push({ type: "content_block_start", index, content_block: { type: "text", text: "", citations: null } });
    for (const text of pieces) events.push({ type: "content_block_delta", index, delta: { type: "text_delta", text } });
    events.push({ type: "content_block_stop", index });
    index++;
  }
  calls.forEach((c, i) => {
    events.push({ type: "content_block_start", index, content_block: { type: "tool_use", id: c.id ?? `toolu_${i}`, name: c.name, input: {}, caller: { type: "direct" } } });
    for (const partial_json of c.argumentChunks ?? [argumentText(c)]) events.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json } });
    events.push({ type: "content_block_stop", index });
    index++;
  });
  events.push(
    {
      type: "message_delta",
      delta: { stop_reason: reply.stopReason ?? (calls.length > 0 ? "tool_use" : "end_turn"), stop_sequence: null, stop_details: null, container: null },
      usage: { output_tokens: 10, input_tokens: 10, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens_details: null, server_tool_use: null },
    },
    { type: "message_stop" },
  );
  return events.map((event) => ({ format: "anthropic", event }));
}

function anthropicMessage(reply: RecordedReply, content: ContentBlock[], stopReason: StopReason | null): Message {
  return {
    id: "msg_test",
    type: "message",
    role: "assistant",
    model: reply.model ?? "claude-test",
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: { ...emptyUsage(), input_tokens: 10, output_tokens: stopReason === null ? 0 : 10 },
  };
}
