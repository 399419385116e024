import {
  SSE_DONE,
  StreamEvent,
  createAnthropicAccumulator,
  createClientStage,
  createClientValidator,
  createOpenAIAccumulator,
  emptyUsage,
  outputTextOf,
  type AnthropicStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type ChatCompletionMessageParam,
  type ContentBlock,
  type Message,
  type MessageCreateParams,
  type MessageParam,
  type ResponsesInputItem,
  type ResponsesRequest,
  type ResponsesResponse,
  type ResponsesStreamEvent,
  type StopReason,
  StreamProtocolError,
} from "@luthien/wire";
import {
  isDeny,
  isRespond,
  type AnyPolicy,
  type ApprovalOutcome,
  type ApprovalRequest,
  type CallInfo,
  type DenyDecision,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
  type RequestOutcome,
} from "./policy";
import { startCallRun } from "./chain";
import { responsesCallOf } from "./internal/responses-calls";
import type { OutputItem, OutputMessage } from "./internal/responses-output";
import type { ToolCall } from "./tool-call-gate";

/** What to run a policy against: a request, and a whole response or a recorded stream in the same format. */
export interface RunPolicyInput {
  request: PolicyRequest;
  /** A non-streaming response. Ignored when the request is denied or answered by a policy. */
  response?: PolicyResponse;
  /** A recorded stream (`openAIStream`, `anthropicStream`, `responsesStream`, or captured events). Ignored like `response`. */
  stream?: readonly PolicyEvent[];
  /** Call info the policies see. @default callId "test-call", format of the request, keyId/userId/sessionId "", the request's model */
  info?: Partial<CallInfo>;
  /**
   * Answers `ctx.requestApproval` (a gate's `ask`), as a person would. @default refuses every request
   * (`unavailable`), as an engine without an approval channel does
   */
  approve?(request: ApprovalRequest & { policy: string; timeoutMs: number }): ApprovalOutcome | Promise<ApprovalOutcome>;
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
   * events rebuilt by the gateway's stream builder (blocks renumbered, tool_use trailing, stop reason settled);
   * Responses events renumbered (`sequence_number` 0, 1, ...) as the gateway does, and checked: items open and close
   * in output order, every done event repeats exactly what its deltas said, and the final response's output is the
   * items the stream delivered.
   */
  delivered: PolicyEvent[];
  /** Every `ctx.emit`, in order. */
  activity: RecordedActivity[];
  /** How many times a policy called `ctx.keepalive()`. */
  keepalives: number;
  /**
   * The client's assistant text, format-agnostic: OpenAI choice 0's content, or the Anthropic text blocks or the
   * Responses output_text parts joined by a blank line ("" when there is no response, e.g. a denied request).
   */
  text: string;
  /**
   * The client's tool calls, in order, inputs parsed from JSON (OpenAI choice 0; Anthropic tool_use blocks;
   * Responses call items as the tool-call gate sees them). For a Responses stream: the final response's.
   */
  toolCalls: ToolCall[];
  /**
   * Why the response stopped: Anthropic `stop_reason`, OpenAI choice 0's `finish_reason`, Responses `status`
   * (null without one).
   */
  stopReason: string | null;
}

