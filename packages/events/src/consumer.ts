import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { createManagedConnection } from "./internal/connection";
import { ensureActivityStream, sleep, type ActivityStreamLimits } from "./internal/nats";
import { InvalidConsumerNameError } from "./errors";
import { describeError, silentLogger, type EventsLogger } from "./logger";
import { ACTIVITY_STREAM, ACTIVITY_SUBJECTS } from "./subjects";

/** Longest durable name accepted (JetStream's own limit is higher; names end up in file names on the server). */
export const MAX_CONSUMER_NAME_LENGTH = 128;

/**
 * Whether `name` can be a durable consumer's name: 1 to {@link MAX_CONSUMER_NAME_LENGTH} printable characters with
 * no whitespace, `.`, `*`, `>`, `/` or `\` (JetStream puts the name into API subjects and file names).
 */
export function isValidConsumerName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_CONSUMER_NAME_LENGTH && !/[\s.*>/\\\p{Cc}]/u.test(name);
}

/** Options of {@link createActivityConsumer}. */
export interface ActivityConsumerOptions {
  /** NATS server URL, or a comma list of them. */
  url: string;
  /**
   * The durable consumer's name; instances sharing it share the work (each message goes to one of them), and a
   * new name starts at the beginning of the stream. See {@link isValidConsumerName}.
   */
  durable: string;
  /** Which activity subjects to receive. @default "luthien.activity.>" */
  filterSubject?: string;
  /** Most messages handed to the handler at once. @default 500 */
  batch?: number;
  /** Messages delivered but not yet acked, across every instance of the durable. @default 5000 */
  maxAckPending?: number;
  /** How long the server waits for an ack before redelivering (a crashed instance's messages come back after it). @default 30_000 */
  ackWaitMs?: number;
  /** @default a silent logger */
  logger?: EventsLogger;
  /** The NATS connection name. @default `luthien-consumer-<durable>` */
  name?: string;
  /** Limits of the stream if this consumer is the one to create it. */
  stream?: ActivityStreamLimits;
}

/** One delivered message, raw: parse it with `parseActivityEvent`. */
export interface ActivityMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Its sequence number in the stream. */
  readonly streamSeq: number;
  /** 1 on first delivery, more on redelivery. */
  readonly deliveryCount: number;
}

/**
 * Stores a batch. Resolving means "committed": every message of the batch is then acked. Rejecting means "not
 * stored, try again": the same batch is retried with backoff (its ack deadline extended meanwhile) until it
 * succeeds or the consumer closes, so a poison message must be dealt with inside the handler (e.g. a dead-letter
 * table), not by throwing. `signal` aborts when the consumer closes.
 */
export type ActivityBatchHandler = (messages: readonly ActivityMessage[], signal: AbortSignal) => Promise<void>;

/** What a consumer did so far. */
export interface ConsumerCounters {
  /** Messages received from the server. */
  delivered: number;
  /** Messages acked after their batch was stored. */
  acked: number;
  /** Handler rejections (each followed by a retry). */
  handlerFailures: number;
  /** Messages received and not yet handed to the handler. */
  buffered: number;
}

