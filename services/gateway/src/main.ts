import cluster from "node:cluster";
import type { AddressInfo } from "node:net";
import { ConfigError, createLogger, onShutdown } from "@luthien/runtime";
import { createEventPublisher } from "@luthien/events";
import { createRateLimiter, watchKeyDirectory } from "@luthien/keys";
import { shareMetricsWithPrimary, startTracing } from "@luthien/telemetry";
import { configureServer, createGateway } from "./app";
import { readGatewayConfig, type GatewayConfig } from "./config";
import { createGatewayMetrics } from "./metrics";
import { superviseWorkers } from "./workers";

const logger = createLogger("gateway");

function main(config: GatewayConfig): void {
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; started first so every later component finds it registered.
  const tracing = startTracing({ serviceName: "luthien-gateway" });
  if (tracing.enabled) logger.notice("tracing enabled", { service: "luthien-gateway" });
  // Never blocks or fails a call: events wait in a bounded outbox while NATS is away.
  const publisher = config.natsUrl === "off" ? undefined : createEventPublisher({ url: config.natsUrl, source: "gateway", logger });
  const metrics = createGatewayMetrics(publisher !== undefined ? { publisher } : {});
  if (cluster.isWorker) shareMetricsWithPrimary(metrics.registry);
  // Virtual keys are refused until the directory's first load: a gateway that starts with the store down fails closed.
  const keys = config.keysUrl === "off" ? undefined : watchKeyDirectory({ url: config.keysUrl, staleAfterMs: config.keysStaleAfterMs, logger });
  const limiter = config.limitsUrl === "off" ? undefined : createRateLimiter({ url: config.limitsUrl });
  const gateway = createGateway(config, logger, publisher, metrics, { ...(keys !== undefined ? { directory: keys } : {}), ...(limiter !== undefined ? { limiter } : {}) });
  const server = gateway.app.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    logger.notice("listening", {
      port,
      providers: [...config.routing.providers.values()].map((p) => `${p.name}=${p.baseUrl}`).join(","),
      engines: [...config.routing.engines.values()].map((e) => `${e.name}=${e.targets.join("|")}(${e.failureMode})`).join(","),
    });
  });
  // Before the server's `listening` event: that is when Node reads the connection-check interval.
  configureServer(server, config, logger);
  server.on("error", (err) => {
    logger.error("failed to listen", { error: err.message });
    process.exit(1);
  });
  onShutdown(async (signal) => {
    logger.notice("shutting down", { signal });
    // No new connections; calls in flight finish, up to the grace period: then their connections are cut, which
    // cancels their provider and engine calls like a client leaving would.
    const drained = new Promise<void>((resolve) => server.close(() => resolve()));
    const grace = setTimeout(() => {
      logger.warn("shutdown grace period over; closing the connections still open", { grace_ms: config.shutdownGraceMs });
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    await drained;
    clearTimeout(grace);
    gateway.close();
    await keys?.close();
    await limiter?.close();
    await publisher?.close();
    // Last: the spans of the calls that just drained go out with it.
    await tracing.shutdown();
  });
}

try {
  const config = readGatewayConfig();
  if (config.workers > 1 && cluster.isPrimary) superviseWorkers({ count: config.workers, logger, ...(config.metricsPort !== undefined ? { metricsPort: config.metricsPort } : {}) });
  else main(config);
} catch (err) {
  logger.error(err instanceof ConfigError ? "invalid configuration" : "failed to start", { error: (err as Error).message });
  process.exit(1);
}
