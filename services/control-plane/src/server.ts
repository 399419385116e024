import { POLICY_ENGINE_SERVICE as ENGINE_SERVICE, addPolicyEngineService, createHealthService, grpc, messageLimitOptions } from "@luthien/protocol";
import type { PolicyConfig } from "./config";
import type { Logger } from "@luthien/runtime";
import { createEngineHandlers, type EngineOptions, type PolicyActivitySink } from "./engine";
import type { EngineMetrics } from "./metrics";

/** How long a stopping engine keeps accepting new calls after it turned NOT_SERVING. */
const DRAIN_NOTICE_MS = 500;

export interface ControlPlaneOptions {
  /** The live policy config, read at the start of every call. */
  config(): PolicyConfig;
  /** Where `policy.<name>.<action>` activity events go. @default nowhere */
  activity?: PolicyActivitySink;
  logger: Logger;
  /** Where the engine records streams, calls, evaluation latencies and errors. @default nowhere */
  metrics?: EngineMetrics;
  /** Holds tool calls for a person's decision (`@luthien/approvals`). @default none: approval requests are refused */
  approvals?: EngineOptions["approvals"];
  /** This replica's name, in each call's `call.engine` event. @default "engine" */
  name?: string;
  /** @default "0.0.0.0" */
  host?: string;
  /** 0 picks a free port. @default 50051 */
  port?: number;
  /** The gateways' `MAX_BODY_BYTES`, which the policy-stream message limit derives from. @default 32 MiB */
  maxBodyBytes?: number;
}

export interface ControlPlane {
  readonly port: number;
  /**
   * Graceful stop: health turns NOT_SERVING (so gateways send new calls elsewhere), calls in flight finish, then
   * the server closes; whatever is still open after `graceMs` is cancelled.
   * @param graceMs @default 10000
   */
  stop(graceMs?: number): Promise<void>;
}

/** Starts the policy engine gRPC server with grpc.health.v1. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const server = new grpc.Server({
    // Gateways keep pinging idle connections to notice a dead engine early; allow it.
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    ...messageLimitOptions(options.maxBodyBytes),
  });
  addPolicyEngineService(
    server,
    createEngineHandlers({
      config: options.config,
      logger: options.logger,
      activity: options.activity ?? { publish: () => undefined, endCall: () => undefined },
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      ...(options.approvals !== undefined ? { approvals: options.approvals } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
    }),
  );
  const health = createHealthService(server, [ENGINE_SERVICE]);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host ?? "0.0.0.0"}:${options.port ?? 50051}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  return {
    port,
    async stop(graceMs = 10_000) {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(ENGINE_SERVICE, "NOT_SERVING");
      // Gateways watching health move new calls elsewhere at once; a call that raced the notice still gets served
      // during this short window instead of being refused.
      await new Promise((r) => setTimeout(r, Math.min(DRAIN_NOTICE_MS, graceMs / 4)));
      health.endWatches();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
