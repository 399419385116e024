import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as PolicyProto } from "../gen/policy";
import type { ProtoGrpcType as HealthProto } from "../gen/health";
import type { PolicyEngineClient, PolicyEngineHandlers } from "../gen/luthien/policy/v1/PolicyEngine";
import type { HealthClient, HealthHandlers } from "../gen/grpc/health/v1/Health";
import type { HealthCheckResponse } from "../gen/grpc/health/v1/HealthCheckResponse";

export { grpc };

/**
 * Loader options. They must equal the flags of `pnpm gen:proto` (proto-loader-gen-types), or the generated types
 * describe objects the loader does not produce.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const PROTO_ROOT = path.resolve(__dirname, "../../../../proto");

let policyProto: PolicyProto | undefined;
let healthProto: HealthProto | undefined;

function loadPolicy(): PolicyProto {
  policyProto ??= grpc.loadPackageDefinition(protoLoader.loadSync("luthien/policy/v1/policy.proto", { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] })) as unknown as PolicyProto;
  return policyProto;
}

function loadHealth(): HealthProto {
  healthProto ??= grpc.loadPackageDefinition(protoLoader.loadSync("grpc/health/v1/health.proto", { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] })) as unknown as HealthProto;
  return healthProto;
}

/** The gateway's default request body limit (`MAX_BODY_BYTES`), which the engine's default limit derives from. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * The largest policy-stream message either side accepts, for a request body limit of `maxBodyBytes`: a request may
 * come back rewritten (a policy can lengthen it, a JSON escape can double a character's bytes), and every message
 * carries a small envelope. Gateway and engine derive their gRPC send and receive limits from the same
 * `MAX_BODY_BYTES`, so a request the gateway accepted is never too big for the engine — grpc-js's default 4 MiB
 * made a large request an "engine outage" (503 closed, unpoliced open).
 */
export function policyMessageLimit(maxBodyBytes: number = DEFAULT_MAX_BODY_BYTES): number {
  return Math.min(2 * maxBodyBytes + 1024 * 1024, 2 ** 31 - 1);
}

/** The gRPC channel options of a policy-stream message limit (client and server alike). */
export function messageLimitOptions(maxBodyBytes?: number): { "grpc.max_receive_message_length": number; "grpc.max_send_message_length": number } {
  const limit = policyMessageLimit(maxBodyBytes);
  return { "grpc.max_receive_message_length": limit, "grpc.max_send_message_length": limit };
}

export interface PolicyEngineClientOptions {
  /** `host:port` of the engine. */
  address: string;
  /** The gateway's `MAX_BODY_BYTES`, which the message limit derives from ({@link policyMessageLimit}). @default 32 MiB */
  maxBodyBytes?: number;
  /**
   * Interval of HTTP/2 keepalive pings: a frozen engine keeps its TCP connection open, and only pings (or the
   * per-verdict deadline) notice it.
   * @default 10000
   */
  keepaliveTimeMs?: number;
  /** How long to wait for a ping's answer before the connection is declared dead. @default 5000 */
  keepaliveTimeoutMs?: number;
  /** Cap of the reconnect backoff, so an engine that comes back is used again quickly. @default 2000 */
  maxReconnectBackoffMs?: number;
}

/** A client for `PolicyEngine` on an insecure channel (the engine runs inside the operator's network). */
export function createPolicyEngineClient(options: PolicyEngineClientOptions): PolicyEngineClient {
  const proto = loadPolicy();
  return new proto.luthien.policy.v1.PolicyEngine(options.address, grpc.credentials.createInsecure(), {
    "grpc.keepalive_time_ms": options.keepaliveTimeMs ?? 10_000,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? 5_000,
    // Ping even when no call is open, so a dead engine is noticed before the next client call needs it.
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_reconnect_backoff_ms": options.maxReconnectBackoffMs ?? 2_000,
    "grpc.initial_reconnect_backoff_ms": 100,
    ...messageLimitOptions(options.maxBodyBytes),
  });
}

/** Registers the `PolicyEngine` service on a server. */
export function addPolicyEngineService(server: grpc.Server, handlers: PolicyEngineHandlers): void {
  server.addService(loadPolicy().luthien.policy.v1.PolicyEngine.service, handlers);
}

/**
 * A client for `grpc.health.v1.Health`.
 * @param options.channelOf share this client's channel (and its connection, keepalive and backoff), so health
 *   describes the very connection calls use @default a channel of its own
 */
export function createHealthClient(address: string, options: { channelOf?: grpc.Client } = {}): HealthClient {
  const channel = options.channelOf?.getChannel();
  return new (loadHealth().grpc.health.v1.Health)(address, grpc.credentials.createInsecure(), channel === undefined ? {} : { channelOverride: channel });
}

export type ServingStatus = "SERVING" | "NOT_SERVING";

export interface HealthService {
  /** Sets the status of one service name ("" is the whole server) and tells every watcher. */
  setStatus(service: string, status: ServingStatus): void;
  /** Ends every open Watch stream (they never end by themselves, and a graceful shutdown waits for open calls). */
  endWatches(): void;
}

/**
 * Adds `grpc.health.v1.Health` to a server. Every name starts SERVING; unknown names answer NOT_FOUND (Check) or
 * SERVICE_UNKNOWN (Watch), as the health protocol says.
 */
export function createHealthService(server: grpc.Server, services: readonly string[]): HealthService {
  const statuses = new Map<string, ServingStatus>([["", "SERVING"], ...services.map((s) => [s, "SERVING"] as const)]);
  const watchers = new Set<{ service: string; write: (r: HealthCheckResponse) => void; end: () => void }>();
  const handlers: HealthHandlers = {
    Check(call, callback) {
      const status = statuses.get(call.request.service);
      if (status === undefined) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        return;
      }
      callback(null, { status });
    },
    Watch(call) {
      const service = call.request.service;
      const watcher = { service, write: (r: HealthCheckResponse) => void call.write(r), end: () => call.end() };
      watchers.add(watcher);
      call.write({ status: statuses.get(service) ?? "SERVICE_UNKNOWN" });
      call.on("cancelled", () => watchers.delete(watcher));
      call.on("close", () => watchers.delete(watcher));
    },
  };
  server.addService(loadHealth().grpc.health.v1.Health.service, handlers);
  return {
    setStatus(service, status) {
      statuses.set(service, status);
      for (const w of watchers) if (w.service === service) w.write({ status });
    },
    endWatches() {
      for (const w of watchers) w.end();
      watchers.clear();
    },
  };
}

/**
 * Asks a health client once. Resolves true only for SERVING within the deadline; never rejects.
 * @param timeoutMs the deadline of the check @default 1000
 */
export function checkHealth(client: HealthClient, service = "", timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => {
      resolve(err === null && res?.status === "SERVING");
    });
  });
}
