import * as path from "node:path";
import { createLogger, envInt, envString, onShutdown } from "@luthien/runtime";
import { startMonitor } from "./monitor";

/**
 * Runs the monitor, configured by env only:
 * - `MONITOR_PORT` (default 8001; 0 = any free port, the bound one is logged as `listening ... port=<n>`)
 * - `MONITOR_HOST` (default 0.0.0.0)
 * - `NATS_URL` (default nats://127.0.0.1:4222; a comma list = several servers)
 * - `DATABASE_URL` (PostgreSQL); unset → embedded PGlite in `MONITOR_DATA_DIR` (default `.luthien/monitor-db`
 *   under the working directory)
 * - `ADMIN_API_KEY`: the API and the UI's data need it (Bearer or the login form); unset → loopback clients only
 * - `MONITOR_BATCH` (default 500): most events per database transaction
 * - `MONITOR_ACK_WAIT_MS` (default 30000): how long NATS waits for an ack before redelivering
 */
async function main(): Promise<void> {
  const logger = createLogger("monitor");
  const port = envInt("MONITOR_PORT", 8001);
  const host = envString("MONITOR_HOST", "0.0.0.0");
  const natsUrl = envString("NATS_URL", "nats://127.0.0.1:4222");
  const databaseUrl = envString("DATABASE_URL", "");
  const dataDir = path.resolve(envString("MONITOR_DATA_DIR", path.join(".luthien", "monitor-db")));
  const adminApiKey = envString("ADMIN_API_KEY", "");
  const batch = envInt("MONITOR_BATCH", 500);
  const ackWaitMs = envInt("MONITOR_ACK_WAIT_MS", 30_000);
  const database = databaseUrl !== "" ? { kind: "postgres" as const, url: databaseUrl } : { kind: "pglite" as const, dataDir };
  // Only where the data goes, never the URL itself: it may carry a password.
  logger.info("opening database", databaseUrl !== "" ? { kind: "postgres" } : { kind: "pglite", dataDir });
  const monitor = await startMonitor({ port, host, natsUrl, database, adminApiKey, logger, batch, ackWaitMs });
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
