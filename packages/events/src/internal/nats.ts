/**
 * Private: the only module that imports the NATS client. Everything else in the package (and the repository) goes
 * through the publisher, the consumer and the subscription built on these helpers.
 */
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { ClosedError } from "../errors";
import type { EventsLogger } from "../logger";
import { ACTIVITY_STREAM, ACTIVITY_SUBJECTS } from "../subjects";

/** Limits of the `LUTHIEN_ACTIVITY` stream, applied when this process is the one that creates it. */
export interface ActivityStreamLimits {
  /** Oldest message kept. @default 604_800_000 (7 days) */
  maxAgeMs?: number;
  /** Stream size bound; past it new publishes are refused (`discard: new`) and stay in publishers' outboxes. @default 1_073_741_824 (1 GiB) */
  maxBytes?: number;
  /** Window in which a repeated `Nats-Msg-Id` is recognised as a duplicate. @default 120_000 (the server's default) */
  duplicateWindowMs?: number;
}

const STREAM_NAME_IN_USE = 10058;

/**
 * Connects and keeps reconnecting for ever: nats.js gives up after ~10 attempts by default, and
 * `waitOnFirstConnect` lets the first connect wait for a server that is not up yet. `isClosed` ends the dial loop
 * when the owner closes before a server ever answered (nats.js offers no other way to stop it).
 */
export function connectForever(url: string, name: string, isClosed: () => boolean): Promise<NatsConnection> {
  return connect({
    servers: url
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
    name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    // Notice a dead (not closed) server within ~30 s rather than the default ~4 min.
    pingInterval: 10_000,
    maxPingOut: 3,
    reconnectToServer: () => {
      if (isClosed()) throw new ClosedError("connection");
      return null;
    },
  });
}

/**
 * Creates `LUTHIEN_ACTIVITY` (subjects `luthien.activity.>`, file storage, limits retention, `discard: new`) when
 * it does not exist. An existing stream is left as it is, since an operator may have tuned its limits; a warning
 * says when it does not capture every activity subject.
 */
export async function ensureActivityStream(jsm: JetStreamManager, limits: ActivityStreamLimits, logger: EventsLogger): Promise<void> {
  try {
    const info = await jsm.streams.info(ACTIVITY_STREAM);
    if (!(info.config.subjects ?? []).includes(ACTIVITY_SUBJECTS)) {
      logger.warn("activity stream does not capture every activity subject", {
        stream: ACTIVITY_STREAM,
        subjects: (info.config.subjects ?? []).join(","),
      });
    }
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
  }
  try {
    await jsm.streams.add({
      name: ACTIVITY_STREAM,
      subjects: [ACTIVITY_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: nanos(limits.maxAgeMs ?? 7 * 24 * 3600 * 1000),
      max_bytes: limits.maxBytes ?? 1024 * 1024 * 1024,
      duplicate_window: nanos(limits.duplicateWindowMs ?? 120_000),
      num_replicas: 1,
    });
    logger.info("created activity stream", { stream: ACTIVITY_STREAM });
  } catch (err) {
    // Another process created it between our info and add, with other limits: theirs stand.
    if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) return;
    throw err;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
