import type { ActivityConsumer } from "@luthien/events";
import { Counter, Gauge, Histogram, counterFrom, createHttpMetrics, createMetrics, createMetricsHandler, type Registry } from "@luthien/telemetry";

/** Options of {@link createMonitorMetrics}. */
export interface MonitorMetricsOptions {
  /** Its lag is asked of NATS at scrape time; its failure count is read from its counters. */
  consumer: Pick<ActivityConsumer, "lag" | "counters">;
  /** How many live SSE viewers are attached now. */
  liveClients(): number;
  /** Register Node's process metrics. @default true */
  processMetrics?: boolean;
}

/** The monitor's Prometheus metrics (prefix `luthien_monitor_`). */
export interface MonitorMetrics {
  readonly registry: Registry;
  /** Express middleware for `http_requests_total` / `http_request_duration_seconds`; mount before the routes. */
  readonly http: ReturnType<typeof createHttpMetrics>;
  /** The `GET /metrics` handler. */
  readonly handler: ReturnType<typeof createMetricsHandler>;
  /** One batch was committed after `ms`: how many events were new, were already stored, went to dead letters. */
  batchStored(ms: number, result: { stored: number; duplicates: number; deadLetters: number }): void;
}

const PREFIX = "luthien_monitor_";
const BATCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMonitorMetrics(options: MonitorMetricsOptions): MonitorMetrics {
  const registry = createMetrics({ service: "monitor", processMetrics: options.processMetrics ?? true });
  const registers = [registry];
  const batches = new Histogram({
    name: `${PREFIX}ingest_batch_duration_seconds`,
    help: "Time to store one batch of activity events (one database transaction, commit included)",
    buckets: BATCH_BUCKETS,
    registers,
  });
  const stored = new Counter({ name: `${PREFIX}events_stored_total`, help: "Activity events stored (new ones; redeliveries excluded)", registers });
  const duplicates = new Counter({ name: `${PREFIX}events_duplicate_total`, help: "Activity events received again and already stored", registers });
  const deadLetters = new Counter({ name: `${PREFIX}dead_letters_total`, help: "Messages that were not activity events, kept in the dead-letter table", registers });
  new Counter({
    name: `${PREFIX}ingest_failures_total`,
    help: "Batches the database refused (each is retried)",
    registers,
    collect: counterFrom(() => options.consumer.counters().handlerFailures),
  });
  new Gauge({
    name: `${PREFIX}live_clients`,
    help: "Live activity viewers (SSE) attached now",
    registers,
    collect() {
      this.set(options.liveClients());
    },
  });

  // Asked of NATS once per scrape for both gauges; NaN while NATS does not answer (unknown, not zero).
  let asked: Promise<{ pending: number; ackPending: number } | undefined> | undefined;
  const lag = (): Promise<{ pending: number; ackPending: number } | undefined> => {
    asked ??= options.consumer.lag().finally(() => setImmediate(() => (asked = undefined)));
    return asked;
  };
  new Gauge({
    name: `${PREFIX}consumer_pending`,
    help: "Activity events in JetStream not yet delivered to the monitor (the durable consumer's num_pending); NaN when NATS is unreachable",
    registers,
    async collect() {
      this.set((await lag())?.pending ?? Number.NaN);
    },
  });
  new Gauge({
    name: `${PREFIX}consumer_ack_pending`,
    help: "Activity events delivered to the monitor and not yet acked (being stored); NaN when NATS is unreachable",
    registers,
    async collect() {
      this.set((await lag())?.ackPending ?? Number.NaN);
    },
  });

  return {
    registry,
    http: createHttpMetrics({ registry, prefix: PREFIX }),
    handler: createMetricsHandler(registry),
    batchStored(ms, r) {
      batches.observe(ms / 1000);
      stored.inc(r.stored);
      duplicates.inc(r.duplicates);
      deadLetters.inc(r.deadLetters);
    },
  };
}
