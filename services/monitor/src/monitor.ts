import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { createActivityConsumer, InvalidConsumerNameError, isValidConsumerName, type ActivityConsumer } from "@luthien/events";
import type { ApprovalClient } from "@luthien/approvals";
import type { KeyStore } from "@luthien/keys";
import { createLogger, type Logger } from "@luthien/runtime";
import { openDatabase, type DatabaseConfig, type MonitorDatabase } from "./db/database";
import { createAdminAuth } from "./http/auth";
import { createMonitorApp } from "./http/app";
import { createLiveHub, type LiveHub } from "./live";
import { createMonitorMetrics, type MonitorMetrics } from "./metrics";
import type { StoreOriginals } from "./originals";
import { approvalsLib, createApprovalStore } from "./approvals";
import { createReplayReportStore } from "./replays";
import { createStore, type MonitorStore } from "./store";

/** Options of {@link startMonitor}. */
export interface MonitorOptions {
  /** HTTP port; 0 = any free port. @default 8001 */
  port?: number;
  /** @default "0.0.0.0" */
  host?: string;
  /** @default "nats://127.0.0.1:4222" */
  natsUrl?: string;
  database: DatabaseConfig;
  /** Unset or empty: the API answers loopback clients only. */
  adminApiKey?: string;
  /** @default createLogger("monitor") */
  logger?: Logger;
  /**
   * The JetStream durable consumer (`MONITOR_CONSUMER`). Monitors sharing it share the work, each storing part of
   * the events; a monitor with a database of its own needs a name of its own. @default {@link DEFAULT_CONSUMER}
   */
  durable?: string;
  /** Most events stored per transaction. @default 500 */
  batch?: number;
  /** How long NATS waits for an ack before redelivering; a crashed monitor's unacked events return after it. @default 30000 */
  ackWaitMs?: number;
  /** SSE heartbeat interval. @default 15000 */
  heartbeatMs?: number;
  /** How originals (`request.received`, `response.received`, `chunk.received`) are stored. @default "redacted" */
  storeOriginals?: StoreOriginals;
}

/** A running monitor. */
export interface RunningMonitor {
  readonly port: number;
  readonly url: string;
  readonly store: MonitorStore;
  readonly database: MonitorDatabase;
  readonly hub: LiveHub;
  readonly consumer: ActivityConsumer;
  /** What `GET /metrics` serves. */
  readonly metrics: MonitorMetrics;
  /** Stops fetching, lets the batch being stored finish (and acks it), ends live streams, closes the database. */
  close(): Promise<void>;
}

/** The durable consumer's name unless `MONITOR_CONSUMER` says otherwise. */
export const DEFAULT_CONSUMER = "luthien-monitor";

/** Where the UI's static files are: `services/monitor/public`. */
export const PUBLIC_DIR = path.resolve(__dirname, "..", "public");

/**
 * Opens (and migrates) the database, starts the JetStream consumer and the HTTP server. NATS may be down: the
 * consumer connects when it comes up and `/ready` says so meanwhile.
 * @throws InvalidConsumerNameError when `durable` is not a valid JetStream name (before anything is opened)
 * @throws DatabaseStartError when the database cannot be opened or migrated
 */
