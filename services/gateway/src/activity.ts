import type { JsonValue, LifecycleEventData } from "@luthien/events";
import { SSE_DONE, createAnthropicAccumulator, createOpenAIAccumulator, createResponsesAccumulator, usageOf, type StreamAccumulator, type StreamEvent, type TokenUsage } from "@luthien/wire";
import type { ClientFormat } from "./formats/client-api";

/** Where activity events go: the NATS publisher of `@luthien/events`, which never blocks or throws. */
export interface ActivitySink {
  publish(callId: string, type: string, data: object): void;
  /** False when events go nowhere: streams are then not assembled for `response.*` events. @default true */
  readonly live?: boolean;
}

export type CallOutcome = LifecycleEventData["call.ended"]["outcome"];

/**
 * One call's activity events, in order: `call.started`, `request.received`, `request.sent`, `response.received`
 * and `response.sent` (for streams: the messages the events add up to), `call.ended`, plus `policy.bypassed` /
 * `policy.unavailable`, and per-event `chunk.received` / `chunk.sent` when `chunkEvents` is on.
 */
export interface CallActivity {
  started(info: LifecycleEventData["call.started"]): void;
  requestReceived(body: unknown): void;
  requestSent(body: unknown): void;
  /**
   * A whole (non-streaming) response: the provider's and the client's, as published (a `RawJson` goes as its text).
   * @param sentValue the client's response parsed, for usage and the trace @default `sent`
   */
  responses(received: unknown, sent: unknown, sentValue?: unknown): void;
  /**
   * The stream reaches the client as the provider sent it (SKIP, OBSERVE): the client's events are the provider's,
   * assembled once for both `response.*` events.
   */
  passthrough(): void;
  /** One event from the provider (already in the client's format). */
  upstreamEvent(event: StreamEvent): void;
  /** One event written to the client. */
  clientEvent(event: StreamEvent): void;
  action(name: string): void;
  /** The `<policy>.<action>`s the engine reported for the call (a FULL stream's Finish); duplicates are dropped. */
  policyActions(names: readonly string[]): void;
  /** Served without policy: the engine failed in a fail-open pool (also `policy.unavailable`), or an unchecked route. */
  bypassed(reason: string, message: string, cause?: "engine" | "route"): void;
  /** The response as the client got it (streams: assembled), for the call's trace; undefined before any. */
  response(): unknown;
  /** The call's token usage, from the response the client got. */
  usage(): TokenUsage | undefined;
  ended(result: {
    status: number;
    outcome: CallOutcome;
    error?: { type: string; message: string };
    /** What the client received for that error (body or stream error event data). */
    errorBody?: unknown;
    costUsd?: number | undefined;
    limitsUnchecked?: boolean;
  }): void;
}

/**
 * @param o.startedAt when the call began, for `latencyMs` and `ttftMs` @default now
 * @param o.assemble assemble streams even when the sink is not live (the call's trace reads the response) @default false
 */
