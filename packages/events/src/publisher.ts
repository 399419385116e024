import { JetStreamApiCodes, jetstreamManager } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { MAX_CALL_ID_LENGTH } from "./envelope";
import { ClosedError, FlushTimeoutError } from "./errors";
import { createManagedConnection } from "./internal/connection";
import { ensureActivityStream, type ActivityStreamLimits } from "./internal/nats";
import { describeError, silentLogger, type EventsLogger } from "./logger";
import { ACTIVITY_SUBJECT_PREFIX, isValidEventType } from "./subjects";
import { ActivityEventTypes, type ActivitySource } from "./types";
import { encodeEvent } from "./raw-json";
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
  /**
   * How long a new event may wait for others to share its socket write (and the server's reply to it); past 64
   * waiting events they go at once. Each write and each read of acks costs more than the events in it at gateway
   * rates (at 200 calls/s, 10 ms cuts the publisher's CPU per call by about a third against 0). 0 sends at the end
   * of the current event-loop turn. @default 10
   */
  lingerMs?: number;
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
   * both are logged (rate-limited). `data` is encoded at once (one JSON.stringify on the caller's thread; UTF-8
   * bytes, headers and the write happen later, in one go for everything queued), so the caller may change the
   * object afterwards.
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
  /** The encoded event: JSON text until its first send, UTF-8 bytes from then on. */
  payload: string | Uint8Array;
  /** UTF-8 size of `payload`. */
  bytes: number;
  /** Position in the order of `publish` calls: failures go back in front of everything newer. */
  ord: number;
  /** When the current attempt gives up waiting for its ack (ms since the epoch). */
  deadline: number;
}

const WARN_INTERVAL_MS = 10_000;
// Room for the JetStream headers (Nats-Msg-Id and friends) next to the payload.
const HEADER_ALLOWANCE = 1024;
const decoder = new TextDecoder();
// Waiting events that end the linger: the write is big enough to be worth its system call.
const LINGER_MAX_EVENTS = 64;

/** What a PubAck says, or why it is not one. */
type AckOutcome = { ok: true; duplicate: boolean } | { ok: false; error: string; noStream: boolean };

/**
 * Reads a JetStream PubAck the way `@nats-io/jetstream` does (`{"stream":..,"seq":..,"duplicate":true}`, or
 * `{"error":{"code":..,"err_code":..,"description":..}}`), plus the empty 503 status the server sends when no stream
 * listens on the subject ("no responders").
 */
function readAck(data: Uint8Array, statusCode: number | undefined): AckOutcome {
  if (data.byteLength === 0) {
    if (statusCode === 503) return { ok: false, error: "no responders: no stream captures the subject", noStream: true };
    return { ok: false, error: `unexpected status ${statusCode ?? "(none)"} in place of a PubAck`, noStream: false };
  }
  let ack: { stream?: unknown; duplicate?: unknown; error?: { err_code?: unknown; description?: unknown } };
  try {
    ack = JSON.parse(decoder.decode(data)) as typeof ack;
  } catch {
    return { ok: false, error: "PubAck is not JSON", noStream: false };
  }
  if (typeof ack !== "object" || ack === null) return { ok: false, error: "PubAck is not an object", noStream: false };
  if (ack.error !== undefined && ack.error !== null) {
    const code = ack.error.err_code;
    return {
      ok: false,
      error: `JetStream refused the publish: ${String(ack.error.description ?? "no description")} (${String(code ?? "?")})`,
      noStream: code === JetStreamApiCodes.StreamNotFound,
    };
  }
  if (typeof ack.stream !== "string" || ack.stream === "") return { ok: false, error: "invalid ack response", noStream: false };
  return { ok: true, duplicate: ack.duplicate === true };
}

