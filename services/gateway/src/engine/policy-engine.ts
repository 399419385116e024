import {
  POLICY_ENGINE_SERVICE,
  UNSUPPORTED_PROTOCOL_VERSION,
  createHealthClient,
  createPolicyEngineClient,
  encodeStart,
  readEngineMessage,
  type CallStart,
  type ChunkOutcome,
  type DenyAnswer,
  type EngineAnswer,
  type EngineMessage__Output,
  type GatewayMessage,
  type SseEvent,
  type SseEvent__Output,
} from "@luthien/protocol";
import type { Logger } from "@luthien/runtime";
import { createMultiplexedTransport, openOwnStream, type CallLink, type CallSink } from "./engine-transport";
import { PolicyDeniedError, PolicyFailedError, PolicyTimeoutError, PolicyUnavailableError } from "../errors";

export interface PolicyEngineOptions {
  /** `host:port` of the engine. */
  address: string;
  /** Deadline for each verdict. @default 5000 */
  timeoutMs: number;
  /** Keepalives extend a verdict's deadline, but never past this long after it was asked for. @default 30000 */
  maxWaitMs: number;
  /** A keepalive that says a person is deciding (`hold_ms`) may extend the deadline this far. @default 600000 */
  maxHoldMs?: number;
  /**
   * `multiplexed`: a few long-lived streams per engine carry every call (no stream setup per call); `stream`: a
   * stream of its own per call. @default "multiplexed"
   */
  transport?: "multiplexed" | "stream";
  /** Multiplexed streams per engine replica. @default 4 */
  streams?: number;
  /** `MAX_BODY_BYTES`: the policy-stream message limit derives from it, as the engine's does. @default 32 MiB */
  maxBodyBytes?: number;
  logger: Logger;
  /** Where verdict latencies, timeouts and unexpected answers are recorded. @default nowhere */
  metrics?: PolicyEngineMetrics;
}

/** A verdict's phase, as metrics name it. */
export type VerdictPhase = "request" | "response" | "chunk" | "finish";

/** What the engine client reports about its verdicts (e.g. to Prometheus). Must be cheap: it runs per chunk. */
export interface PolicyEngineMetrics {
  /** A verdict arrived `ms` after it was asked for. */
  verdict(phase: VerdictPhase, ms: number): void;
  /** A verdict's deadline passed; the call failed with PolicyTimeoutError. */
  timeout(): void;
  /** An answer matched nothing pending and was ignored. */
  unexpected(): void;
}

const NO_METRICS: PolicyEngineMetrics = { verdict: () => undefined, timeout: () => undefined, unexpected: () => undefined };

/** What the engine decided about the request (the protocol's RequestVerdict, read; denials as the error to throw). */
export type RequestOutcome =
  | { action: "continue"; requestJson: Buffer | undefined; mode: "FULL" | "OBSERVE" | "SKIP" }
  | { action: "respond"; responseJson: Buffer }
  | { action: "deny"; error: PolicyDeniedError };

/** What the engine decided about a whole response: the body to send (undefined = unchanged), or a denial. */
export type ResponseOutcome = { action: "respond"; responseJson: Buffer | undefined } | { action: "deny"; error: PolicyDeniedError };

/** The end of a stream: trailing events, and an error to end with instead of a clean end. */
export interface FinishOutcome {
  events: SseEvent__Output[];
  error: PolicyDeniedError | undefined;
  /** Every distinct `<policy>.<action>` the call's policies emitted (empty from an engine that does not report them). */
  policyActions: string[];
}

/** What a call's Start says (the protocol codec's {@link CallStart}; this gateway's protocol version is added). */
export type StartInfo = Omit<CallStart, "protocolVersion">;

export type { ChunkOutcome };

/** A verdict asked for: `result` settles when the engine answers (in order), fails, or times out. */
export interface Pending<T> {
  result: Promise<T>;
}

/**
 * One client call's conversation with the engine. Every `ask*` writes one message (waiting for the transport to
 * drain first if needed) and returns the pending verdict; verdicts settle in the order they were asked. Any
 * failure — stream error, engine error, early close, deadline — rejects every pending verdict and every later ask.
 */
