import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** The value of the `service` label every metric of the registry carries (`gateway`, `control-plane`, ...). */
  service: string;
  /** Register Node's process metrics (CPU, RSS, heap, GC, event-loop lag, handles). @default true */
  processMetrics?: boolean;
}

/**
 * A Prometheus registry for one service: every metric in it carries `service="<name>"`, and Node's process
 * metrics (`process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, `nodejs_eventloop_lag_seconds`, ...)
 * are registered unless turned off. Services register their own metrics on it with `registers: [registry]`.
 *
 * A registry per service instead of prom-client's global one: tests run several services in one process.
 */
export function createMetrics(options: MetricsOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A plain Node handler (Express accepts it as is) that answers with the registry in the Prometheus text format.
 * A collect callback that fails answers 500 without details: metric values are not secret, error texts may be.
 */
export function createMetricsHandler(registry: Registry): (req: IncomingMessage, res: ServerResponse) => void {
  return function metricsEndpoint(_req, res) {
    answerMetrics(res, () => registry.metrics(), registry.contentType);
  };
}

function answerMetrics(res: ServerResponse, collect: () => Promise<string>, contentType: string): void {
  collect().then(
    (text) => {
      res.statusCode = 200;
      res.setHeader("Content-Type", contentType);
      res.setHeader("Cache-Control", "no-store");
      res.end(text);
    },
    () => {
      res.statusCode = 500;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end("metrics collection failed\n");
    },
  );
}

/** The request fields the HTTP middleware reads; Express's `Request` has them once a route matched. */
type RoutedRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/** Options of {@link createHttpMetrics}. */
export interface HttpMetricsOptions {
  registry: Registry;
  /** Metric name prefix, e.g. `luthien_gateway_` → `luthien_gateway_http_requests_total`. */
  prefix: string;
  /** Latency buckets in seconds. @default 1 ms … 60 s (streams and slow providers last long) */
  buckets?: number[];
}

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The route label of a request that matched no route: bounded cardinality, whatever paths clients invent. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Express middleware counting requests and timing them until the response is finished or abandoned:
 * `<prefix>http_requests_total` and `<prefix>http_request_duration_seconds`, labelled `method`, `route` and
 * `status`. `route` is the matched route's pattern (`/v1/chat/completions`, `/api/calls/:id`, `/v1/{*path}`),
 * never the raw path, and {@link UNMATCHED_ROUTE} when no route matched (404s, static files), so clients cannot
 * grow the label set. Mount it before the routes.
 */
export function createHttpMetrics(options: HttpMetricsOptions): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({
    name: `${options.prefix}http_requests_total`,
    help: "HTTP requests answered, by method, route pattern and status",
    labelNames,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: `${options.prefix}http_request_duration_seconds`,
    help: "Time from receiving an HTTP request until its response ended (whole streams included)",
    labelNames,
    buckets: options.buckets ?? HTTP_BUCKETS,
    registers: [options.registry],
  });
  // Label sets are few (methods × route patterns × statuses): look each one's series up once, not per request.
  const series = new Map<string, { count: () => void; observe: (seconds: number) => void }>();
  const seriesOf = (method: string, route: string, status: string): { count: () => void; observe: (seconds: number) => void } => {
    const key = `${method} ${route} ${status}`;
    let s = series.get(key);
    if (s === undefined) {
      const c = requests.labels(method, route, status);
      const h = duration.labels(method, route, status);
      s = { count: () => c.inc(), observe: (v) => h.observe(v) };
      series.set(key, s);
    }
    return s;
  };
  return function httpMetrics(req, res, next) {
    const started = performance.now();
    // `close` fires both after a normal finish and when the client goes away mid-response.
    res.once("close", () => {
      const r = req as RoutedRequest;
      const pattern = r.route?.path;
      const route = typeof pattern === "string" ? `${r.baseUrl ?? ""}${pattern}` : UNMATCHED_ROUTE;
      const s = seriesOf(req.method ?? "UNKNOWN", route, String(res.statusCode));
      s.count();
      s.observe((performance.now() - started) / 1000);
    });
    next();
  };
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** What `GET /metrics` answers: a registry, or a handler of its own (the cluster's sum, say). */
  registry: Registry | ((req: IncomingMessage, res: ServerResponse) => void);
  /** 0 picks a free port. */
  port: number;
  /** @default "0.0.0.0" */
  host?: string;
}

/** A running {@link startMetricsServer}. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A bare HTTP server for services that have no HTTP app of their own (the control plane): `GET /metrics` and
 * `GET /health`; everything else is 404.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const metrics = options.registry instanceof Registry ? createMetricsHandler(options.registry) : options.registry;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") return metrics(req, res);
    if (req.method === "GET" && path === "/health") {
      res.setHeader("Content-Type", "application/json");
      res.end('{"status":"ok"}');
      return;
    }
    res.statusCode = 404;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Reads a monotonic total kept elsewhere (a publisher's `retried`, a consumer's `acked`) into a counter at scrape
 * time, so the code that counts needs no knowledge of Prometheus.
 */
export function counterFrom<T extends string>(read: () => number): (this: Counter<T>) => void {
  return function collect(this: Counter<T>) {
    this.reset();
    this.inc(read());
  };
}

/**
 * In a `node:cluster` worker: answers the primary's requests for metrics with `registry` (see
 * {@link createClusterMetricsHandler}). Call once per worker.
 */
export function shareMetricsWithPrimary(registry: Registry): void {
  // Constructing one installs the worker's listener for the primary's requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

/**
 * In a `node:cluster` primary: a `GET /metrics` handler answering with every worker's metrics, counters and
 * histograms summed, so one scrape sees the whole gateway and not whichever worker took the connection.
 */
export function createClusterMetricsHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  const aggregator = new AggregatorRegistry();
  return function clusterMetrics(_req, res) {
    answerMetrics(res, () => aggregator.clusterMetrics(), aggregator.contentType);
  };
}