export async function startMonitor(options: MonitorOptions): Promise<RunningMonitor> {
  const logger = options.logger ?? createLogger("monitor");
  const durable = options.durable ?? DEFAULT_CONSUMER;
  if (!isValidConsumerName(durable)) throw new InvalidConsumerNameError(durable);
  const database = await openDatabase(options.database, { logger });
  const storeOriginals = options.storeOriginals ?? "redacted";
  const store = createStore(database, { storeOriginals });
  const hub = createLiveHub({ heartbeatMs: options.heartbeatMs ?? 15_000 });
  const auth = createAdminAuth(options.adminApiKey);
  if (auth.mode === "loopback") {
    logger.warn("ADMIN_API_KEY is not set: the monitor API and UI data answer loopback clients only, and only under a loopback host name (localhost, 127.0.0.1, [::1])");
  }
  if (storeOriginals === "full") logger.warn("MONITOR_STORE_ORIGINALS=full: original requests and responses are stored with any secrets they carry");
  else logger.info("storing originals", { storeOriginals });
  const ingest = { batches: 0, stored: 0, duplicates: 0, deadLetters: 0 };
  const consumer = createActivityConsumer({
    url: options.natsUrl ?? "nats://127.0.0.1:4222",
    durable,
    batch: options.batch ?? 500,
    ackWaitMs: options.ackWaitMs ?? 30_000,
    logger,
    name: "luthien-monitor",
  });
  // Which share of the activity this monitor gets: every event of the stream, or — when another monitor uses the
  // same durable — part of them. Printed whatever LOG_LEVEL says, like the listening line.
  logger.notice("consuming activity", { stream: consumer.stream, consumer: consumer.durable, subjects: consumer.filterSubject });
  const metrics = createMonitorMetrics({ consumer, liveClients: () => hub.clients() });
  const consuming = consumer.run(async (batch) => {
    const started = performance.now();
    const r = await store.ingest(batch);
    ingest.batches++;
    ingest.stored += r.inserted.length;
    ingest.duplicates += r.duplicates;
    ingest.deadLetters += r.deadLetters;
    metrics.batchStored(performance.now() - started, { stored: r.inserted.length, duplicates: r.duplicates, deadLetters: r.deadLetters });
    if (r.deadLetters > 0) logger.warn("stored messages that are not activity events as dead letters", { count: r.deadLetters });
    logger.debug("stored batch", { messages: batch.length, stored: r.inserted.length, duplicates: r.duplicates, ms: Math.round(performance.now() - started) });
    // Only after the commit: a live viewer never sees an event the API cannot find.
    hub.broadcast(r.inserted);
  });

  const natsUrl = options.natsUrl ?? "nats://127.0.0.1:4222";
  let keyStore: Promise<KeyStore> | undefined;
  const keys = (): Promise<KeyStore> => {
    // Loaded on first use: a monitor nobody asks about keys does not carry the KV client (~0.7 MiB of its idle RSS).
    keyStore ??= Promise.resolve().then(() => (require("@luthien/keys") as typeof import("@luthien/keys")).openKeyStore({ url: natsUrl }));
    // A store that could not be opened is tried again at the next request.
    keyStore.catch(() => (keyStore = undefined));
    return keyStore;
  };
  let approvalClient: Promise<ApprovalClient> | undefined;
  const approvals = (): Promise<ApprovalClient> => {
    // One per process, opened by the first decision; one that could not connect is tried again at the next.
    approvalClient ??= Promise.resolve().then(() => approvalsLib().openApprovalClient({ url: natsUrl, name: "luthien-monitor-approvals" }));
    approvalClient.catch(() => (approvalClient = undefined));
    return approvalClient;
  };
  const app = createMonitorApp({
    keys,
    approvalClient: approvals,
    store,
    approvals: createApprovalStore(database.db),
    replays: createReplayReportStore(database.db),
    hub,
    auth,
    logger,
    publicDir: PUBLIC_DIR,
    storeOriginals,
    metrics,
    readiness: async () => ({ database: await database.ping(1500), nats: consumer.connected() }),
    counters: () => {
      const c = consumer.counters();
      return {
        ingestBatches: ingest.batches,
        ingestStored: ingest.stored,
        ingestDuplicates: ingest.duplicates,
        ingestDeadLetters: ingest.deadLetters,
        consumerDelivered: c.delivered,
        consumerAcked: c.acked,
        consumerBuffered: c.buffered,
        consumerHandlerFailures: c.handlerFailures,
      };
    },
  });

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(options.port ?? 8001, options.host ?? "0.0.0.0", (err?: Error) => (err !== undefined ? reject(err) : resolve(s)));
    });
  } catch (err) {
    await consumer.close();
    await database.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    store,
    database,
    hub,
    consumer,
    metrics,
    close: () => {
      closing ??= (async () => {
        await consumer.close();
        await consuming;
        hub.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await database.close();
        await (await keyStore?.catch(() => undefined))?.close();
        await (await approvalClient?.catch(() => undefined))?.close();
      })();
      return closing;
    },
  };
}