export interface PolicyCall {
  askRequest(start: StartInfo): Promise<Pending<RequestOutcome>>;
  askResponse(responseJson: Buffer): Promise<Pending<ResponseOutcome>>;
  /** `unchanged`: send the event asked about as it is; otherwise the events to send in its place (maybe none). */
  askChunk(event: SseEvent): Promise<Pending<ChunkOutcome>>;
  askFinish(): Promise<Pending<FinishOutcome>>;
  /** OBSERVE mode: hand the engine a copy without waiting for anything. */
  observe(message: { response: Buffer } | { chunk: SseEvent } | { end: true }): void;
  /** Tells the engine the provider failed (informational). */
  upstreamError(status: number, type: string, message: string): void;
  /** Ends the call: half-closes the stream after `done`, or cancels it (with a Cancel message) otherwise. */
  close(how: "done" | "cancel"): void;
}

/** What an engine's health watch says: SERVING, NOT_SERVING (draining or not ready), or DOWN (no answer). */
export type EngineHealth = "SERVING" | "NOT_SERVING" | "DOWN";

export interface PolicyEngine {
  open(callId: string): PolicyCall;
  /**
   * Watches the engine's grpc.health.v1 status (`Watch`, on the same connection calls use) and reports every
   * change; a broken watch reports DOWN and is re-opened with capped exponential backoff. Returns a stop function.
   */
  watchHealth(onStatus: (status: EngineHealth) => void): () => void;
  close(): void;
}

/** First and longest wait before re-opening a broken health watch. */
const WATCH_BACKOFF_MS = { initial: 100, max: 2000 };

type Expect = "request" | "response" | "emit" | "finish";

const PHASES: Record<Expect, VerdictPhase> = { request: "request", response: "response", emit: "chunk", finish: "finish" };

/** The answer of each kind, read. */
type AnswerOf<E extends Expect> = Extract<EngineAnswer, { kind: E }>;

interface Waiter {
  seq: string;
  expect: Expect;
  /** `performance.now()` when asked: verdicts take fractions of a millisecond. */
  askedAt: number;
  resolve(a: AnswerOf<Expect>): void;
  reject(e: Error): void;
}

/** The gateway's client of one engine address, with the transport `options.transport` names. */
export function createPolicyEngine(options: PolicyEngineOptions): PolicyEngine {
  const client = createPolicyEngineClient({ address: options.address, ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}) });
  const health = createHealthClient(options.address, { channelOf: client });
  const transport =
    (options.transport ?? "multiplexed") === "multiplexed"
      ? createMultiplexedTransport(client, {
          streams: options.streams ?? 4,
          onStray: (m) => {
            options.metrics?.unexpected();
            options.logger.debug("unexpected engine answer ignored", { callId: m.callId, replyTo: m.replyTo, kind: m.kind, late: true });
          },
        })
      : undefined;
  return {
    open: (callId) => openCall(callId, options, (sink, first) => transport?.attach(callId, sink, first) ?? openOwnStream(client, sink)),
    watchHealth(onStatus) {
      let stopped = false;
      let backoff = WATCH_BACKOFF_MS.initial;
      let timer: NodeJS.Timeout | undefined;
      let watch: ReturnType<typeof health.Watch> | undefined;
      const start = (): void => {
        watch = health.Watch({ service: POLICY_ENGINE_SERVICE });
        watch.on("data", (r: { status?: string }) => {
          backoff = WATCH_BACKOFF_MS.initial;
          if (r.status !== "SERVING") transport?.drain();
          onStatus(r.status === "SERVING" ? "SERVING" : "NOT_SERVING");
        });
        watch.on("error", () => undefined);
        // A watch ends only when the engine stops or the connection breaks: no status can be trusted until it is back.
        watch.on("status", () => {
          if (stopped) return;
          transport?.drain();
          onStatus("DOWN");
          timer = setTimeout(start, backoff);
          backoff = Math.min(backoff * 2, WATCH_BACKOFF_MS.max);
        });
      };
      start();
      return () => {
        stopped = true;
        clearTimeout(timer);
        watch?.cancel();
      };
    },
    close() {
      transport?.drain();
      health.close();
      client.close();
    },
  };
}

/** The EngineError code of a call whose policy threw (the engine's own failures have other codes). */
const POLICY_ERROR = "policy_error";

