import cluster, { type Worker } from "node:cluster";
import type { Logger } from "@luthien/runtime";
import { createClusterMetricsHandler, startMetricsServer } from "@luthien/telemetry";

export interface WorkerSupervisorOptions {
  /** Gateway processes to run; each serves the same port (the primary hands out connections in turn). */
  count: number;
  logger: Logger;
  /** How long workers get to drain on SIGTERM before they are killed. @default 30000 */
  graceMs?: number;
  /** Where the primary serves every worker's metrics, summed (0 = a free port). @default none */
  metricsPort?: number;
}

/**
 * The primary of `GATEWAY_WORKERS`: forks `count` gateway workers, replaces one that dies unexpectedly (waiting a
 * little longer each time one dies young, so a worker that cannot start does not spin), and on SIGTERM/SIGINT
 * passes the signal on and exits once every worker has drained.
 */
export function superviseWorkers(options: WorkerSupervisorOptions): void {
  const { logger } = options;
  let stopping = false;
  let restartDelayMs = 100;

  const fork = (): void => {
    const startedAt = Date.now();
    const worker: Worker = cluster.fork();
    worker.once("exit", (code, signal) => {
      if (stopping) return;
      const lived = Date.now() - startedAt;
      restartDelayMs = lived > 10_000 ? 100 : Math.min(restartDelayMs * 2, 5000);
      logger.error("gateway worker exited; starting another", { pid: worker.process.pid, code, signal, restart_in_ms: restartDelayMs });
      setTimeout(fork, restartDelayMs);
    });
  };
  for (let i = 0; i < options.count; i++) fork();
  logger.notice("gateway workers started", { workers: options.count });
  if (options.metricsPort !== undefined) {
    startMetricsServer({ registry: createClusterMetricsHandler(), port: options.metricsPort }).then(
      (server) => logger.notice("metrics endpoint ready", { metricsPort: server.port }),
      (err: Error) => logger.error("metrics endpoint failed to start", { error: err.message }),
    );
  }

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.notice("shutting down workers", { signal });
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const force = setTimeout(() => {
      for (const w of workers) w.process.kill("SIGKILL");
      process.exit(1);
    }, options.graceMs ?? 30_000);
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const w of workers) {
      w.once("exit", () => {
        if (--left > 0) return;
        clearTimeout(force);
        process.exit(0);
      });
      // Ctrl-C reaches every process of the terminal's group already; a second signal would skip the drain.
      if (signal === "SIGTERM") w.process.kill("SIGTERM");
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
