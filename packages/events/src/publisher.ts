import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { errors as natsErrors, type NatsConnection } from "@nats-io/transport-node";
import { MAX_CALL_ID_LENGTH } from "./envelope";
import { ClosedError, FlushTimeoutError } from "./errors";
import { createManagedConnection } from "./internal/connection";
import { ensureActivityStream, sleep, type ActivityStreamLimits } from "./internal/nats";
import { describeError, silentLogger, type EventsLogger } from "./logger";
import { ACTIVITY_SUBJECT_PREFIX, isValidEventType } from "./subjects";
import { ActivityEventTypes, type ActivitySource } from "./types";
import { uuidv7 } from "./uuid";

/** Options of {@link createEventPublisher}. */
export interface EventPublisherOptions {
  /** NATS server URL, or a comma list of them (e.g. `nats://127.0.0.1:4222`). */
  url: string;
  /** Stamped on every event as `source`. */
  source: ActivitySource;
  /** Where connection changes, retries and drops are reported. @default a silent logger */
  logger?: EventsLogger;
  /** Most events waiting to be acknowledged (in flight included); more are dropped and counted. @default 10_000 */
  outboxLimit?: number;
  /** Most bytes of encoded events waiting; more are dropped and counted. @default 268_435_456 (256 MiB) */
  outboxMaxBytes?: number;
  /** Publishes awaiting their JetStream ack at once. @default 256 */
  maxInFlight?: number;
  /** How long one publish waits for its ack before it is retried. @default 5000 */
  ackTimeoutMs?: number;
  /** The NATS connection name (shows in `nats-server` monitoring). @default `luthien-<source>` */
  name?: string;
  /** Limits of the stream if this publisher is the one to create it. */
  stream?: ActivityStreamLimits;
  /** Calls whose next `seq` is remembered; past it the oldest is forgotten. See {@link EventPublisher.endCall}. @default 100_000 */
  maxTrackedCalls?: number;
  /** How long `close()` keeps delivering what is queued while connected. @default 5000 */
  closeTimeoutMs?: number;
}

/** What a publisher did so far. Counts are events, since creation. */
export interface PublisherCounters {
  /** Acknowledged by JetStream (a duplicate ack counts too: the event is stored once). */
  published: number;
  /** Of `published`, acks that said "duplicate" (a retry of an event the stream already had). */
  duplicates: number;
  /** Publish attempts that failed or timed out and were queued again. */
  retried: number;
  /** Refused because the outbox was full, or still queued when the publisher closed. Always logged too. */
  dropped: number;
  /** Events whose `data` was replaced by a stub because the event exceeded the server's `max_payload`. */
  truncated: number;
  /** Refused because the type was invalid or `data` could not be encoded as JSON. Logged too. */
  invalid: number;
  /** Events waiting now, in flight included. */
  outbox: number;
  /** Times the NATS connection was lost (each followed by reconnect attempts until it is back). */
  disconnects: number;
  /** Bytes of the events waiting now. */
  outboxBytes: number;
}

/**
 * Publishes activity events to JetStream without ever slowing down or failing its caller. See
 * {@link createEventPublisher}.
 */
export interface EventPublisher {
  /**
   * Queues one event: assigns its `id` (UUIDv7), its `seq` (next for this `callId` from this source) and `time`,
   * encodes it, and returns. Synchronous and never throws: an invalid `type` or `callId` (empty, over 256
   * characters), or `data` that is not a JSON-encodable object, is counted in `invalid`; a full outbox in `dropped`;
   * both are logged (rate-limited). `data` is encoded at once (JSON.stringify on the caller's thread — the only
   * per-event cost), so the caller may change the object afterwards.
   */
  publish(callId: string, type: string, data: object): void;
  /**
   * Forgets the call's `seq` counter. `call.ended` does this by itself; a source that never publishes `call.ended`
   * (the control plane) calls it when the call is over, so memory stays bounded.
   */
  endCall(callId: string): void;
  counters(): PublisherCounters;
  /** Connected to NATS right now. */
  connected(): boolean;
  /**
   * Resolves once every event queued so far is acknowledged.
   * @param timeoutMs @default 5000
   * @throws FlushTimeoutError when events are still queued at the deadline
   */
  flush(timeoutMs?: number): Promise<void>;
  /**
   * Delivers what is queued for up to `closeTimeoutMs` while connected, then closes the connection. Events still
   * queued are counted as dropped and logged. Later `publish` calls are dropped. Idempotent.
   */
  close(): Promise<void>;
}