/** What asks after `close()` fail with; one instance, since a closed call is routine (every call ends so). */
const CALL_CLOSED = new PolicyUnavailableError("closed", "call closed");

/**
 * One call's verdict bookkeeping, over whichever link `connect` gives it when its first message goes out: answers
 * must match the oldest pending verdict, deadlines run per verdict, and any failure fails every pending verdict.
 */
function openCall(callId: string, options: PolicyEngineOptions, connect: (sink: CallSink, first: GatewayMessage) => CallLink): PolicyCall {
  const { logger } = options;
  const metrics = options.metrics ?? NO_METRICS;
  let link: CallLink | undefined;
  const waiting: Waiter[] = [];
  let seq = 0;
  let failure: Error | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  /** Whether the engine said a person is deciding part of this call (a keepalive with `holdMs`). */
  let held = false;

  const fail = (cause: Error, fromTransport = false): void => {
    if (failure !== undefined) return;
    // A call held for a person's decision never fails open: an outage then would pass what a policy wanted asked.
    const err = held && !(cause instanceof PolicyFailedError) ? new PolicyFailedError(`the call was held for approval when its policy engine failed: ${cause.message}`) : cause;
    failure = err;
    clearTimeout(timer);
    for (const w of waiting.splice(0)) w.reject(err);
    if (!closed) {
      closed = true;
      // On a shared stream the engine would otherwise keep the call's state until the stream ends.
      if (!fromTransport) void link?.write({ callId, seq: String(++seq), cancel: { reason: err.message } }).catch(() => undefined);
      link?.abort();
    }
  };

  /**
   * Arms the deadline for the oldest pending verdict; a keepalive re-arms it, bounded by maxWaitMs — or, while a
   * person decides (`holdMs`), by maxHoldMs.
   */
  const arm = (fromKeepalive = false, holdMs = 0): void => {
    clearTimeout(timer);
    const head = waiting[0];
    if (head === undefined) return;
    const now = performance.now();
    const limit = !fromKeepalive
      ? now + options.timeoutMs
      : holdMs > 0
        ? Math.min(now + holdMs + options.timeoutMs, head.askedAt + (options.maxHoldMs ?? 600_000))
        : Math.min(now + options.timeoutMs, head.askedAt + options.maxWaitMs);
    timer = setTimeout(
      () => {
        metrics.timeout();
        fail(new PolicyTimeoutError(`the policy engine did not answer within ${Math.round(performance.now() - head.askedAt)} ms`));
      },
      Math.max(0, limit - now),
    );
  };

  const onData = (m: EngineMessage__Output): void => {
    const head = waiting[0];
    if (m.callId === callId && m.kind === "keepalive") {
      // A keepalive is no answer: it may name any message of the call the engine has seen. One saying a person is
      // deciding marks the call held even when it names a message already answered (it raced that answer).
      const holdMs = m.keepalive?.holdMs ?? 0;
      if (holdMs > 0) held = true;
      if (head !== undefined && waiting.some((w) => w.seq === m.replyTo)) arm(true, holdMs);
      return;
    }
    if (m.callId === callId && m.kind !== "keepalive" && m.kind !== "error" && waiting.some((w, i) => i > 0 && w.seq === m.replyTo)) {
      // An answer that skipped the one due: applying it would decide events out of order, and waiting would only
      // end at the deadline.
      metrics.unexpected();
      fail(new PolicyUnavailableError("engine_error", `policy engine answered seq ${m.replyTo} before seq ${head?.seq ?? "?"}`));
      return;
    }
    if (m.callId !== callId || head === undefined || m.replyTo !== head.seq) {
      metrics.unexpected();
      logger.warn("unexpected engine answer ignored", { callId, replyTo: m.replyTo, kind: m.kind });
      return;
    }
    const answer = readEngineMessage(m);
    if (answer.kind === "keepalive") return;
    if (answer.kind === "error") {
      // A policy that threw decided nothing, and the input that made it throw may have been chosen to: that is never
      // an outage a fail-open pool may serve through.
      if (answer.code === POLICY_ERROR) {
        fail(new PolicyFailedError(`a policy could not decide this call: ${answer.message}`));
        return;
      }
      const reason = answer.code === UNSUPPORTED_PROTOCOL_VERSION ? "protocol_mismatch" : "engine_error";
      fail(new PolicyUnavailableError(reason, `policy engine refused the call: ${answer.message}`));
      return;
    }
    if (m.kind !== head.expect) {
      fail(new PolicyUnavailableError("engine_error", `policy engine answered ${m.kind ?? "nothing"} where ${head.expect} was due`));
      return;
    }
    waiting.shift();
    metrics.verdict(PHASES[head.expect], performance.now() - head.askedAt);
    // An answer of the right kind that says nothing usable fails the verdict it answers, never a default.
    if (answer.kind === "malformed") head.reject(new PolicyUnavailableError("engine_error", answer.message));
    else head.resolve(answer);
    arm();
  };
  const sink: CallSink = { data: onData, fail: (err) => fail(err, true) };

  const write = async (message: Omit<GatewayMessage, "callId" | "seq">, beforeWrite?: (seq: string) => void): Promise<string> => {
    if (failure !== undefined) throw failure;
    seq += 1;
    const s = String(seq);
    const full: GatewayMessage = { callId, seq: s, ...message };
    beforeWrite?.(s);
    link ??= connect(sink, full);
    try {
      await link.write(full);
    } catch (err) {
      fail(err instanceof Error ? err : new PolicyUnavailableError("engine_error", String(err)));
      throw failure ?? err;
    }
    if (failure !== undefined) throw failure;
    return s;
  };

  const ask = async <E extends Expect>(expect: E, message: Omit<GatewayMessage, "callId" | "seq">): Promise<Pending<AnswerOf<E>>> => {
    let result: Promise<AnswerOf<E>> | undefined;
    // The waiter is registered before the message is written: a write that waits for `drain` can see its answer
    // arrive first, and an answer with no waiter would be dropped as unexpected.
    await write(message, (s) => {
      result = new Promise<AnswerOf<E>>((resolve, reject) => {
        // onData resolves a waiter only with an answer of the kind it expects.
        waiting.push({ seq: s, expect, askedAt: performance.now(), resolve: resolve as (a: AnswerOf<Expect>) => void, reject });
        if (waiting.length === 1) arm();
      });
      // Callers may learn of a failure from another verdict first; this one must not surface as unhandled.
      result.catch(() => undefined);
    });
    return { result: result as Promise<AnswerOf<E>> };
  };

  const then = <A, B>(p: Pending<A>, f: (a: A) => B): Pending<B> => {
    const result = p.result.then(f);
    result.catch(() => undefined);
    return { result };
  };

  const toDenied = (d: DenyAnswer): PolicyDeniedError => new PolicyDeniedError(d.status, d.errorType, d.message);

  return {
    async askRequest(start) {
      const p = await ask("request", { start: encodeStart(start) });
      return then(p, ({ request: r }): RequestOutcome => (r.action === "deny" ? { action: "deny", error: toDenied(r.deny) } : r));
    },
    async askResponse(responseJson) {
      const p = await ask("response", { response: { responseJson } });
      return then(p, ({ response: r }): ResponseOutcome => (r.action === "deny" ? { action: "deny", error: toDenied(r.deny) } : r));
    },
    async askChunk(event) {
      const p = await ask("emit", { chunk: { event } });
      return then(p, (a) => a.emit);
    },
    async askFinish() {
      const p = await ask("finish", { end: {} });
      return then(p, ({ finish: f }): FinishOutcome => ({ events: f.events, error: f.error !== undefined ? toDenied(f.error) : undefined, policyActions: f.policyActions }));
    },
    observe(message) {
      const m: Omit<GatewayMessage, "callId" | "seq"> =
        "response" in message ? { response: { responseJson: message.response } } : "chunk" in message ? { chunk: { event: message.chunk } } : { end: {} };
      write(m).catch(() => undefined);
    },
    upstreamError(status, type, message) {
      write({ upstreamError: { status, type, message } }).catch(() => undefined);
    },
    close(how) {
      if (closed) return;
      clearTimeout(timer);
      closed = true;
      if (how === "cancel" && failure === undefined && link !== undefined) {
        write({ cancel: { reason: "call cancelled" } }).catch(() => undefined);
        link.abort();
      } else {
        link?.end();
      }
      failure ??= CALL_CLOSED;
      for (const w of waiting.splice(0)) w.reject(failure);
    },
  };
}
