import {
  isDeny,
  isRespond,
  responseText,
  startCallRun,
  type AnyPolicy,
  type CallInfo,
  type ClientFormat,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
} from "@luthien/policy-sdk";
import {
  completionToChunks,
  createAnthropicAccumulator,
  createOpenAIAccumulator,
  createResponsesAccumulator,
  messageToEvents,
  responseToEvents,
  type AnthropicStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type Message,
  type ResponsesResponse,
  type ResponsesStreamEvent,
} from "@luthien/wire";
import type { PolicyConfig } from "./config";

/** A stored call, as the monitor's `GET /api/replay/calls` returns it. */
export interface StoredCall {
  callId: string;
  format: ClientFormat;
  stream: boolean;
  model: string | null;
  keyId: string | null;
  owner: string | null;
  sessionId: string | null;
  route: string | null;
  /** The original request body (as the client sent it, secrets redacted when the monitor stores them so). */
  request: unknown;
  /** The original response (assembled for a stream); null when none was stored (a denied call). */
  response: unknown;
  /** What the client got (assembled for a stream). */
  finalResponse: unknown;
  /** The stream's original events (`chunk.received` data) when they were stored; else re-chunked from `response`. */
  chunks: { event: string; data: string }[] | null;
  /** `<policy>.<action>` of what happened at the time. */
  policyActions: string[];
  label: { label: "should_block" | "fine"; note?: string } | null;
}

/** What each policy of the candidate chain did to one call. */
export interface ReplayResult {
  callId: string;
  /** `<policy>.<action>` the candidate chain emitted (a denial or a change without an event is `denied` / `modified`). */
  actions: string[];
  /** The client would have got something else than it did at the time. */
  changed: boolean;
  label: "should_block" | "fine" | null;
}

export interface ReplayExample {
  callId: string;
  actions: string[];
  /** What the client got at the time, and what it would get now: the text and tool calls, one carrier per line. */
  before: string;
  after: string;
}

export interface PolicyReplaySummary {
  policy: string;
  /** Calls the policy intervened in, in any way (the calls its precision and recall count as flagged). */
  changed: number;
  blocked: number;
  redacted: number;
  held: number;
  rewritten: number;
  denied: number;
  /** Against the labels: flagged and should_block (tp), flagged and fine (fp), unflagged should_block (fn), unflagged fine (tn). */
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  /** tp / (tp + fp); null when it flagged no labelled call. */
  precision: number | null;
  /** tp / (tp + fn); null when no call is labelled should_block. */
  recall: number | null;
  examples: ReplayExample[];
}

export interface ReplayReport {
  calls: number;
  labelled: number;
  /** Calls the candidate could not run (unreadable stored bodies): never counted as passed or flagged. */
  failed: { callId: string; error: string }[];
  policies: PolicyReplaySummary[];
  results: ReplayResult[];
}

export interface ReplayOptions {
  /** The candidate configuration; each call takes the chain its rules select. Shadow entries run as enforced. */
  config: PolicyConfig;
  calls: AsyncIterable<StoredCall> | Iterable<StoredCall>;
  /** @default 3 */
  examplesPerPolicy?: number;
  signal?: AbortSignal;
}

const BLOCK = new Set(["blocked", "denied"]);
const REWRITE = new Set(["rewritten", "request_modified", "response_modified", "clamped", "routed", "modified"]);

/**
 * Runs stored calls through a candidate chain, as the engine runs a live call (the same chain run), with no
 * provider: the request goes through the request side, then the stored response — or the stored stream, re-chunked
 * from the assembled response when its events were not kept — through the response side. A tool call the candidate
 * would hold for approval counts as held and is then treated as refused (no one decides during a replay).
 */
