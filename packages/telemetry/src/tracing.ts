import { ROOT_CONTEXT, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

export interface TracingOptions {
  /** `service.name` of every span; `OTEL_SERVICE_NAME` overrides it, as in every OpenTelemetry SDK. */
  serviceName: string;
  /** Where the `OTEL_*` variables are read. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** How long {@link Tracing.shutdown} waits for the last spans to be exported. @default 5000 */
  shutdownTimeoutMs?: number;
}

export interface Tracing {
  /** False when `OTEL_EXPORTER_OTLP_ENDPOINT` (and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) are unset or empty. */
  readonly enabled: boolean;
  /** Where spans go (`…/v1/traces`), or undefined when tracing is off. */
  readonly url: string | undefined;
  /** The service's tracer; a no-op tracer (spans that record nothing) when tracing is off. */
  readonly tracer: Tracer;
  /** Exports the spans still waiting in the batch, then stops. Never rejects, and gives up after `shutdownTimeoutMs`. */
  shutdown(): Promise<void>;
}

/** The OTLP/HTTP traces URL the environment asks for, per the OpenTelemetry exporter spec; undefined = tracing off. */
export function tracesUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]?.trim() ?? "";
  // The signal-specific variable is the whole URL; the generic one is a base the signal's path is appended to.
  if (traces !== "") return traces;
  const base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]?.trim() ?? "";
  if (base === "") return undefined;
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

/**
 * Starts tracing for this process when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
 * set: a tracer provider with resource `service.name`, spans batched (`OTEL_BSP_SCHEDULE_DELAY` ms, default 5000)
 * to an OTLP/HTTP (JSON) exporter, an AsyncLocalStorage context manager (so the active span follows async work) and
 * the W3C trace-context propagator (`traceparent`/`tracestate`). All three are registered as the process's globals,
 * so code anywhere may use `trace.getTracer(...)` and {@link injectTraceContext}/{@link extractTraceContext}.
 *
 * When neither variable is set, nothing is registered: tracers hand out non-recording spans, injection writes
 * nothing, and nothing leaves the process. Call once per process, at startup.
 */
let active = false;

/** True once {@link startTracing} registered a tracer provider: hot paths skip span bookkeeping otherwise. */
export function isTracingActive(): boolean {
  return active;
}

export function startTracing(options: TracingOptions): Tracing {
  const env = options.env ?? process.env;
  const url = tracesUrl(env);
  const serviceName = nonEmpty(env["OTEL_SERVICE_NAME"]) ?? options.serviceName;
  if (url === undefined) {
    return { enabled: false, url: undefined, tracer: trace.getTracer(serviceName), shutdown: () => Promise.resolve() };
  }
  const delay = Number(nonEmpty(env["OTEL_BSP_SCHEDULE_DELAY"]) ?? 5000);
  const exporter = new OTLPTraceExporter({ url });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: Number.isFinite(delay) && delay >= 0 ? delay : 5000 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  active = true;
  const timeoutMs = options.shutdownTimeoutMs ?? 5000;
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    url,
    tracer: trace.getTracer(serviceName),
    shutdown() {
      // A collector that is away must not hold the process past its shutdown grace: the spans are lost instead.
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        provider.shutdown().then(
          () => resolve(),
          () => resolve(),
        );
      });
      return stopped;
    },
  };
}

/**
 * The W3C trace context (`traceparent`, and `tracestate` when there is one) of `ctx` as a plain map, for a carrier
 * that is not an HTTP request (a protocol field). Empty when tracing is off or `ctx` holds no sampled-or-not span.
 * @param ctx @default the active context
 */
export function injectTraceContext(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/**
 * The context a remote caller's W3C trace context (HTTP request headers, or a map made by
 * {@link injectTraceContext}) continues; the root context when the carrier holds none or tracing is off.
 */
export function extractTraceContext(carrier: Readonly<Record<string, string | string[] | undefined>>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** `server.address` and `server.port` of a base URL; never its path, query or user info. Nothing when unset or invalid. */
export function serverAttributes(baseUrl: string | undefined): Attributes {
  if (baseUrl === undefined || !URL.canParse(baseUrl)) return {};
  const url = new URL(baseUrl);
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  return { "server.address": url.hostname, "server.port": port };
}

/**
 * Marks a span failed with the error's class name (`error.type`). The message stays out: provider and engine
 * messages may quote the request or a key's name.
 */
export function markSpanError(span: Span, err: unknown): void {
  const type = err instanceof Error ? err.name : typeof err;
  span.setAttribute("error.type", type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}
