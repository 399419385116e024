import { hostname } from "node:os";
import { createApprovalBroker } from "@luthien/approvals";
import { createEventPublisher } from "@luthien/events";
import { DEFAULT_MAX_BODY_BYTES } from "@luthien/protocol";
import { ConfigError, createLogger, envInt, envString, onShutdown } from "@luthien/runtime";
import { startTracing } from "@luthien/telemetry";
import { createConfigSource } from "./config-source";
import { createControlPlaneMetrics, startControlPlaneMetrics } from "./metrics";
import { startControlPlane } from "./server";

const logger = createLogger("control-plane");
const CONFIG_CALL_ID = "control-plane-config";

async function main(): Promise<void> {
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; started before the policies load, so the judge finds it registered.
  const tracing = startTracing({ serviceName: "luthien-control-plane" });
  if (tracing.enabled) logger.notice("tracing enabled", { service: "luthien-control-plane" });
  const natsUrl = envString("NATS_URL", "nats://127.0.0.1:4222");
  const publisher = natsUrl === "off" ? undefined : createEventPublisher({ url: natsUrl, source: "control-plane", logger });
  const file = envString("POLICY_CONFIG", "");
  const metrics = createControlPlaneMetrics();
  const source = createConfigSource({
    file: file === "" ? undefined : file,
    logger,
    // Config changes are not part of any client call; they share one pseudo call id.
    onEvent: (type, data) => {
      metrics.configChanged(type === "policy.config.reloaded" ? "reloaded" : "rejected");
      publisher?.publish(CONFIG_CALL_ID, type, data);
    },
  });
  const config = source.current();
  logger.info("policies loaded", {
    source: file === "" ? "default (noop)" : file,
    chain: config.policies.map((p) => p.name).join(","),
    chains: [...config.chains.keys()].join(","),
  });
  const host = envString("CONTROL_PLANE_HOST", "0.0.0.0");
  // Before the gRPC server, and logged without the word the testkit and operators look for ("listening ... port="):
  // that line must stay the gRPC port's. Never fatal: an engine without metrics still decides calls.
  const configured = (process.env["CONTROL_PLANE_METRICS_PORT"] ?? "") !== "";
  const metricsStart = await startControlPlaneMetrics(metrics, { host, port: envInt("CONTROL_PLANE_METRICS_PORT", 9464), configured });
  const metricsServer = metricsStart.server;
  if (metricsServer === undefined) {
    logger.error("metrics endpoint unavailable; serving without metrics", { wanted: metricsStart.wanted, error: metricsStart.error });
  } else {
    if (metricsStart.wanted !== undefined) {
      logger.warn("default metrics port taken (another engine on this host?); set CONTROL_PLANE_METRICS_PORT to choose one", { wanted: metricsStart.wanted, error: metricsStart.error });
    }
    logger.notice("metrics endpoint ready", { metricsPort: metricsServer.port });
  }
  // Held tool calls are decided over NATS; without it (NATS_URL=off) every approval request is refused.
  const engineName = envString("ENGINE_NAME", `${hostname()}-${process.pid}`);
  const approvals = createApprovalBroker({
    url: natsUrl,
    engine: engineName,
    publish: (callId, type, data) => publisher?.publish(callId, type, data),
    logger,
  });
  const plane = await startControlPlane({
    approvals,
    name: engineName,
    config: source.current,
    logger,
    metrics: metrics.engine,
    ...(publisher !== undefined ? { activity: publisher } : {}),
    host,
    port: envInt("CONTROL_PLANE_PORT", 50051),
    // The same variable as the gateway's, so both sides' message limits derive from one number.
    maxBodyBytes: envInt("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
  });
  logger.notice("listening", { port: plane.port });
  process.on("SIGHUP", () => source.reload("SIGHUP"));
  onShutdown(async (signal) => {
    logger.notice("shutting down", { signal });
    source.close();
    // First: held calls end refused (cancelled), so the drain below is not waiting on a person.
    await approvals.close();
    await plane.stop(envInt("CONTROL_PLANE_SHUTDOWN_GRACE_MS", 10_000));
    await metricsServer?.close();
    await publisher?.close();
    // Last: the spans of the calls that just drained go out with it.
    await tracing.shutdown();
    logger.notice("stopped");
  });
}

main().catch((err: unknown) => {
  logger.error(err instanceof ConfigError ? "invalid configuration" : "failed to start", { error: (err as Error).message });
  process.exit(1);
});
