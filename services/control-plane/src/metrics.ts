import { Counter, Gauge, Histogram, createMetrics, startMetricsServer, type MetricsServer, type Registry } from "@luthien/telemetry";

/** A verdict's phase, named after the gateway message that asked for it. */
export type EvaluationPhase = "request" | "response" | "chunk" | "finish";

/** What the engine handlers report. Must be cheap: `evaluated` runs per chunk. */
export interface EngineMetrics {
  /** A gateway opened a `Process` stream. */
  streamOpened(): void;
  /** A call started (its `Start` was accepted and its chain chosen). */
  callStarted(): void;
  /** The chain took `ms` to handle one message of `phase`. */
  evaluated(phase: EvaluationPhase, ms: number): void;
  /** A call ended with an `EngineError`; `code` is its code (`policy_error`, `bad_message`, ...). */
  failed(code: string): void;
  /** Reads the streams and calls open now, at scrape time. Called once, by the handlers. */
  observe(open: { streams(): number; calls(): number }): void;
}

/** The control plane's Prometheus metrics (prefix `luthien_control_plane_`). */
export interface ControlPlaneMetrics {
  readonly registry: Registry;
  readonly engine: EngineMetrics;
  /** A config change was applied (`policy.config.reloaded`) or refused (`policy.config.rejected`). */
  configChanged(outcome: "reloaded" | "rejected"): void;
}

const PREFIX = "luthien_control_plane_";
/** Chains without judges answer in microseconds; judges take seconds. */
const EVALUATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * @param options.processMetrics register Node's process metrics @default true
 */
export function createControlPlaneMetrics(options: { processMetrics?: boolean } = {}): ControlPlaneMetrics {
  const registry = createMetrics({ service: "control-plane", processMetrics: options.processMetrics ?? true });
  const registers = [registry];
  const streams = new Counter({ name: `${PREFIX}streams_total`, help: "Process streams opened by gateways", registers });
  const calls = new Counter({ name: `${PREFIX}calls_total`, help: "Calls started", registers });
  const evaluations = new Histogram({
    name: `${PREFIX}policy_evaluation_duration_seconds`,
    help: "Time the policy chain took to decide one message, by phase (request, response, chunk, finish)",
    labelNames: ["phase"] as const,
    buckets: EVALUATION_BUCKETS,
    registers,
  });
  // Bound once: evaluations are recorded per stream chunk, where hashing the label set each time shows.
  const evaluationsBy = Object.fromEntries(
    (["request", "response", "chunk", "finish"] as const).map((phase) => {
      evaluations.zero({ phase });
      return [phase, evaluations.labels(phase)];
    }),
  ) as Record<EvaluationPhase, ReturnType<typeof evaluations.labels>>;
  const errors = new Counter({
    name: `${PREFIX}policy_errors_total`,
    help: "Calls the engine ended with an error (a policy threw, a bad message, an unsupported protocol), by code",
    labelNames: ["code"] as const,
    registers,
  });
  const config = new Counter({
    name: `${PREFIX}config_changes_total`,
    help: "Policy config changes: reloaded (applied) or rejected (invalid; the previous config stays)",
    labelNames: ["outcome"] as const,
    registers,
  });
  config.inc({ outcome: "reloaded" }, 0);
  config.inc({ outcome: "rejected" }, 0);

  let open: { streams(): number; calls(): number } = { streams: () => 0, calls: () => 0 };
  new Gauge({
    name: `${PREFIX}streams_active`,
    help: "Process streams open now",
    registers,
    collect() {
      this.set(open.streams());
    },
  });
  new Gauge({
    name: `${PREFIX}calls_active`,
    help: "Calls in progress now",
    registers,
    collect() {
      this.set(open.calls());
    },
  });

  return {
    registry,
    engine: {
      streamOpened: () => streams.inc(),
      callStarted: () => calls.inc(),
      evaluated: (phase, ms) => evaluationsBy[phase].observe(ms / 1000),
      failed: (code) => errors.inc({ code }),
      observe(o) {
        open = o;
      },
    },
    configChanged: (outcome) => config.inc({ outcome }),
  };
}

/**
 * Serves `GET /metrics` and `GET /health` on their own port (the gRPC port speaks HTTP/2 only).
 * @param options.port 0 picks a free port
 * @param options.host @default "0.0.0.0"
 */
export function serveControlPlaneMetrics(metrics: ControlPlaneMetrics, options: { port: number; host?: string }): Promise<MetricsServer> {
  return startMetricsServer({ registry: metrics.registry, port: options.port, ...(options.host !== undefined ? { host: options.host } : {}) });
}

/** What {@link startControlPlaneMetrics} got: a server, and why it is not on the port asked for (or not at all). */
export interface MetricsStart {
  /** undefined when no port could be bound: the engine serves without metrics. */
  server: MetricsServer | undefined;
  /** The port asked for, when the server is elsewhere or absent. */
  wanted?: number;
  /** Why the port asked for could not be bound (`EADDRINUSE`, `EACCES`, ...). */
  error?: string;
}

/**
 * Starts the metrics endpoint without ever failing: metrics must not take the policy engine down. A port given
 * explicitly (`configured`) that cannot be bound leaves the engine without metrics; the default port, when taken
 * (a second engine on the same host), gives way to a free port.
 * @param options.port the port from `CONTROL_PLANE_METRICS_PORT`, or its default, 9464 (Prometheus' exporter convention)
 * @param options.configured whether the operator set the port (then no other port is tried)
 */
export async function startControlPlaneMetrics(metrics: ControlPlaneMetrics, options: { port: number; configured: boolean; host?: string }): Promise<MetricsStart> {
  const listen = (port: number): Promise<MetricsServer> => serveControlPlaneMetrics(metrics, { port, ...(options.host !== undefined ? { host: options.host } : {}) });
  try {
    return { server: await listen(options.port) };
  } catch (err) {
    const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (options.configured || options.port === 0) return { server: undefined, wanted: options.port, error };
    try {
      return { server: await listen(0), wanted: options.port, error };
    } catch (again) {
      return { server: undefined, wanted: 0, error: (again as NodeJS.ErrnoException).code ?? (again as Error).message };
    }
  }
}