/**
 * Runs a policy (or a chain, each policy seeing the previous one's output) in-process the way the engine and the
 * gateway do: `onRequest` through the chain (a deny or respond stops there); then, unless the chain's mode is SKIP,
 * `onResponse` for a whole response or `onEvent` per event and `onStreamEnd` for a stream (what a policy releases
 * at the end passes the policies after it). In OBSERVE mode the policies see everything and the output is the input.
 * The chain runs through {@link startCallRun}, the engine's own run. The request, the response and the stream's
 * events are frozen (deeply) before policies see them, since a change made in place never reaches a client.
 *
 * @throws what a policy throws (a TypeError when it writes to its frozen input), and StreamProtocolError when the emitted stream breaks its format's rules in a way
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
    owner: "",
    userId: "",
    sessionId: "",
    model,
    ...input.info,
  };
  const activity: RecordedActivity[] = [];
  let keepalives = 0;
  const approve = input.approve;
  const run = startCallRun(policies, info, {
    emit: (policyName, action, data) => activity.push({ policy: policyName, action, data }),
    keepalive: () => {
      keepalives++;
    },
    ...(approve !== undefined ? { requestApproval: async (policyName: string, req: ApprovalRequest, timeoutMs: number) => approve({ ...req, policy: policyName, timeoutMs }) } : {}),
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

  // The engine reads "the same object back" as "unchanged" and sends the gateway's copy, so a policy that changes
  // its input in place would pass here and change nothing in production: frozen, such a write throws.
  const outcome = await run.onRequest(deepFreeze(request));
  if (isDeny(outcome)) return result({ request: outcome });
  if (isRespond(outcome)) return result({ request: outcome, response: outcome.response });
  const current = outcome;

  if (input.response !== undefined) return result({ request: current, response: await run.onResponse(deepFreeze(input.response)) });

  if (input.stream === undefined) return result({ request: current });

  const events: PolicyEvent[] = [];
  for (const e of input.stream) {
    const emitted = await run.onEvent(deepFreeze(e));
    if (emitted === "unchanged") events.push(e);
    else events.push(...emitted);
  }
  events.push(...(await run.onStreamEnd()));
  const { delivered, response } = deliver(request.format, events);
  return result({ request: current, response, events, delivered });
}

/** Freezes `value` and everything it holds (what is frozen already is taken as frozen through). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}

/** The format-agnostic view of a response: text, tool calls, stop reason. */
function summarize(response: PolicyResponse | DenyDecision | undefined): Pick<PolicyRun, "text" | "toolCalls" | "stopReason"> {
  if (response === undefined || isDeny(response)) return { text: "", toolCalls: [], stopReason: null };
  switch (response.format) {
    case "openai": {
      const choice = response.body.choices[0];
      return {
        text: choice?.message.content ?? "",
        toolCalls: (choice?.message.tool_calls ?? []).map((t) =>
          t.type === "function" ? { id: t.id, name: t.function.name, input: parseArguments(t.function.arguments) } : { id: t.id, name: t.custom.name, input: t.custom.input },
        ),
        stopReason: choice?.finish_reason ?? null,
      };
    }
    case "anthropic": {
      const { content, stop_reason: stopReason } = response.body;
      return {
        text: content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n\n"),
        toolCalls: content.flatMap((b) => (b.type === "tool_use" ? [{ id: b.id, name: b.name, input: b.input }] : [])),
        stopReason,
      };
    }
    case "responses": {
      const { output, status } = response.body;
      return {
        text: output.flatMap((item) => (item.type === "message" ? item.content.flatMap((p) => (p.type === "output_text" ? [p.text] : [])) : [])).join("\n\n"),
        toolCalls: output.flatMap((item) => responsesCallOf(item) ?? []),
        stopReason: status ?? null,
      };
    }
    default: {
      const unknown: never = response;
      throw new Error(`unknown response format ${JSON.stringify(unknown)}`);
    }
  }
}

