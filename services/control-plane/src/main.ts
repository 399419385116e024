import { ConfigError, createLogger, envInt, envString, onShutdown } from "@luthien/runtime";
import { createConfigSource } from "./config-source";
import { startControlPlane } from "./server";

const logger = createLogger("control-plane");

async function main(): Promise<void> {
  const file = envString("POLICY_CONFIG", "");
  const source = createConfigSource({
    file: file === "" ? undefined : file,
    logger,
    onEvent: () => undefined,
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
    host: envString("CONTROL_PLANE_HOST", "0.0.0.0"),
    port: envInt("CONTROL_PLANE_PORT", 50051),
  });
  logger.notice("listening", { port: plane.port });
  process.on("SIGHUP", () => source.reload("SIGHUP"));
  onShutdown(async (signal) => {
    logger.notice("shutting down", { signal });
    source.close();
    await plane.stop(envInt("CONTROL_PLANE_SHUTDOWN_GRACE_MS", 10_000));
    logger.notice("stopped");
  });
}

main().catch((err: unknown) => {
  logger.error(err instanceof ConfigError ? "invalid configuration" : "failed to start", { error: (err as Error).message });
  process.exit(1);
});