export function createCallActivity(o: { sink: ActivitySink; callId: string; format: ClientFormat; chunkEvents: boolean; startedAt?: number; assemble?: boolean }): CallActivity {
  const { sink, callId, format } = o;
  const startedAt = o.startedAt ?? Date.now();
  const assemble = sink.live !== false || o.assemble === true;
  let firstEventAt: number | undefined;
  let chunksIn = 0;
  let chunksOut = 0;
  const actions: string[] = [];
  let bypassed: string | undefined;
  let whole: { sent: unknown } | undefined;
  let shared = false;
  let received: Assembler | undefined;
  let sent: Assembler | undefined;
  const emit = <T extends keyof LifecycleEventData>(type: T, data: LifecycleEventData[T]): void => sink.publish(callId, type, data);
  const sentBody = (): unknown => (whole !== undefined ? whole.sent : (shared ? received : sent)?.result().body);

  return {
    // Only virtual keys have an owner: an empty one is left out rather than published.
    started: ({ owner, ...info }) => emit("call.started", owner !== undefined && owner !== "" ? { ...info, owner } : info),
    requestReceived: (body) => emit("request.received", { body: json(body) }),
    requestSent: (body) => emit("request.sent", { body: json(body) }),
    responses(r, s, value = s) {
      whole = { sent: value };
      emit("response.received", { body: json(r) });
      emit("response.sent", { body: json(s) });
    },
    passthrough() {
      shared = true;
    },
    upstreamEvent(e) {
      chunksIn++;
      if (assemble) (received ??= createAssembler(format)).push(e);
      if (o.chunkEvents) sink.publish(callId, "chunk.received", { event: e.event, data: e.data });
    },
    clientEvent(e) {
      if (e.data === SSE_DONE) return;
      firstEventAt ??= Date.now();
      chunksOut++;
      if (assemble && !shared) (sent ??= createAssembler(format)).push(e);
      if (o.chunkEvents) sink.publish(callId, "chunk.sent", { event: e.event, data: e.data });
    },
    action: (name) => void actions.push(name),
    policyActions(names) {
      for (const name of names) if (!actions.includes(name)) actions.push(name);
    },
    bypassed(reason, message, cause = "engine") {
      if (bypassed !== undefined) return;
      bypassed = reason;
      if (cause === "engine") emit("policy.unavailable", { reason, message });
      // An unchecked route's bypass says which route and rule: there is no engine failure to read it from.
      emit("policy.bypassed", { reason, ...(cause === "route" ? { message } : {}) });
    },
    response: sentBody,
    usage: () => usageOf(sentBody()),
    ended({ status, outcome, error, errorBody, costUsd, limitsUnchecked }) {
      if (whole === undefined && (chunksIn > 0 || chunksOut > 0) && assemble) {
        const r = (received ?? createAssembler(format)).result();
        const s = shared ? r : (sent ?? createAssembler(format)).result();
        emit("response.received", { body: json(r.body), ...(r.error !== undefined ? { assemblyError: r.error } : {}) });
        emit("response.sent", { body: json(s.body), ...(s.error !== undefined ? { assemblyError: s.error } : {}) });
      }
      const usage = usageOf(sentBody());
      emit("call.ended", {
        status,
        outcome,
        latencyMs: Date.now() - startedAt,
        ...(firstEventAt !== undefined ? { ttftMs: firstEventAt - startedAt } : {}),
        ...(usage !== undefined ? { usage } : {}),
        ...(costUsd !== undefined ? { costUsd } : {}),
        ...(limitsUnchecked === true ? { limitsUnchecked: "store_unavailable" } : {}),
        chunksIn,
        chunksOut,
        policyActions: actions,
        ...(bypassed !== undefined ? { bypassed } : {}),
        ...(error !== undefined ? { error } : {}),
        ...(errorBody !== undefined ? { errorBody: json(errorBody) } : {}),
      });
    },
  };
}

/** Bodies are JSON the gateway parsed or built. */
const json = (value: unknown): JsonValue => value as JsonValue;

const ACCUMULATORS: Record<ClientFormat, () => StreamAccumulator<never, unknown>> = {
  openai: () => createOpenAIAccumulator() as StreamAccumulator<never, unknown>,
  anthropic: () => createAnthropicAccumulator() as StreamAccumulator<never, unknown>,
  responses: () => createResponsesAccumulator() as StreamAccumulator<never, unknown>,
};

interface Assembler {
  push(e: StreamEvent): void;
  result(): { body: unknown; error?: string };
}

/** A stream's events assembled into a whole response; a broken stream keeps what came before the break. */
function createAssembler(format: ClientFormat): Assembler {
  const acc = ACCUMULATORS[format]();
  let error: string | undefined;
  return {
    push(e) {
      if (error !== undefined) return;
      try {
        const parsed = e.json<{ error?: unknown }>();
        // Error events end a failed stream; they are part of call.ended, not of the message.
        if (e.event === "error" || "error" in parsed) return;
        acc.push(parsed as never);
      } catch (err) {
        error = (err as Error).message;
      }
    },
    result: () => ({ body: acc.result() ?? null, ...(error !== undefined ? { error } : {}) }),
  };
}

/** A sink that drops everything (activity publishing turned off). */
export const NO_ACTIVITY: ActivitySink = { publish: () => undefined, live: false };
