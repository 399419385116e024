import { createEventPublisher } from "@luthien/events";
import { ConfigError, createLogger, envInt, envString, onShutdown } from "@luthien/runtime";
import { createConfigSource } from "./config-source";
import { startControlPlane } from "./server";

const logger = createLogger("control-plane");
const CONFIG_CALL_ID = "control-plane-config";

async function main(): Promise<void> {
  const natsUrl = envString("NATS_URL", "nats://127.0.0.1:4222");
  const publisher = natsUrl === "off" ? undefined : createEventPublisher({ url: natsUrl, source: "control-plane", logger });
  const file = envString("POLICY_CONFIG", "");
  const source = createConfigSource({
    file: file === "" ? undefined : file,
    logger,
    // Config changes are not part of any client call; they share one pseudo call id.
    onEvent: (type, data) => publisher?.publish(CONFIG_CALL_ID, type, data),
  });
  const config = source.current();
  logger.info("policies loaded", {
    source: file === "" ? "default (noop)" : file,
    chain: config.policies.map((p) => p.name).join(","),
    chains: [...config.chains.keys()].join(","),
  });
  const plane = await startControlPlane({
    config: source.current,
    logger,
    ...(publisher !== undefined ? { activity: publisher } : {}),
    host: envString("CONTROL_PLANE_HOST", "0.0.0.0"),
    port: envInt("CONTROL_PLANE_PORT", 50051),
  });
  logger.notice("listening", { port: plane.port });
  process.on("SIGHUP", () => source.reload("SIGHUP"));
  onShutdown(async (signal) => {
    logger.notice("shutting down", { signal });
    source.close();
    await plane.stop(envInt("CONTROL_PLANE_SHUTDOWN_GRACE_MS", 10_000));
    await publisher?.close();
    logger.notice("stopped");
  });
}

main().catch((err: unknown) => {
  logger.error(err instanceof ConfigError ? "invalid configuration" : "failed to start", { error: (err as Error).message });
  process.exit(1);
});
