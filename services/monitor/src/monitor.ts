import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { createActivityConsumer, type ActivityConsumer } from "@luthien/events";
import { createLogger, type Logger } from "@luthien/runtime";
import { openDatabase, type DatabaseConfig, type MonitorDatabase } from "./db/database";
import { createAdminAuth } from "./http/auth";
import { createMonitorApp } from "./http/app";
import { createLiveHub, type LiveHub } from "./live";
import { createMonitorMetrics, type MonitorMetrics } from "./metrics";
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
  /** The JetStream durable consumer; monitors sharing it share the work. @default "luthien-monitor" */
  durable?: string;
  /** Most events stored per transaction. @default 500 */
  batch?: number;
  /** How long NATS waits for an ack before redelivering; a crashed monitor's unacked events return after it. @default 30000 */
  ackWaitMs?: number;
  /** SSE heartbeat interval. @default 15000 */
  heartbeatMs?: number;
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

/** Where the UI's static files are: `services/monitor/public`. */
export const PUBLIC_DIR = path.resolve(__dirname, "..", "public");

/**
 * Opens (and migrates) the database, starts the JetStream consumer and the HTTP server. NATS may be down: the
 * consumer connects when it comes up and `/ready` says so meanwhile.
 * @throws DatabaseStartError when the database cannot be opened or migrated
 */
export async function startMonitor(options: MonitorOptions): Promise<RunningMonitor> {
  const logger = options.logger ?? createLogger("monitor");
  const database = await openDatabase(options.database);
  const store = createStore(database);
  const hub = createLiveHub({ heartbeatMs: options.heartbeatMs ?? 15_000 });
  const auth = createAdminAuth(options.adminApiKey);
  if (auth.mode === "loopback") {
    logger.warn("ADMIN_API_KEY is not set: the monitor API and UI data answer loopback clients only");
  }
  const ingest = { batches: 0, stored: 0, duplicates: 0, deadLetters: 0 };
  const consumer = createActivityConsumer({
    url: options.natsUrl ?? "nats://127.0.0.1:4222",
    durable: options.durable ?? "luthien-monitor",
    batch: options.batch ?? 500,
    ackWaitMs: options.ackWaitMs ?? 30_000,
    logger,
    name: "luthien-monitor",
  });
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

  const app = createMonitorApp({
    store,
    hub,
    auth,
    logger,
    publicDir: PUBLIC_DIR,
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
      })();
      return closing;
    },
  };
}
