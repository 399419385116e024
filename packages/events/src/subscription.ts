import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parseActivityEvent } from "./envelope";
import { InvalidEventError } from "./errors";
import { createManagedConnection } from "./internal/connection";
import { ensureActivityStream } from "./internal/nats";
import { describeError, silentLogger, type EventsLogger } from "./logger";
import { ACTIVITY_SUBJECTS } from "./subjects";
import type { ActivityEvent } from "./types";

/** One message seen by {@link subscribeActivity}: the parsed event, or why it did not parse. */
export type ActivityDelivery =
  | { subject: string; event: ActivityEvent; error?: undefined; data: Uint8Array }
  | { subject: string; event?: undefined; error: InvalidEventError; data: Uint8Array };

/** Options of {@link subscribeActivity}. */
export interface ActivitySubscriptionOptions {
  url: string;
  /** A subject or wildcard under `luthien.activity`. @default "luthien.activity.>" */
  subject?: string;
  /** @default a silent logger */
  logger?: EventsLogger;
  /** @default "luthien-tail" */
  name?: string;
}

/** A live subscription. */
export interface ActivitySubscription {
  connected(): boolean;
  /** Unsubscribes and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * A core NATS subscription: every activity event published from now on, as it happens, with no stream state and
 * no acks (at most once; events published while this subscriber is disconnected are not seen — read the stream
 * or the monitor for history). Connects in the background and keeps reconnecting; nats.js resubscribes after a
 * reconnect. `onMessage` must not throw.
 */
export function subscribeActivity(options: ActivitySubscriptionOptions, onMessage: (d: ActivityDelivery) => void): ActivitySubscription {
  const logger = options.logger ?? silentLogger;
  const conn = createManagedConnection({ url: options.url, name: options.name ?? "luthien-tail", logger });
  const subject = options.subject ?? ACTIVITY_SUBJECTS;
  let closed = false;
  const ready = conn.whenConnected().then((nc) => {
    if (nc === undefined || closed) return;
    nc.subscribe(subject, {
      callback: (err, m) => {
        if (err !== null) {
          logger.warn("activity subscription error", { error: describeError(err) });
          return;
        }
        try {
          onMessage({ subject: m.subject, event: parseActivityEvent(m.data), data: m.data });
        } catch (e) {
          const error = e instanceof InvalidEventError ? e : new InvalidEventError("$", describeError(e), { cause: e });
          onMessage({ subject: m.subject, error, data: m.data });
        }
      },
    });
  });
  return {
    connected: () => conn.isConnected(),
    close: async () => {
      closed = true;
      await conn.close();
      await ready;
    },
  };
}

/** Options of {@link publishActivityBytes}. */
export interface PublishBytesOptions {
  url: string;
  /** A subject under `luthien.activity.`. */
  subject: string;
  payload: Uint8Array | string;
  /** The `Nats-Msg-Id`; omitted, the stream cannot deduplicate a retry. */
  msgID?: string;
  /** Connect and ack deadline. @default 5000 */
  timeoutMs?: number;
}

/**
 * Publishes arbitrary bytes to the activity stream once, over a short-lived connection, and waits for the
 * JetStream ack. For bridges and tests (e.g. a message that is not a valid event); services use
 * {@link createEventPublisher}, which queues and retries.
 * @throws the NATS client's error when NATS is not reachable in time or the publish is refused
 */
export async function publishActivityBytes(options: PublishBytesOptions): Promise<void> {
  const timeout = options.timeoutMs ?? 5000;
  const nc = await connect({ servers: options.url.split(","), timeout, name: "luthien-publish-bytes" });
  try {
    await ensureActivityStream(await jetstreamManager(nc, { timeout }), {}, silentLogger);
    const payload = typeof options.payload === "string" ? new TextEncoder().encode(options.payload) : options.payload;
    await jetstream(nc, { timeout }).publish(options.subject, payload, {
      timeout,
      ...(options.msgID !== undefined ? { msgID: options.msgID } : {}),
    });
  } finally {
    await nc.close();
  }
}