interface OutboxEntry {
  id: string;
  subject: string;
  payload: Uint8Array;
}

const encoder = new TextEncoder();
const WARN_INTERVAL_MS = 10_000;
// Room for the JetStream headers (Nats-Msg-Id and friends) next to the payload.
const HEADER_ALLOWANCE = 1024;

/**
 * Creates a publisher and starts connecting in the background; it returns at once even when NATS is down.
 *
 * Delivery: events wait in a bounded in-memory outbox; a background loop sends them to JetStream in parallel
 * batches (up to `maxInFlight`) with `Nats-Msg-Id` = event id and waits for each PubAck. A failed or timed-out
 * publish is put back at the head of the outbox and retried (with backoff) before anything newer, so order per
 * call holds except among the members of one batch. While NATS is away nothing is sent, and the outbox holds what
 * arrives meanwhile; nats.js would drop core publishes made during a reconnect, which is why every event waits for
 * its ack. A retry of an event the stream already has is answered "duplicate" (within the stream's duplicate
 * window), so an event is stored once. The stream `LUTHIEN_ACTIVITY` is created if missing on connect and on every
 * reconnect.
 */
export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const logger = options.logger ?? silentLogger;
  const source = options.source;
  const outboxLimit = options.outboxLimit ?? 10_000;
  const outboxMaxBytes = options.outboxMaxBytes ?? 256 * 1024 * 1024;
  const maxInFlight = Math.max(1, options.maxInFlight ?? 256);
  const ackTimeoutMs = options.ackTimeoutMs ?? 5000;
  const maxTrackedCalls = options.maxTrackedCalls ?? 100_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const name = options.name ?? `luthien-${source}`;

  const counters = { published: 0, duplicates: 0, retried: 0, dropped: 0, truncated: 0, invalid: 0 };
  // The outbox is an array used as a queue from `head`; a batch in flight stays in its slots until acked, so
  // failures go back exactly where they were, ahead of newer events.
  let queue: OutboxEntry[] = [];
  let head = 0;
  let outboxBytes = 0;
  const seqs = new Map<string, number>();
  let closed = false;
  let loopWake: (() => void) | undefined;
  let flushWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const stop = new AbortController();
  let streamReady = false;

  const lastWarn = { dropped: 0, invalid: 0, retry: 0 };
  const droppedAtLastWarn = { dropped: 0, invalid: 0 };
  const warnLimited = (kind: "dropped" | "invalid", msg: string, fields: Record<string, string | number>): void => {
    const now = Date.now();
    if (now - lastWarn[kind] < WARN_INTERVAL_MS) return;
    lastWarn[kind] = now;
    logger.warn(msg, { ...fields, total: counters[kind], sinceLastWarning: counters[kind] - droppedAtLastWarn[kind] });
    droppedAtLastWarn[kind] = counters[kind];
  };

  const conn = createManagedConnection({ url: options.url, name, logger });
  conn.onReconnect(() => {
    streamReady = false;
  });

  const outboxSize = (): number => queue.length - head;

  const notifyIfEmpty = (): void => {
    if (outboxSize() !== 0 || flushWaiters.length === 0) return;
    const ws = flushWaiters;
    flushWaiters = [];
    for (const w of ws) w.resolve();
  };

  const nextSeq = (callId: string): number => {
    const seq = (seqs.get(callId) ?? 0) + 1;
    if (seq === 1 && seqs.size >= maxTrackedCalls) {
      // Map iteration is insertion order: the first key is the call we heard of longest ago.
      const oldest = seqs.keys().next().value;
      if (oldest !== undefined) seqs.delete(oldest);
    }
    seqs.set(callId, seq);
    return seq;
  };

  const publishUnguarded = (callId: string, type: string, data: object): void => {
    if (closed) {
      counters.dropped++;
      warnLimited("dropped", "activity publisher is closed; event dropped", { type });
      return;
    }
    if (!isValidEventType(type)) {
      counters.invalid++;
      warnLimited("invalid", "invalid activity event type; event dropped", { type: String(type).slice(0, 100) });
      return;
    }
    // The same rules consumers apply (parseActivityEvent): refuse here what they would dead-letter.
    if (typeof callId !== "string" || callId === "" || callId.length > MAX_CALL_ID_LENGTH) {
      counters.invalid++;
      warnLimited("invalid", "invalid activity call id; event dropped", { type });
      return;
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      counters.invalid++;
      warnLimited("invalid", "activity event data is not an object; event dropped", { type });
      return;
    }
    let payload: Uint8Array;
    let seq: number;
    const id = uuidv7();
    try {
      seq = nextSeq(callId);
      const time = new Date().toISOString();
      payload = encoder.encode(JSON.stringify({ id, callId, seq, type, source, time, data }));
    } catch (err) {
      // BigInt, a cycle, or a throwing toJSON: the caller's bug, never the caller's failure.
      counters.invalid++;
      warnLimited("invalid", "activity event data is not JSON-encodable; event dropped", { type, error: describeError(err) });
      return;
    }
    if (type === ActivityEventTypes.CallEnded) seqs.delete(callId);
    // The seq is spent even when the event is dropped: consumers see the gap and know an event is missing.
    if (outboxSize() >= outboxLimit || outboxBytes + payload.byteLength > outboxMaxBytes) {
      counters.dropped++;
      warnLimited("dropped", "activity outbox full; event dropped", { type, outbox: outboxSize() });
      return;
    }
    queue.push({ id, subject: `${ACTIVITY_SUBJECT_PREFIX}.${type}`, payload });
    outboxBytes += payload.byteLength;
    if (loopWake !== undefined) {
      const w = loopWake;
      loopWake = undefined;
      w();
    }
  };

  const publish = (callId: string, type: string, data: object): void => {
    try {
      publishUnguarded(callId, type, data);
    } catch (err) {
      // Only reachable from untyped callers (a type that is not a string, say): still never the caller's failure.
      counters.invalid++;
      warnLimited("invalid", "activity event refused; event dropped", { error: describeError(err) });
    }
  };

  /** An event too large for the server, re-encoded with a stub instead of its data. */
  const truncate = (entry: OutboxEntry, maxPayload: number): Uint8Array => {
    const ev = JSON.parse(new TextDecoder().decode(entry.payload)) as Record<string, unknown>;
    ev["data"] = { truncated: true, originalBytes: entry.payload.byteLength, maxPayload };
    return encoder.encode(JSON.stringify(ev));
  };

  // No stream captures the subject (a NATS server that lost its store): the server answers "no responders",
  // which nats.js reports as JetStreamNotEnabled. Re-creating the stream is the cure.
  const isNoStream = (err: unknown): boolean =>
    (err instanceof natsErrors.RequestError && err.isNoResponders()) ||
    (err instanceof Error && (err.name === "JetStreamNotEnabled" || /no responders|jetstream is not enabled|stream not found/i.test(err.message)));

  const sendBatch = async (nc: NatsConnection, js: JetStreamClient): Promise<boolean> => {
    const n = Math.min(outboxSize(), maxInFlight);
    const batch = queue.slice(head, head + n);
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const results = await Promise.allSettled(
      batch.map((e) => {
        if (e.payload.byteLength + HEADER_ALLOWANCE > maxPayload) {
          const stub = truncate(e, maxPayload);
          outboxBytes += stub.byteLength - e.payload.byteLength;
          e.payload = stub;
          counters.truncated++;
          logger.warn("activity event exceeds the NATS max_payload; its data was replaced by a stub", { maxPayload });
        }
        return js.publish(e.subject, e.payload, { msgID: e.id, timeout: ackTimeoutMs });
      }),
    );
    const failed: OutboxEntry[] = [];
    let lastError: unknown;
    results.forEach((r, i) => {
      const e = batch[i]!;
      if (r.status === "fulfilled") {
        counters.published++;
        if (r.value.duplicate) counters.duplicates++;
        outboxBytes -= e.payload.byteLength;
      } else {
        failed.push(e);
        lastError = r.reason;
      }
    });
    // Acked slots are released; failed entries go back into the last slots of the batch, in their order.
    head += n;
    for (let i = failed.length - 1; i >= 0; i--) queue[--head] = failed[i]!;
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (failed.length === 0) return true;
    counters.retried += failed.length;
    if (isNoStream(lastError)) streamReady = false;
    const now = Date.now();
    if (now - lastWarn.retry >= WARN_INTERVAL_MS) {
      lastWarn.retry = now;
      logger.warn("activity publish failed; retrying", { failed: failed.length, error: describeError(lastError), outbox: outboxSize() });
    }
    return false;
  };

  const run = async (): Promise<void> => {
    let backoffMs = 0;
    let js: JetStreamClient | undefined;
    let jsFor: NatsConnection | undefined;
    while (!closed) {
      if (outboxSize() === 0) {
        notifyIfEmpty();
        await new Promise<void>((resolve) => (loopWake = resolve));
        continue;
      }
      const nc = await conn.whenConnected();
      if (nc === undefined) break;
      try {
        if (js === undefined || jsFor !== nc) {
          js = jetstream(nc, { timeout: ackTimeoutMs });
          jsFor = nc;
        }
        if (!streamReady) {
          await ensureActivityStream(await jetstreamManager(nc, { timeout: ackTimeoutMs }), options.stream ?? {}, logger);
          streamReady = true;
        }
        const ok = await sendBatch(nc, js);
        backoffMs = ok ? 0 : Math.min(Math.max(backoffMs * 2, 100), 2000);
      } catch (err) {
        backoffMs = Math.min(Math.max(backoffMs * 2, 250), 5000);
        logger.warn("cannot set up the activity stream; retrying", { error: describeError(err), backoffMs });
      }
      notifyIfEmpty();
      if (backoffMs > 0) await sleep(backoffMs, stop.signal);
    }
  };
  const loop = run().catch((err: unknown) => logger.error("activity publisher loop failed", { error: describeError(err) }));

  const flush = (timeoutMs = 5000): Promise<void> => {
    if (outboxSize() === 0) return Promise.resolve();
    if (closed) return Promise.reject(new ClosedError("activity publisher"));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (): void => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error): void => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        flushWaiters = flushWaiters.filter((w) => w !== waiter);
        reject(new FlushTimeoutError(outboxSize(), timeoutMs));
      }, timeoutMs);
      flushWaiters.push(waiter);
    });
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (conn.isConnected() && outboxSize() > 0) await flush(closeTimeoutMs).catch(() => {});
      closed = true;
      stop.abort();
      loopWake?.();
      await conn.close();
      await loop;
      const left = outboxSize();
      if (left > 0) {
        counters.dropped += left;
        logger.warn("activity publisher closed with unpublished events; they are dropped", { dropped: left });
        queue = [];
        head = 0;
        outboxBytes = 0;
      }
      const ws = flushWaiters;
      flushWaiters = [];
      for (const w of ws) w.reject(new ClosedError("activity publisher"));
    })();
    return closing;
  };

  return {
    publish,
    endCall: (callId) => {
      seqs.delete(callId);
    },
    counters: () => ({ ...counters, outbox: outboxSize(), outboxBytes, disconnects: conn.disconnects() }),
    connected: () => conn.isConnected(),
    flush,
    close,
  };
}