export async function replayCalls(options: ReplayOptions): Promise<ReplayReport> {
  const examplesPerPolicy = options.examplesPerPolicy ?? 3;
  const summaries = new Map<string, PolicyReplaySummary>();
  const summaryOf = (policy: string): PolicyReplaySummary => {
    let s = summaries.get(policy);
    if (s === undefined) {
      s = { policy, changed: 0, blocked: 0, redacted: 0, held: 0, rewritten: 0, denied: 0, tp: 0, fp: 0, fn: 0, tn: 0, precision: null, recall: null, examples: [] };
      summaries.set(policy, s);
    }
    return s;
  };
  const report: ReplayReport = { calls: 0, labelled: 0, failed: [], policies: [], results: [] };
  for await (const call of options.calls) {
    options.signal?.throwIfAborted();
    report.calls++;
    if (call.label !== null) report.labelled++;
    const chain = options.config.select({ keyId: call.keyId ?? "", model: call.model ?? "", route: call.route ?? "" }).policies;
    for (const p of chain) summaryOf(p.name);
    let replayed: { actions: Map<string, Set<string>>; after: string };
    try {
      replayed = await replayOne(call, chain);
    } catch (err) {
      report.failed.push({ callId: call.callId, error: (err as Error).message });
      continue;
    }
    const before = textOf(call.format, call.finalResponse);
    const actions = [...replayed.actions].flatMap(([policy, set]) => [...set].map((a) => `${policy}.${a}`));
    report.results.push({ callId: call.callId, actions, changed: replayed.after !== before, label: call.label?.label ?? null });
    for (const p of chain) {
      const s = summaryOf(p.name);
      const did = replayed.actions.get(p.name) ?? new Set<string>();
      const has = (set: ReadonlySet<string>): boolean => [...did].some((a) => set.has(a));
      const flagged = did.size > 0 && [...did].some((a) => a !== "allowed" && a !== "judged" && a !== "approved");
      if (flagged) s.changed++;
      if (has(BLOCK)) s.blocked++;
      if (did.has("denied")) s.denied++;
      if (did.has("redacted")) s.redacted++;
      if (did.has("held")) s.held++;
      if (has(REWRITE)) s.rewritten++;
      if (flagged && s.examples.length < examplesPerPolicy) s.examples.push({ callId: call.callId, actions: [...did], before, after: replayed.after });
      const label = call.label?.label;
      if (label === "should_block") flagged ? s.tp++ : s.fn++;
      else if (label === "fine") flagged ? s.fp++ : s.tn++;
    }
  }
  for (const s of summaries.values()) {
    s.precision = s.tp + s.fp === 0 ? null : s.tp / (s.tp + s.fp);
    s.recall = s.tp + s.fn === 0 ? null : s.tp / (s.tp + s.fn);
  }
  report.policies = [...summaries.values()];
  return report;
}

/** One call through the chain: what each policy did, and the client-visible text and tool calls it would get. */
async function replayOne(call: StoredCall, chain: readonly AnyPolicy[]): Promise<{ actions: Map<string, Set<string>>; after: string }> {
  const actions = new Map<string, Set<string>>();
  const record = (policy: string, action: string): void => {
    let set = actions.get(policy);
    if (set === undefined) actions.set(policy, (set = new Set()));
    set.add(action);
  };
  // A shadow entry of the candidate is what it would do enforced; its denials and changes are recorded by name.
  const policies = chain.map((p) => tracked(p.shadow === true ? (Object.create(p, { shadow: { value: false } }) as AnyPolicy) : p, record));
  const request = { format: call.format, body: call.request } as PolicyRequest;
  if (typeof call.request !== "object" || call.request === null) throw new Error("no stored request");
  const info: CallInfo = {
    callId: call.callId,
    format: call.format,
    stream: call.stream,
    keyId: call.keyId ?? "",
    owner: call.owner ?? "",
    userId: "",
    sessionId: call.sessionId ?? "",
    model: call.model ?? "",
  };
  const run = startCallRun(policies, info, {
    emit: (policy, action) => record(policy, action),
    keepalive: () => undefined,
    requestApproval: async () => ({ approved: false, by: "", note: "replay: no one decides", reason: "unavailable" }),
  });
  const outcome = await run.onRequest(request);
  if (isDeny(outcome)) return { actions, after: `denied ${outcome.status}: ${outcome.message}` };
  if (isRespond(outcome)) return { actions, after: textOf(call.format, outcome.response.body) };
  if (call.response === null || call.response === undefined) return { actions, after: "" };
  const response = { format: call.format, body: call.response } as PolicyResponse;
  if (!call.stream) {
    const r = await run.onResponse(response);
    return { actions, after: isDeny(r) ? `denied ${r.status}: ${r.message}` : textOf(call.format, r.body) };
  }
  const events = storedEvents(call, response);
  const out: PolicyEvent[] = [];
  for (const e of events) {
    const emitted = await run.onEvent(e);
    out.push(...(emitted === "unchanged" ? [e] : emitted));
  }
  out.push(...(await run.onStreamEnd()));
  return { actions, after: textOf(call.format, assemble(call.format, out)) };
}