/** A durable pull consumer on `LUTHIEN_ACTIVITY` with explicit acks. See {@link createActivityConsumer}. */
export interface ActivityConsumer {
  /** The stream it reads: `LUTHIEN_ACTIVITY`. */
  readonly stream: string;
  /** The durable consumer's name. */
  readonly durable: string;
  /** The subjects it receives. */
  readonly filterSubject: string;
  /**
   * Receives messages and hands them to `handler` in batches, in stream order, one batch at a time; acks each
   * batch once the handler resolved. Batches grow while the handler is busy (up to `batch`), so a slow database
   * gets fewer, larger writes. Resolves after `close()`.
   * @throws Error when called twice
   */
  run(handler: ActivityBatchHandler): Promise<void>;
  /** Connected to NATS right now. */
  connected(): boolean;
  counters(): ConsumerCounters;
  /**
   * Asks the server how far behind the durable consumer is: `pending` messages not yet delivered to any instance,
   * `ackPending` delivered and not yet acked. Undefined while disconnected or when the server does not answer.
   */
  lag(): Promise<{ pending: number; ackPending: number } | undefined>;
  /**
   * Stops receiving, lets the batch being handled finish (and acks it), hands back the rest to the server (nak, so
   * another instance gets them at once), and closes the connection. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Creates the consumer and starts connecting in the background (it never waits for NATS). `run()` creates the
 * stream and the durable consumer when missing (explicit ack, deliver all, `max_deliver` unlimited), and
 * recreates them if they vanish (e.g. a NATS server that lost its store).
 * @throws InvalidConsumerNameError when `durable` is not a valid name (checked before anything connects)
 */
export function createActivityConsumer(options: ActivityConsumerOptions): ActivityConsumer {
  if (!isValidConsumerName(options.durable)) throw new InvalidConsumerNameError(options.durable);
  const logger = options.logger ?? silentLogger;
  const batchSize = Math.max(1, options.batch ?? 500);
  const filterSubject = options.filterSubject ?? ACTIVITY_SUBJECTS;
  const conn = createManagedConnection({ url: options.url, name: options.name ?? `luthien-consumer-${options.durable}`, logger });
  const counters = { delivered: 0, acked: 0, handlerFailures: 0 };
  const buffer: JsMsg[] = [];
  const stop = new AbortController();
  let closed = false;
  let running: { reader: Promise<void>; writer: Promise<void> } | undefined;
  let stopCurrent: (() => void) | undefined;
  let readerWake: (() => void) | undefined;
  let writerWake: (() => void) | undefined;

  const wakeWriter = (): void => {
    const w = writerWake;
    writerWake = undefined;
    w?.();
  };
  const wakeReader = (): void => {
    const w = readerWake;
    readerWake = undefined;
    w?.();
  };

  const ensureConsumer = async (jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> => {
    const ackWait = nanos(options.ackWaitMs ?? 30_000);
    const maxAckPending = options.maxAckPending ?? 5000;
    try {
      const info = await jsm.consumers.info(ACTIVITY_STREAM, options.durable);
      if (info.config.ack_wait !== ackWait || info.config.max_ack_pending !== maxAckPending) {
        // The durable outlives the process: settings changed since it was created apply from now on.
        await jsm.consumers.update(ACTIVITY_STREAM, options.durable, { ack_wait: ackWait, max_ack_pending: maxAckPending }).catch((err: unknown) => {
          logger.warn("cannot update the activity consumer's settings; keeping the old ones", { error: describeError(err) });
        });
      }
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.ConsumerNotFound) throw err;
    }
    await jsm.consumers.add(ACTIVITY_STREAM, {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filterSubject,
      ack_wait: ackWait,
      max_ack_pending: maxAckPending,
      max_deliver: -1,
    });
    logger.info("created activity consumer", { stream: ACTIVITY_STREAM, durable: options.durable });
  };

  const read = async (): Promise<void> => {
    let backoffMs = 0;
    while (!closed) {
      const nc = await conn.whenConnected();
      if (nc === undefined) return;
      try {
        const jsm = await jetstreamManager(nc);
        await ensureActivityStream(jsm, options.stream ?? {}, logger);
        await ensureConsumer(jsm);
        const consumer = await jetstream(nc).consumers.get(ACTIVITY_STREAM, options.durable);
        // The client keeps up to this many messages requested ahead; the buffer below bounds the rest.
        const messages = await consumer.consume({ max_messages: batchSize * 2 });
        stopCurrent = () => void messages.close().catch(() => {});
        void (async () => {
          for await (const s of messages.status()) {
            // Gone server-side: start over, which recreates what is missing.
            if (s.type === "consumer_deleted" || s.type === "consumer_not_found" || s.type === "stream_not_found") {
              logger.warn("activity consumer lost its stream or durable; recreating", { kind: s.type });
              void messages.close().catch(() => {});
              return;
            }
          }
        })();
        backoffMs = 0;
        for await (const m of messages) {
          buffer.push(m);
          counters.delivered++;
          wakeWriter();
          while (buffer.length >= batchSize * 2 && !closed) await new Promise<void>((r) => (readerWake = r));
          if (closed) break;
        }
      } catch (err) {
        if (closed) return;
        logger.warn("activity consumer cannot receive; retrying", { error: describeError(err) });
      }
      stopCurrent = undefined;
      if (!closed) {
        backoffMs = Math.min(Math.max(backoffMs * 2, 250), 5000);
        await sleep(backoffMs, stop.signal);
      }
    }
  };

  const safe = (f: () => void): void => {
    try {
      f();
    } catch {
      // The connection is closed or reconnecting: the server redelivers after ack_wait, and storing is idempotent.
    }
  };

  const write = async (handler: ActivityBatchHandler): Promise<void> => {
    for (;;) {
      if (closed) return;
      if (buffer.length === 0) {
        await new Promise<void>((r) => (writerWake = r));
        continue;
      }
      const taken = buffer.splice(0, batchSize);
      wakeReader();
      const batch: ActivityMessage[] = taken.map((m) => ({
        subject: m.subject,
        data: m.data,
        streamSeq: m.seq,
        deliveryCount: m.info.deliveryCount,
      }));
      let backoffMs = 0;
      for (;;) {
        try {
          await handler(batch, stop.signal);
          for (const m of taken) safe(() => m.ack());
          counters.acked += taken.length;
          break;
        } catch (err) {
          counters.handlerFailures++;
          if (closed) {
            for (const m of taken) safe(() => m.nak());
            break;
          }
          backoffMs = Math.min(Math.max(backoffMs * 2, 250), 5000);
          logger.warn("activity batch not stored; retrying", { messages: taken.length, error: describeError(err), backoffMs });
          await sleep(backoffMs, stop.signal);
          if (closed) {
            for (const m of taken) safe(() => m.nak());
            break;
          }
          // Still ours: push the redelivery deadline back while we retry.
          for (const m of taken) safe(() => m.working());
        }
      }
    }
  };

  return {
    stream: ACTIVITY_STREAM,
    durable: options.durable,
    filterSubject,
    run(handler) {
      if (running !== undefined) throw new Error("ActivityConsumer.run() was already called");
      const reader = read().catch((err: unknown) => logger.error("activity consumer reader failed", { error: describeError(err) }));
      const writer = write(handler).catch((err: unknown) => logger.error("activity consumer writer failed", { error: describeError(err) }));
      running = { reader, writer };
      return Promise.all([reader, writer]).then(() => undefined);
    },
    connected: () => conn.isConnected(),
    counters: () => ({ ...counters, buffered: buffer.length }),
    async lag() {
      const nc = conn.current();
      if (nc === undefined || !conn.isConnected()) return undefined;
      try {
        const info = await (await jetstreamManager(nc, { timeout: 1000, checkAPI: false })).consumers.info(ACTIVITY_STREAM, options.durable);
        return { pending: info.num_pending, ackPending: info.num_ack_pending };
      } catch {
        return undefined;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      stopCurrent?.();
      wakeReader();
      wakeWriter();
      stop.abort();
      // The batch in the handler finishes and is acked; then what was never handled goes back to the server.
      if (running !== undefined) await running.writer;
      for (const m of buffer.splice(0)) safe(() => m.nak());
      await conn.close();
      if (running !== undefined) await running.reader;
    },
  };
}
