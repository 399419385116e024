/** Observability shared by Luthien services. */

// Prometheus metrics: one registry per service, its HTTP endpoint, and HTTP request metrics.
export {
  createMetrics,
  createMetricsHandler,
  createHttpMetrics,
  startMetricsServer,
  counterFrom,
  shareMetricsWithPrimary,
  createClusterMetricsHandler,
  UNMATCHED_ROUTE,
} from "./metrics";
export type { MetricsOptions, HttpMetricsOptions, MetricsServerOptions, MetricsServer } from "./metrics";
export { Counter, Gauge, Histogram, Registry } from "prom-client";

// OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; W3C context in and out of plain maps.
export { startTracing, isTracingActive, tracesUrl, injectTraceContext, extractTraceContext, serverAttributes, markSpanError } from "./tracing";
export type { TracingOptions, Tracing } from "./tracing";
export { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
export type { Attributes, Context, Span, Tracer } from "@opentelemetry/api";
