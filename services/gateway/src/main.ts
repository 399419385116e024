import type { AddressInfo } from "node:net";
import { ConfigError, createLogger, onShutdown } from "@luthien/runtime";
import { createEventPublisher } from "@luthien/events";
import { configureServer, createGateway } from "./app";
import { readGatewayConfig } from "./config";

const logger = createLogger("gateway");

function main(): void {
  const config = readGatewayConfig();
  // Never blocks or fails a call: events wait in a bounded outbox while NATS is away.
  const publisher = config.natsUrl === "off" ? undefined : createEventPublisher({ url: config.natsUrl, source: "gateway", logger });
  const gateway = createGateway(config, logger, publisher);
  const server = gateway.app.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    logger.notice("listening", {
      port,
      providers: [...config.routing.providers.values()].map((p) => `${p.name}=${p.baseUrl}`).join(","),
      engine: config.policyEngineUrl,
      failure_mode: config.policyFailureMode,
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
    await new Promise<void>((resolve) => server.close(() => resolve()));
    gateway.close();
    await publisher?.close();
  });
}

try {
  main();
} catch (err) {
  logger.error(err instanceof ConfigError ? "invalid configuration" : "failed to start", { error: (err as Error).message });
  process.exit(1);
}
