import type { PublisherCounters } from "@luthien/events";
import { Counter, Gauge, Histogram, counterFrom, createHttpMetrics, createMetrics, createMetricsHandler, type Registry } from "@luthien/telemetry";
import type { PolicyEngineMetrics, VerdictPhase } from "./engine/policy-engine";

/** Options of {@link createGatewayMetrics}. */
export interface GatewayMetricsOptions {
  /** The activity publisher whose outbox, retries and drops are reported at scrape time. @default none */
  publisher?: { counters(): PublisherCounters };
  /** Register Node's process metrics. Tests building many gateways in one process turn them off. @default true */
  processMetrics?: boolean;
}

/**
 * The gateway's Prometheus metrics (prefix `luthien_gateway_`). Labels carry only bounded, non-secret values:
 * method, route pattern, status, verdict phase, bypass reason; virtual key ids (`vk_…`, never keys nor static keys'
 * ids) only on the spend counters, one series per key.
 */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Express middleware for `http_requests_total` / `http_request_duration_seconds`; mount before the routes. */
  readonly http: ReturnType<typeof createHttpMetrics>;
  /** The `GET /metrics` handler. */
  readonly handler: ReturnType<typeof createMetricsHandler>;
  /** What the engine client records; pass it as `PolicyEngineOptions.metrics`. */
  readonly engine: PolicyEngineMetrics;
  /** A call was served without policy (fail-open); `reason` is the engine failure's reason code. */
  bypassed(reason: string): void;
  /** An SSE stream to a client opened; call the returned function once when it closes. */
  streamOpened(): () => void;
  /**
   * A key's limit decided a call: `refused` (429), or the limit store failed and the call was `denied` (503) or
   * `allowed` unchecked (LIMITS_ON_STORE_ERROR=allow).
   */
  limited(outcome: "refused" | "denied" | "allowed"): void;
  /**
   * A finished call's tokens and cost (undefined: its model has no price), labelled with a virtual key's id, or
   * `static` / `passthrough` / `none`: never a key, nor a static key's id (a digest prefix of its secret).
   */
  spent(label: string, usd: number | undefined, tokens: number): void;
}

const PREFIX = "luthien_gateway_";
/** Verdicts are sub-millisecond on a warm stream; judges and timeouts take seconds. */
const VERDICT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = createMetrics({ service: "gateway", processMetrics: options.processMetrics ?? true });
  const registers = [registry];
  const verdicts = new Histogram({
    name: `${PREFIX}engine_verdict_duration_seconds`,
    help: "Time from asking the policy engine for a verdict until its answer, by phase (request, response, chunk, finish)",
    labelNames: ["phase"] as const,
    buckets: VERDICT_BUCKETS,
    registers,
  });
  const timeouts = new Counter({ name: `${PREFIX}engine_verdict_timeouts_total`, help: "Verdicts the policy engine did not give in time", registers });
  const unexpected = new Counter({
    name: `${PREFIX}engine_unexpected_answers_total`,
    help: "Engine answers that matched nothing pending (late, duplicate, unknown or out of order); never applied",
    registers,
  });
  const bypasses = new Counter({
    name: `${PREFIX}policy_bypasses_total`,
    help: "Calls served without policy, by reason: the engine failed in a pool that fails open, or the route is an operator's unchecked route (unchecked-route)",
    labelNames: ["reason"] as const,
    registers,
  });
  const limits = new Counter({
    name: `${PREFIX}limit_decisions_total`,
    help: "Calls a key's rate limit stopped (refused), or that met a failed limit store and were denied or allowed unchecked",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of ["refused", "denied", "allowed"] as const) limits.inc({ outcome }, 0);
  const cost = new Counter({ name: `${PREFIX}cost_usd_total`, help: "What calls cost at the gateway's price table, by key id", labelNames: ["key_id"] as const, registers });
  const tokens = new Counter({ name: `${PREFIX}tokens_total`, help: "Input + output tokens of finished calls, by key id", labelNames: ["key_id"] as const, registers });
  const streams = new Gauge({ name: `${PREFIX}active_streams`, help: "SSE streams to clients open now", registers });
  // Bound once: verdicts are recorded per stream chunk, where hashing the label set each time shows.
  const verdictsBy = Object.fromEntries(
    (["request", "response", "chunk", "finish"] as const).map((phase) => {
      verdicts.zero({ phase });
      return [phase, verdicts.labels(phase)];
    }),
  ) as Record<VerdictPhase, ReturnType<typeof verdicts.labels>>;

  const publisher = options.publisher;
  const read = (pick: (c: PublisherCounters) => number) => () => (publisher !== undefined ? pick(publisher.counters()) : 0);
  new Gauge({
    name: `${PREFIX}activity_outbox_events`,
    help: "Activity events waiting in the publisher's outbox (in flight included)",
    registers,
    collect() {
      this.set(read((c) => c.outbox)());
    },
  });
  new Counter({ name: `${PREFIX}activity_published_total`, help: "Activity events acknowledged by JetStream", registers, collect: counterFrom(read((c) => c.published)) });
  new Counter({ name: `${PREFIX}activity_publish_retries_total`, help: "Activity event publishes retried", registers, collect: counterFrom(read((c) => c.retried)) });
  new Counter({
    name: `${PREFIX}activity_dropped_total`,
    help: "Activity events dropped (outbox full, or unpublished at shutdown)",
    registers,
    collect: counterFrom(read((c) => c.dropped)),
  });

  return {
    registry,
    http: createHttpMetrics({ registry, prefix: PREFIX }),
    handler: createMetricsHandler(registry),
    engine: {
      verdict: (phase, ms) => verdictsBy[phase].observe(ms / 1000),
      timeout: () => timeouts.inc(),
      unexpected: () => unexpected.inc(),
    },
    bypassed: (reason) => bypasses.inc({ reason }),
    limited: (outcome) => limits.inc({ outcome }),
    spent(label, usd, used) {
      const key_id = label === "" ? "none" : label;
      if (usd !== undefined) cost.inc({ key_id }, usd);
      tokens.inc({ key_id }, used);
    },
    streamOpened() {
      streams.inc();
      let open = true;
      return () => {
        if (!open) return;
        open = false;
        streams.dec();
      };
    },
  };
}