/** A policy whose request and response denials and changes are recorded even when it emits nothing about them. */
function tracked(p: AnyPolicy, record: (policy: string, action: string) => void): AnyPolicy {
  const hooks: PropertyDescriptorMap = {};
  const onRequest = p.onRequest;
  if (onRequest !== undefined) {
    hooks["onRequest"] = {
      value: async (req: PolicyRequest, ctx: never) => {
        const o = await onRequest.call(p, req, ctx);
        if (isDeny(o)) record(p.name, "denied");
        else if (!isRespond(o) && o !== req) record(p.name, "modified");
        return o;
      },
    };
  }
  const onResponse = p.onResponse;
  if (onResponse !== undefined) {
    hooks["onResponse"] = {
      value: async (res: PolicyResponse, ctx: never) => {
        const o = await onResponse.call(p, res, ctx);
        if (isDeny(o)) record(p.name, "denied");
        return o;
      },
    };
  }
  return Object.create(p, hooks) as AnyPolicy;
}

/** The stream as the provider sent it: the stored events, or the assembled response cut back into events. */
function storedEvents(call: StoredCall, response: PolicyResponse): PolicyEvent[] {
  if (call.chunks !== null && call.chunks.length > 0) {
    return call.chunks.flatMap((c): PolicyEvent[] => {
      if (c.data === "[DONE]" || c.event === "ping") return [];
      const data = JSON.parse(c.data) as unknown;
      return [call.format === "openai" ? { format: "openai", chunk: data as ChatCompletionChunk } : ({ format: call.format, event: data } as PolicyEvent)];
    });
  }
  switch (response.format) {
    case "openai":
      return completionToChunks(response.body).map((chunk) => ({ format: "openai", chunk }));
    case "anthropic":
      return messageToEvents(response.body).map((event) => ({ format: "anthropic", event }));
    case "responses":
      return responseToEvents(response.body).map((event) => ({ format: "responses", event }));
  }
}

function assemble(format: ClientFormat, events: readonly PolicyEvent[]): unknown {
  switch (format) {
    case "openai": {
      const acc = createOpenAIAccumulator();
      for (const e of events) if (e.format === "openai") acc.push(e.chunk);
      return acc.result() as ChatCompletion;
    }
    case "anthropic": {
      const acc = createAnthropicAccumulator();
      for (const e of events) if (e.format === "anthropic") acc.push(e.event as AnthropicStreamEvent);
      return acc.result() as Message;
    }
    case "responses": {
      const acc = createResponsesAccumulator();
      for (const e of events) if (e.format === "responses") acc.push(e.event as ResponsesStreamEvent);
      return acc.result() as ResponsesResponse;
    }
  }
}

/** The client-visible text and tool calls of a response, one carrier per line, for counting changes and diffs. */
export function textOf(format: ClientFormat, body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const lines: string[] = [];
  for (const t of responseText({ format, body } as PolicyResponse)) if (t.access !== "logprobs") lines.push(t.text);
  return lines.join("\n");
}