// Events of one millisecond share one ISO string: toISOString costs more than the rest of the envelope's fields.
let isoMs = -1;
let isoText = "";
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/**
 * Creates a publisher and starts connecting in the background; it returns at once even when NATS is down.
 *
 * Delivery: events wait in a bounded in-memory outbox. Up to `lingerMs` after the first of them arrives (sooner when
 * many wait), what is queued goes to JetStream in one socket write, as core publishes with `Nats-Msg-Id` = event id,
 * up to `maxInFlight` awaiting their PubAck at once. Every ack comes back on one wildcard inbox subscription, the last
 * token of its subject naming the attempt it answers, and one timer (armed for the oldest attempt) times out attempts
 * whose ack is late. A refused or timed-out publish, and every publish in flight when the connection drops, stops the
 * sending: once nothing is in flight any more, the failed events go back at the head of the outbox in their original
 * order and are retried (with backoff) before anything newer, so order per call holds except among events in flight
 * together. While NATS is away nothing is sent, and the outbox holds what arrives meanwhile; nats.js discards core
 * publishes made during a reconnect, which is why every event waits for its ack. A retry of an event the stream
 * already has is answered "duplicate" (within the stream's duplicate window), so an event is stored once; an ack of
 * an attempt already given up on is ignored. The stream `LUTHIEN_ACTIVITY` is created if missing on connect, on
 * every reconnect, and when the server answers that no stream captures the subject.
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
  const lingerMs = Math.max(0, options.lingerMs ?? 10);
  const name = options.name ?? `luthien-${source}`;

  const counters = { published: 0, duplicates: 0, retried: 0, dropped: 0, truncated: 0, invalid: 0 };
  // Not yet sent, in publish order, as a queue from `head` (failures are put back just before `head`).
  let queue: (OutboxEntry | undefined)[] = [];
  let head = 0;
  // Awaiting their ack, by attempt token; Map order is send order, so the first entry has the earliest deadline.
  const inFlight = new Map<string, OutboxEntry>();
  // Failed attempts of the current window, waiting for the rest of the window to settle.
  let failed: OutboxEntry[] = [];
  let lastFailure = "";
  let holding = false;
  let backoffMs = 0;
  let outboxBytes = 0;
  let ord = 0;
  const seqs = new Map<string, number>();
  let closed = false;
  let flushWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  let nc: NatsConnection | undefined;
  let inbox = "";
  let tokens = 0;
  let streamReady = false;
  let ensuring = false;
  // Bumped by every reconnect: a stream check that straddles one proves nothing about the new server.
  let connectionEpoch = 0;
  // nats.js encodes headers inside publish(), so one object serves every message.
  const msgHeaders = headers();
  let pumpPending: NodeJS.Immediate | undefined;
  let lingerTimer: NodeJS.Timeout | undefined;

  let retryTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;

  const lastWarn = { dropped: 0, invalid: 0, retry: 0 };
  const droppedAtLastWarn = { dropped: 0, invalid: 0 };
  const warnLimited = (kind: "dropped" | "invalid", msg: string, fields: Record<string, string | number>): void => {
    const now = Date.now();
    if (now - lastWarn[kind] < WARN_INTERVAL_MS) return;
    lastWarn[kind] = now;
    logger.warn(msg, { ...fields, total: counters[kind], sinceLastWarning: counters[kind] - droppedAtLastWarn[kind] });
    droppedAtLastWarn[kind] = counters[kind];
  };

  const outboxSize = (): number => queue.length - head + inFlight.size + failed.length;

  const notifyIfEmpty = (): void => {
    if (outboxSize() !== 0 || flushWaiters.length === 0) return;
    const ws = flushWaiters;
    flushWaiters = [];
    for (const w of ws) w.resolve();
  };

  const schedulePump = (): void => {
    if (pumpPending !== undefined || holding || closed) return;
    if (lingerMs > 0 && queue.length - head < LINGER_MAX_EVENTS) {
      if (lingerTimer === undefined) lingerTimer = setTimeout(pump, lingerMs);
      return;
    }
    if (lingerTimer !== undefined) {
      clearTimeout(lingerTimer);
      lingerTimer = undefined;
    }
    pumpPending = setImmediate(pump);
  };

  /** An event too large for the server, re-encoded with a stub instead of its data. */
  const truncate = (entry: OutboxEntry, maxPayload: number): string => {
    const text = typeof entry.payload === "string" ? entry.payload : decoder.decode(entry.payload);
    const ev = JSON.parse(text) as Record<string, unknown>;
    ev["data"] = { truncated: true, originalBytes: entry.bytes, maxPayload };
    return JSON.stringify(ev);
  };

  const fail = (entry: OutboxEntry, why: string): void => {
    failed.push(entry);
    lastFailure = why;
    holding = true;
  };

  /** After acks or failures: refill the window, or — once a failed window has settled — queue the failures again. */
  const settled = (): void => {
    // Acks that arrive while close() shuts the connection still count; nothing is sent or retried any more.
    if (closed) return;
    if (holding) {
      if (inFlight.size === 0 && retryTimer === undefined && failed.length > 0) requeueFailed();
    } else if (head < queue.length) {
      schedulePump();
    }
    notifyIfEmpty();
  };

  const requeueFailed = (): void => {
    const back = failed.sort((a, b) => a.ord - b.ord);
    failed = [];
    // Every entry still in the queue is newer than every failed one: they were sent from its head, in order.
    if (head >= back.length) {
      for (let i = back.length - 1; i >= 0; i--) queue[--head] = back[i]!;
    } else {
      queue = [...back, ...queue.slice(head)];
      head = 0;
    }
    counters.retried += back.length;
    backoffMs = Math.min(Math.max(backoffMs * 2, 100), 2000);
    const now = Date.now();
    if (now - lastWarn.retry >= WARN_INTERVAL_MS) {
      lastWarn.retry = now;
      logger.warn("activity publish failed; retrying", { failed: back.length, error: lastFailure, outbox: outboxSize(), backoffMs });
    }
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      holding = false;
      pump();
    }, backoffMs);
  };

  const onAck = (err: Error | null, msg: Msg): void => {
    if (err !== null) {
      // The inbox subscription itself failed (a permissions error): the attempts in flight time out and retry.
      logger.warn("activity ack subscription failed", { error: describeError(err) });
      return;
    }
    const token = msg.subject.slice(inbox.length);
    const entry = inFlight.get(token);
    // An ack of an attempt already given up on (timed out, or in flight during a disconnect): a retry follows or
    // followed, and the stream answers it "duplicate".
    if (entry === undefined) return;
    inFlight.delete(token);
    const data = msg.data;
    const outcome = readAck(data, data.byteLength === 0 ? msg.headers?.code : undefined);
    if (outcome.ok) {
      counters.published++;
      if (outcome.duplicate) counters.duplicates++;
      outboxBytes -= entry.bytes;
      if (!holding) backoffMs = 0;
    } else {
      if (outcome.noStream) streamReady = false;
      fail(entry, outcome.error);
    }
    settled();
  };

  /** Gives up on every attempt whose deadline passed, then arms itself for the next oldest one. */
  const sweep = (): void => {
    sweepTimer = undefined;
    const now = Date.now();
    let expired = 0;
    for (const [token, entry] of inFlight) {
      if (entry.deadline > now) break;
      inFlight.delete(token);
      expired++;
      fail(entry, `no PubAck within ${ackTimeoutMs} ms`);
    }
    if (expired > 0) settled();
    armSweep();
  };

  const armSweep = (): void => {
    if (sweepTimer !== undefined || inFlight.size === 0 || closed) return;
    const oldest = inFlight.values().next().value as OutboxEntry;
    sweepTimer = setTimeout(sweep, Math.max(0, oldest.deadline - Date.now()) + 1);
    sweepTimer.unref();
  };

  const ensureStream = (c: NatsConnection): void => {
    if (ensuring) return;
    ensuring = true;
    const epoch = connectionEpoch;
    let setupBackoffMs = 0;
    const attempt = (): void => {
      void (async () => {
        await ensureActivityStream(await jetstreamManager(c, { timeout: ackTimeoutMs }), options.stream ?? {}, logger);
      })().then(
        () => {
          ensuring = false;
          if (epoch === connectionEpoch) streamReady = true;
          schedulePump();
        },
        (err: unknown) => {
          if (closed) return;
          setupBackoffMs = Math.min(Math.max(setupBackoffMs * 2, 250), 5000);
          logger.warn("cannot set up the activity stream; retrying", { error: describeError(err), backoffMs: setupBackoffMs });
          setTimeout(() => {
            if (closed) return;
            if (conn.isConnected()) attempt();
            // Disconnected meanwhile: the reconnect starts over.
            else ensuring = false;
          }, setupBackoffMs).unref();
        },
      );
    };
    attempt();
  };

  function pump(): void {
    if (pumpPending !== undefined) {
      clearImmediate(pumpPending);
      pumpPending = undefined;
    }
    if (lingerTimer !== undefined) {
      clearTimeout(lingerTimer);
      lingerTimer = undefined;
    }
    if (closed || holding || nc === undefined || !conn.isConnected()) return;
    if (!streamReady) return ensureStream(nc);
    const c = nc;
    const maxPayload = c.info?.max_payload ?? 1024 * 1024;
    const deadline = Date.now() + ackTimeoutMs;
    while (inFlight.size < maxInFlight && head < queue.length) {
      const entry = queue[head]!;
      queue[head++] = undefined;
      if (entry.bytes + HEADER_ALLOWANCE > maxPayload) {
        const stub = truncate(entry, maxPayload);
        const stubBytes = Buffer.byteLength(stub);
        outboxBytes += stubBytes - entry.bytes;
        entry.payload = stub;
        entry.bytes = stubBytes;
        counters.truncated++;
        logger.warn("activity event exceeds the NATS max_payload; its data was replaced by a stub", { maxPayload });
      }
      // Encoded here rather than in publish(): the caller's thread pays for JSON.stringify and a length scan only.
      if (typeof entry.payload === "string") entry.payload = Buffer.from(entry.payload);
      const token = (++tokens).toString(36);
      entry.deadline = deadline;
      msgHeaders.set("Nats-Msg-Id", entry.id);
      try {
        c.publish(entry.subject, entry.payload, { reply: inbox + token, headers: msgHeaders });
      } catch (err) {
        // The connection closed or started draining under us.
        fail(entry, describeError(err));
        break;
      }
      inFlight.set(token, entry);
    }
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    armSweep();
    if (holding) settled();
  }

  const conn = createManagedConnection({ url: options.url, name, logger });
  void conn.whenConnected().then((c) => {
    if (c === undefined) return;
    nc = c;
    inbox = `${createInbox()}.`;
    // nats.js subscribes again after every reconnect, before it sends anything else.
    c.subscribe(`${inbox}*`, { callback: onAck });
    schedulePump();
  });
  conn.onReconnect(() => {
    connectionEpoch++;
    streamReady = false;
    schedulePump();
  });
  conn.onDisconnect(() => {
    // nats.js discards what it had not written yet, and acks on the way are lost: give up on every attempt now
    // rather than after its timeout. A retry of one the server did store is answered "duplicate".
    for (const entry of inFlight.values()) fail(entry, "disconnected from NATS");
    inFlight.clear();
    settled();
  });

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
    let payload: string;
    let seq: number;
    const now = Date.now();
    const id = uuidv7(now);
    try {
      seq = nextSeq(callId);
      payload = encodeEvent({ id, callId, seq, type, source, time: isoTime(now), data });
    } catch (err) {
      // BigInt, a cycle, or a throwing toJSON: the caller's bug, never the caller's failure.
      counters.invalid++;
      warnLimited("invalid", "activity event data is not JSON-encodable; event dropped", { type, error: describeError(err) });
      return;
    }
    if (type === ActivityEventTypes.CallEnded) seqs.delete(callId);
    // The seq is spent even when the event is dropped: consumers see the gap and know an event is missing.
    const bytes = Buffer.byteLength(payload);
    if (outboxSize() >= outboxLimit || outboxBytes + bytes > outboxMaxBytes) {
      counters.dropped++;
      warnLimited("dropped", "activity outbox full; event dropped", { type, outbox: outboxSize() });
      return;
    }
    queue.push({ id, subject: `${ACTIVITY_SUBJECT_PREFIX}.${type}`, payload, bytes, ord: ord++, deadline: 0 });
    outboxBytes += bytes;
    schedulePump();
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
      if (pumpPending !== undefined) clearImmediate(pumpPending);
      clearTimeout(lingerTimer);
      clearTimeout(retryTimer);
      clearTimeout(sweepTimer);
      await conn.close();
      const left = outboxSize();
      if (left > 0) {
        counters.dropped += left;
        logger.warn("activity publisher closed with unpublished events; they are dropped", { dropped: left });
        queue = [];
        head = 0;
        inFlight.clear();
        failed = [];
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
