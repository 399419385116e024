import { InvalidConsumerNameError, isValidConsumerName } from "@luthien/events";
import { ConfigError, createLogger, envEnum, envInt, envString, onShutdown } from "@luthien/runtime";
import { DEFAULT_DATA_DIR, resolveDataDir } from "./data-dir";
import { DEFAULT_CONSUMER, startMonitor } from "./monitor";
import { STORE_ORIGINALS_MODES } from "./originals";

/**
 * Runs the monitor, configured by env only:
 * - `MONITOR_PORT` (default 8001; 0 = any free port, the bound one is logged as `listening ... port=<n>`)
 * - `MONITOR_HOST` (default 0.0.0.0)
 * - `NATS_URL` (default nats://127.0.0.1:4222; a comma list = several servers)
 * - `DATABASE_URL` (PostgreSQL); unset → embedded PGlite in `MONITOR_DATA_DIR` (default `.luthien/monitor-db`;
 *   a relative path is taken from the checkout root, whatever the working directory)
 * - `ADMIN_API_KEY`: the API and the UI's data need it (Bearer or the login form); unset → loopback clients only
 * - `MONITOR_PGLITE_OPTIMIZE` (default `off`): `on` lets V8 optimise PGlite's hot WASM code (large scans ~3x
 *   faster, ~80 MiB more RSS); ignored with `DATABASE_URL`
 * - `MONITOR_BATCH` (default 500): most events per database transaction
 * - `MONITOR_ACK_WAIT_MS` (default 30000): how long NATS waits for an ack before redelivering
 * - `MONITOR_STORE_ORIGINALS` (default `redacted`): originals stored with detected secrets replaced, `full`, or
 *   `none` (their bodies are not stored)
 * - `MONITOR_CONSUMER` (default `luthien-monitor`): the JetStream durable consumer; monitors sharing a name share
 *   the events between them, so a monitor with a database of its own needs a name of its own
 */
async function main(): Promise<void> {
  const logger = createLogger("monitor");
  const port = envInt("MONITOR_PORT", 8001);
  const host = envString("MONITOR_HOST", "0.0.0.0");
  const natsUrl = envString("NATS_URL", "nats://127.0.0.1:4222");
  const databaseUrl = envString("DATABASE_URL", "");
  const dataDir = resolveDataDir(envString("MONITOR_DATA_DIR", DEFAULT_DATA_DIR));
  const adminApiKey = envString("ADMIN_API_KEY", "");
  const batch = envInt("MONITOR_BATCH", 500);
  const ackWaitMs = envInt("MONITOR_ACK_WAIT_MS", 30_000);
  const storeOriginals = envEnum("MONITOR_STORE_ORIGINALS", STORE_ORIGINALS_MODES, "redacted");
  const durable = envString("MONITOR_CONSUMER", DEFAULT_CONSUMER);
  const optimize = envEnum("MONITOR_PGLITE_OPTIMIZE", ["off", "on"], "off") === "on";
  if (!isValidConsumerName(durable)) throw new ConfigError(`MONITOR_CONSUMER: ${new InvalidConsumerNameError(durable).message}`);
  const database = databaseUrl !== "" ? { kind: "postgres" as const, url: databaseUrl } : { kind: "pglite" as const, dataDir, optimize };
  // Only where the data goes, never the URL itself: it may carry a password.
  logger.info("opening database", databaseUrl !== "" ? { kind: "postgres" } : { kind: "pglite", dataDir });
  const monitor = await startMonitor({ port, host, natsUrl, database, adminApiKey, logger, batch, ackWaitMs, durable, storeOriginals });
  // Logged only once bound: the testkit and operators read the real port from this line.
  logger.notice("listening", { host, port: monitor.port, database: database.kind });
  onShutdown(async (signal) => {
    logger.notice("stopping", { signal });
    await monitor.close();
  });
}

main().catch((err: unknown) => {
  createLogger("monitor").error("failed to start", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