/** Arguments as a client reads them for display: blank is `{}` (as the SDKs read it), text that is not JSON stays text. */
function parseArguments(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isPolicyList(p: AnyPolicy | readonly AnyPolicy[]): p is readonly AnyPolicy[] {
  return Array.isArray(p);
}

const RESPONSES_ENDS: ReadonlySet<string> = new Set(["response.completed", "response.incomplete", "response.failed", "error"]);

/** The gateway's client stage (the same one), its validator, then the client's accumulator. */
function deliver(format: PolicyRequest["format"], events: readonly PolicyEvent[]): { delivered: PolicyEvent[]; response: PolicyResponse | undefined } {
  const stage = createClientStage(format);
  const validate = createClientValidator(format);
  const staged: StreamEvent[] = [];
  for (const e of events) {
    if (e.format !== format) throw new Error(`a ${e.format} event in a ${format} stream`);
    staged.push(...stage.push(e.format === "openai" ? StreamEvent.fromJson(undefined, e.chunk) : StreamEvent.fromJson(e.event.type, e.event)));
  }
  // A recorded Responses stream cut before its terminal event is delivered as far as it went: the gateway's stage
  // would refuse to end it, and the client would get an error event after these.
  const cut = format === "responses" && !events.some((e) => e.format === "responses" && RESPONSES_ENDS.has(e.event.type));
  if (events.length > 0 && !cut) staged.push(...stage.end());
  for (const e of staged) validate(e);
  const out = staged.filter((e) => e.data !== SSE_DONE);
  switch (format) {
    case "openai": {
      const acc = createOpenAIAccumulator();
      for (const e of out) acc.push(e.json<ChatCompletionChunk>());
      const body = acc.result();
      return { delivered: out.map((e) => ({ format, chunk: e.json<ChatCompletionChunk>() })), response: body === undefined ? undefined : { format, body } };
    }
    case "anthropic": {
      const acc = createAnthropicAccumulator();
      for (const e of out) acc.push(e.json<AnthropicStreamEvent>());
      const body = acc.result();
      return { delivered: out.map((e) => ({ format, event: e.json<AnthropicStreamEvent>() })), response: body === undefined ? undefined : { format, body } };
    }
    case "responses":
      return checkResponses(out.map((e) => e.json<ResponsesStreamEvent>()));
    default: {
      const unknown: never = format;
      throw new Error(`unknown format ${String(unknown)}`);
    }
  }
}

/** JSON with sorted keys, to compare items whatever order their fields were spread in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * Responses, after the gateway's stage: checks what a client relies on (openai-node's stream helper, the
 * AI SDK, the Agents SDK each read a different part of it): items are added in output order and done before the
 * response ends; deltas belong to an open item; each done event repeats what the deltas said; the final response's
 * output is exactly the items delivered (when it delivered any). The response is the final one (`response.completed` and the like).
 * @throws StreamProtocolError on the first broken rule
 */
function checkResponses(events: readonly ResponsesStreamEvent[]): { delivered: PolicyEvent[]; response: PolicyResponse | undefined } {
  const fail = (why: string): never => {
    throw new StreamProtocolError(`Responses stream: ${why}`);
  };
  const delivered: ResponsesStreamEvent[] = [];
  const items: OutputItem[] = [];
  const open = new Map<number, { itemId: string | undefined; texts: Map<number, string>; args: string | undefined }>();
  let final: ResponsesResponse | undefined;
  let ended = false;
  for (const [i, event] of events.entries()) {
    if (ended) fail(`${event.type} after the end of the response`);
    if (i === 0 && event.type !== "response.created" && event.type !== "response.queued" && event.type !== "error") fail(`the first event is ${event.type}`);
    delivered.push(event);
    const itemOf = (outputIndex: number, itemId: string) => {
      const o = open.get(outputIndex);
      if (o === undefined) return fail(`${event.type} for output index ${outputIndex}, which is not open`);
      if (o.itemId !== undefined && o.itemId !== itemId) fail(`${event.type} names item ${itemId}, output index ${outputIndex} holds ${o.itemId}`);
      return o;
    };
    switch (event.type) {
      case "response.output_item.added":
        if (event.output_index !== items.length + open.size) fail(`item added at output index ${event.output_index}, expected ${items.length + open.size}`);
        open.set(event.output_index, { itemId: "id" in event.item && typeof event.item.id === "string" ? event.item.id : undefined, texts: new Map(), args: undefined });
        break;
      case "response.output_text.delta": {
        const o = itemOf(event.output_index, event.item_id);
        o.texts.set(event.content_index, (o.texts.get(event.content_index) ?? "") + event.delta);
        break;
      }
      case "response.output_text.done": {
        // Without deltas, the done event is the text (and every later copy must say the same).
        const o = itemOf(event.output_index, event.item_id);
        const said = o.texts.get(event.content_index);
        if (said === undefined) o.texts.set(event.content_index, event.text);
        else if (said !== event.text) fail(`output_text.done of ${event.item_id} says ${JSON.stringify(event.text)}, its deltas ${JSON.stringify(said)}`);
        break;
      }
      case "response.content_part.done": {
        const o = itemOf(event.output_index, event.item_id);
        if (event.part.type !== "output_text") break;
        const said = o.texts.get(event.content_index);
        if (said === undefined) o.texts.set(event.content_index, event.part.text);
        else if (said !== event.part.text) fail(`content_part.done of ${event.item_id} says ${JSON.stringify(event.part.text)}, before ${JSON.stringify(said)}`);
        break;
      }
      case "response.function_call_arguments.delta":
      case "response.custom_tool_call_input.delta": {
        const o = itemOf(event.output_index, event.item_id);
        o.args = (o.args ?? "") + event.delta;
        break;
      }
      case "response.function_call_arguments.done":
      case "response.custom_tool_call_input.done": {
        const o = itemOf(event.output_index, event.item_id);
        const args = event.type === "response.function_call_arguments.done" ? event.arguments : event.input;
        if ((o.args ?? "") !== args) fail(`${event.type} of ${event.item_id} differs from its deltas`);
        break;
      }
      case "response.output_item.done": {
        const o = open.get(event.output_index);
        if (o === undefined) return fail(`item done at output index ${event.output_index}, which is not open`);
        const { item } = event;
        if ("id" in item && o.itemId !== undefined && item.id !== o.itemId) fail(`output_item.done names item ${String(item.id)}, expected ${o.itemId}`);
        if (item.type === "message") {
          item.content.forEach((p, j) => {
            if (p.type === "output_text" && o.texts.has(j) && o.texts.get(j) !== p.text) fail(`output_item.done of ${item.id} has other text than its deltas`);
          });
        }
        const args = item.type === "function_call" ? item.arguments : item.type === "custom_tool_call" ? item.input : undefined;
        if (o.args !== undefined && args !== o.args) fail(`output_item.done of ${event.output_index} has other arguments than its deltas`);
        open.delete(event.output_index);
        items[event.output_index] = item;
        break;
      }
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
        if (open.size > 0) fail(`${event.type} while output index ${[...open.keys()].join(", ")} is still open`);
        final = event.response;
        ended = true;
        // A stream that streamed no item at all (only the final response) has nothing to disagree with.
        if (items.length > 0 && canonical(final.output) !== canonical(items))
          fail(`the final response's output is not what the stream delivered:\n${canonical(final.output)}\n${canonical(items)}`);
        break;
      case "error":
        ended = true;
        break;
      default:
        break;
    }
  }
  return { delivered: delivered.map((event) => ({ format: "responses", event })), response: final === undefined ? undefined : { format: "responses", body: final } };
}

// --- Generated variants ---

/**
 * A seeded random source (mulberry32), numbers in [0, 1): tests that generate variants try the same ones on every
 * run, so a failure reproduces from its seed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One of `list`, picked by `random`. */
export function pickOne<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** `text` cut at up to `cuts` random places: the non-empty pieces, in order (joined, the text). @default cuts 4 */
export function randomPieces(random: () => number, text: string, cuts = 4): string[] {
  if (text.length < 2) return text === "" ? [] : [text];
  const at = [...new Set(Array.from({ length: 1 + Math.floor(random() * cuts) }, () => 1 + Math.floor(random() * (text.length - 1))))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out.filter((p) => p !== "");
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

export interface RecordedResponsesReply extends RecordedReply {
  /** `incomplete` ends with `response.incomplete` (reason max_output_tokens). @default "completed" */
  status?: "completed" | "incomplete";
  /** Output items after the tool calls (a `local_shell_call`, a `reasoning` item, ...), streamed as added + done. */
  items?: readonly OutputItem[];
  /** Give the text logprobs (one per delta), as with `include: ["message.output_text.logprobs"]`. @default false */
  logprobs?: boolean;
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
    choices: [
      {
        index: 0,
        logprobs: null,
        finish_reason: reply.finishReason ?? (calls.length > 0 ? "tool_calls" : "stop"),
        message: {
          role: "assistant",
          content: text === "" && calls.length > 0 ? null : text,
          refusal: null,
          ...(calls.length > 0 ? { tool_calls: calls.map((c, i) => ({ id: c.id ?? `call_${i}`, type: "function" as const, function: { name: c.name, arguments: argumentText(c) } })) } : {}),
        },
      },
    ],
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

/** A user turn (or input items) as a Responses request (`gpt-4o-mini` unless `extra` says otherwise). */
export function responsesRequest(input: string | ResponsesInputItem[], extra: Partial<ResponsesRequest> = {}): PolicyRequest {
  return { format: "responses", body: { model: "gpt-4o-mini", input, ...extra } as ResponsesRequest };
}

type TextLogprob = NonNullable<Extract<OutputMessage["content"][number], { type: "output_text" }>["logprobs"]>[number];
const logprobOf = (token: string): TextLogprob => ({ token, bytes: [...Buffer.from(token)], logprob: -0.5, top_logprobs: [] });

/** The reply's output items: its text as one message, its tool calls as function_call items, then `items`. */
function responsesOutput(reply: RecordedResponsesReply): OutputItem[] {
  const pieces = textPieces(reply);
  const output: OutputItem[] = [];
  if (pieces.length > 0) {
    output.push({
      type: "message",
      id: "msg_test",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: pieces.join(""), annotations: [], logprobs: reply.logprobs === true ? pieces.map(logprobOf) : [] }],
    });
  }
  (reply.toolCalls ?? []).forEach((c, i) =>
    output.push({ type: "function_call", id: `fc_${i}`, call_id: c.id ?? `call_${i}`, name: c.name, arguments: argumentText(c), status: "completed" }),
  );
  output.push(...(reply.items ?? []));
  return output;
}

function responsesBody(reply: RecordedResponsesReply, output: OutputItem[], status: NonNullable<ResponsesResponse["status"]>): ResponsesResponse {
  return {
    id: "resp_test",
    object: "response",
    created_at: 1,
    model: reply.model ?? "gpt-4o-mini",
    status,
    output,
    output_text: outputTextOf(output),
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: null,
    metadata: null,
    parallel_tool_calls: true,
    temperature: null,
    tool_choice: "auto",
    tools: [],
    top_p: null,
    ...(status === "in_progress"
      ? {}
      : {
          usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 20 },
        }),
  };
}

/** The reply as a Responses `response` object. */
export function responsesResponse(reply: RecordedResponsesReply): PolicyResponse {
  return { format: "responses", body: responsesBody(reply, responsesOutput(reply), reply.status ?? "completed") };
}

/**
 * The reply as Responses stream events, `sequence_number` from 0: response.created, response.in_progress; the text
 * as a message item (output_item.added, content_part.added, one output_text.delta per piece, output_text.done,
 * content_part.done, output_item.done); each tool call as a function_call item (added, arguments deltas, arguments
 * done, item done); `items` as added + done; then response.completed (or response.incomplete) with the whole
 * response.
 */
export function responsesStream(reply: RecordedResponsesReply): PolicyEvent[] {
  const events: ResponsesStreamEvent[] = [];
  let seq = 0;
  const emit = (e: ResponsesStreamEvent): void => void events.push({ ...e, sequence_number: seq++ });
  const output = responsesOutput(reply);
  const status = reply.status ?? "completed";
  const progress = responsesBody(reply, [], "in_progress");
  emit({ type: "response.created", response: progress, sequence_number: 0 });
  emit({ type: "response.in_progress", response: progress, sequence_number: 0 });
  const pieces = textPieces(reply);
  const calls = reply.toolCalls ?? [];
  output.forEach((item, index) => {
    const at = { output_index: index, sequence_number: 0 };
    switch (item.type) {
      case "message": {
        const part = { item_id: item.id, content_index: 0, ...at };
        const lp = reply.logprobs === true;
        emit({ type: "response.output_item.added", ...at, item: { ...item, status: "in_progress", content: [] } });
        emit({ type: "response.content_part.added", ...part, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });
        for (const delta of pieces) emit({ type: "response.output_text.delta", ...part, delta, logprobs: lp ? [{ token: delta, logprob: -0.5, top_logprobs: [] }] : [] });
        const text = pieces.join("");
        emit({ type: "response.output_text.done", ...part, text, logprobs: lp ? pieces.map((token) => ({ token, logprob: -0.5, top_logprobs: [] })) : [] });
        emit({ type: "response.content_part.done", ...part, part: item.content[0] as Extract<OutputMessage["content"][number], { type: "output_text" }> });
        break;
      }
      case "function_call": {
        const call = calls[index - (pieces.length > 0 ? 1 : 0)];
        const itemId = item.id ?? "";
        emit({ type: "response.output_item.added", ...at, item: { ...item, arguments: "", status: "in_progress" } });
        for (const delta of call?.argumentChunks ?? [item.arguments]) emit({ type: "response.function_call_arguments.delta", item_id: itemId, ...at, delta });
        emit({ type: "response.function_call_arguments.done", item_id: itemId, ...at, name: item.name, arguments: item.arguments });
        break;
      }
      default:
        emit({ type: "response.output_item.added", ...at, item });
        break;
    }
    emit({ type: "response.output_item.done", ...at, item });
  });
  const body = responsesBody(reply, output, status);
  emit(status === "incomplete" ? { type: "response.incomplete", response: body, sequence_number: 0 } : { type: "response.completed", response: body, sequence_number: 0 });
  return events.map((event) => ({ format: "responses", event }));
}

/** The reply as an Anthropic `Message`. */
export function anthropicResponse(reply: RecordedAnthropicReply): PolicyResponse {
  const calls = reply.toolCalls ?? [];
  const text = textPieces(reply).join("");
  const content: ContentBlock[] = [];
  if (reply.thinking !== undefined) content.push({ type: "thinking", thinking: reply.thinking, signature: "sig" });
  if (text !== "") content.push({ type: "text", text, citations: null });
  calls.forEach((c, i) => content.push({ type: "tool_use", id: c.id ?? `toolu_${i}`, name: c.name, input: JSON.parse(argumentText(c)) as unknown, caller: { type: "direct" } }));
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
