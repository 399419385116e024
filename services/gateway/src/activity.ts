import {
  createAnthropicAccumulator,
  createOpenAIAccumulator,
  createResponsesAccumulator,
  SSE_DONE,
  type AnthropicStreamEvent,
  type ChatCompletionChunk,
  type SseMessage,
  type StreamAccumulator,
} from "@luthien/wire";
import type { ClientFormat } from "./client-api";

/** Where activity events go: the NATS publisher of `@luthien/events`, which never blocks or throws. */
export interface ActivitySink {
  publish(callId: string, type: string, data: Record<string, unknown>): void;
}

export type CallOutcome = "ok" | "error" | "denied" | "client_closed";

/**
 * One call's activity events, in order: `call.started`, `request.received`, `request.sent`, `response.received`
 * and `response.sent` (for streams: the messages the events add up to), `call.ended`, plus `policy.bypassed` /
 * `policy.unavailable`, and per-event `chunk.received` / `chunk.sent` when `chunkEvents` is on.
 */
export interface CallActivity {
  started(info: Record<string, unknown>): void;
  requestReceived(body: unknown): void;
  requestSent(body: unknown): void;
  /** A whole (non-streaming) response: the provider's and the client's. */
  responses(received: unknown, sent: unknown): void;
  /** One event from the provider (already in the client's format). */
  upstreamEvent(message: SseMessage): void;
  /** One event written to the client. */
  clientEvent(message: SseMessage): void;
  action(name: string): void;
  /** The `<policy>.<action>`s the engine reported for the call (a FULL stream's Finish); duplicates are dropped. */
  policyActions(names: readonly string[]): void;
  /** Served without policy: the engine failed in a fail-open pool (also `policy.unavailable`), or an unchecked route. */
  bypassed(reason: string, message: string, cause?: "engine" | "route"): void;
  usage(usage: { inputTokens: number; outputTokens: number } | undefined): void;
  ended(result: { status: number; outcome: CallOutcome; error?: { type: string; message: string } }): void;
}

/** @param o.startedAt when the call began, for `latencyMs` and `ttftMs` @default now */
export function createCallActivity(o: { sink: ActivitySink; callId: string; format: ClientFormat; chunkEvents: boolean; startedAt?: number }): CallActivity {
  const { sink, callId, format } = o;
  const startedAt = o.startedAt ?? Date.now();
  let firstEventAt: number | undefined;
  const counts = { chunksIn: 0, chunksOut: 0 };
  const actions: string[] = [];
  let bypassed: string | undefined;
  let usage: { inputTokens: number; outputTokens: number } | undefined;
  const received = createAccumulator(format);
  const sent = createAccumulator(format);
  const emit = (type: string, data: Record<string, unknown>): void => sink.publish(callId, type, data);

  return {
    started: (info) => emit("call.started", info),
    requestReceived: (body) => emit("request.received", { body }),
    requestSent: (body) => emit("request.sent", { body }),
    responses(r, s) {
      emit("response.received", { body: r });
      emit("response.sent", { body: s });
      usage ??= usageOf(s);
    },
    upstreamEvent(m) {
      counts.chunksIn++;
      received.push(m);
      if (o.chunkEvents) emit("chunk.received", { event: m.event, data: m.data });
    },
    clientEvent(m) {
      if (m.data === SSE_DONE) return;
      firstEventAt ??= Date.now();
      counts.chunksOut++;
      sent.push(m);
      if (o.chunkEvents) emit("chunk.sent", { event: m.event, data: m.data });
    },
    action: (name) => void actions.push(name),
    policyActions(names) {
      for (const name of names) if (!actions.includes(name)) actions.push(name);
    },
    bypassed(reason, message, cause = "engine") {
      if (bypassed !== undefined) return;
      bypassed = reason;
      if (cause === "engine") emit("policy.unavailable", { reason, message });
      emit("policy.bypassed", cause === "engine" ? { reason } : { reason, message });
    },
    usage(u) {
      usage = u;
    },
    ended({ status, outcome, error }) {
      if (counts.chunksIn > 0 || counts.chunksOut > 0) {
        const r = received.result();
        const s = sent.result();
        emit("response.received", { body: r.body, ...(r.error !== undefined ? { assemblyError: r.error } : {}) });
        emit("response.sent", { body: s.body, ...(s.error !== undefined ? { assemblyError: s.error } : {}) });
        usage ??= usageOf(s.body);
      }
      emit("call.ended", {
        status,
        outcome,
        latencyMs: Date.now() - startedAt,
        ...(firstEventAt !== undefined ? { ttftMs: firstEventAt - startedAt } : {}),
        ...(usage !== undefined ? { usage } : {}),
        chunksIn: counts.chunksIn,
        chunksOut: counts.chunksOut,
        policyActions: actions,
        ...(bypassed !== undefined ? { bypassed } : {}),
        ...(error !== undefined ? { error } : {}),
      });
    },
  };
}

const ACCUMULATORS: Record<ClientFormat, () => StreamAccumulator<never, unknown>> = {
  openai: () => createOpenAIAccumulator() as StreamAccumulator<never, unknown>,
  anthropic: () => createAnthropicAccumulator() as StreamAccumulator<never, unknown>,
  responses: () => createResponsesAccumulator() as StreamAccumulator<never, unknown>,
};

/** A stream's events assembled into a whole response; a broken stream keeps what came before the break. */
function createAccumulator(format: ClientFormat): { push(m: SseMessage): void; result(): { body: unknown; error?: string } } {
  const acc = ACCUMULATORS[format]();
  let error: string | undefined;
  return {
    push(m) {
      if (error !== undefined) return;
      try {
        const parsed = JSON.parse(m.data) as ChatCompletionChunk | AnthropicStreamEvent;
        // Error events end a failed stream; they are part of call.ended, not of the message.
        if (m.event === "error" || "error" in parsed) return;
        acc.push(parsed as never);
      } catch (err) {
        error = (err as Error).message;
      }
    },
    result: () => ({ body: acc.result() ?? null, ...(error !== undefined ? { error } : {}) }),
  };
}

/** Token usage of a whole response in either format. */
function usageOf(body: unknown): { inputTokens: number; outputTokens: number } | undefined {
  const u = (body as { usage?: Record<string, unknown> } | null)?.usage;
  if (u === undefined || u === null) return undefined;
  const n = (v: unknown): number => (typeof v === "number" ? v : 0);
  if ("prompt_tokens" in u) return { inputTokens: n(u["prompt_tokens"]), outputTokens: n(u["completion_tokens"]) };
  return { inputTokens: n(u["input_tokens"]), outputTokens: n(u["output_tokens"]) };
}

/** A sink that drops everything (activity publishing turned off). */
export const NO_ACTIVITY: ActivitySink = { publish: () => undefined };
