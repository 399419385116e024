import { DEFAULT_MAX_BODY_BYTES } from "@luthien/protocol";
import { ConfigError, envEnum, envInt, envList, envString } from "@luthien/runtime";
import type { AuthMode } from "./identity/auth";
import { readPrices, type PriceTable } from "./identity/prices";
import { readRouting, type Routing } from "./upstream/routing";

/** The gateway's configuration, from env only. Defaults are the operator contract in the README. */
export interface GatewayConfig {
  /** GATEWAY_HOST @default "0.0.0.0" */
  host: string;
  /** GATEWAY_PORT @default 8000 */
  port: number;
  /**
   * GATEWAY_WORKERS: gateway processes serving the port (node:cluster), to use more than one core. Each worker has
   * its own engine streams, provider connections and `/metrics`. @default 1
   */
  workers: number;
  /**
   * GATEWAY_METRICS_PORT: with workers, the primary serves `GET /metrics` here with every worker's metrics summed
   * (each worker's own `/metrics` on GATEWAY_PORT shows only that worker). 0 = a free port. @default unset (off)
   */
  metricsPort: number | undefined;
  /**
   * Providers, model routes and policy-engine pools: OPENAI_UPSTREAM_URL, OPENAI_API_KEY, ANTHROPIC_UPSTREAM_URL,
   * ANTHROPIC_API_KEY, GATEWAY_CONFIG, POLICY_ENGINE_URL (pool `default`, comma-separated replicas, @default
   * "127.0.0.1:50051") and POLICY_FAILURE_MODE (closed fails calls the engine cannot decide; open serves them,
   * marked; per pool in GATEWAY_CONFIG, @default "closed").
   */
  routing: Routing;
  /** POLICY_TIMEOUT_MS: deadline per verdict. @default 5000 */
  policyTimeoutMs: number;
  /** POLICY_MAX_WAIT_MS: how far keepalives may extend one verdict's deadline. @default 30000 */
  policyMaxWaitMs: number;
  /**
   * POLICY_MAX_HOLD_MS: how long a call may wait for a person's decision on a held tool call (the engine's keepalives
   * say so). Above every policy's `approvalTimeout` (5 min by default) and below the SDKs' 10 min default request
   * timeout. @default 600000
   */
  policyMaxHoldMs: number;
  /**
   * POLICY_TRANSPORT: `multiplexed` carries every call over a few long-lived streams per engine replica; `stream`
   * opens a stream per call. @default "multiplexed"
   */
  policyTransport: "multiplexed" | "stream";
  /** POLICY_STREAMS: multiplexed streams per engine replica. @default 4 */
  policyStreams: number;
  /** POLICY_WINDOW: stream events in flight to the engine at once. @default 32 */
  policyWindow: number;
  /** GATEWAY_API_KEYS: the gateway's own client keys. */
  apiKeys: string[];
  /** AUTH_MODE (`both`, the old name of `passthrough`, is read as it). @default "client_key" */
  authMode: AuthMode;
  /**
   * KEYS_NATS_URL: the NATS whose JetStream KV bucket `luthien-keys` holds the virtual keys; "off" accepts static keys
   * only. @default NATS_URL
   */
  keysUrl: string;
  /** KEYS_STALE_AFTER_MS: cut off from the key store this long, the gateway refuses virtual keys. @default 2000 */
  keysStaleAfterMs: number;
  /** LIMITS_NATS_URL: the NATS whose KV bucket `luthien-limits` holds the shared rate counters. @default KEYS_NATS_URL */
  limitsUrl: string;
  /** LIMITS_ON_STORE_ERROR: a limited key's call while that store fails is denied (503) or allowed unchecked. @default "deny" */
  limitsOnStoreError: "deny" | "allow";
  /** PRICES_FILE over the built-in list prices: what calls cost, for budgets, `call.ended` and `/metrics`. */
  prices: PriceTable;
  /**
   * GATEWAY_ALLOWED_ORIGINS: web origins (`scheme://host[:port]`) whose pages may call the gateway from a browser;
   * any other request carrying `Origin`, or `Sec-Fetch-Site: cross-site`/`same-site`, gets 403. @default none
   */
  allowedOrigins: string[];
  /** UPSTREAM_TIMEOUT_MS @default 600000 */
  upstreamTimeoutMs: number;
  /** MAX_BODY_BYTES: larger request bodies get 413 (Anthropic's own limit). @default 33554432 (32 MiB) */
  maxBodyBytes: number;
  /**
   * GATEWAY_MAX_HEADER_BYTES: request line plus headers larger than this get 431 (Node's `maxHeaderSize`; Claude
   * Code's headers are about 2 KiB). @default 16384
   */
  maxHeaderBytes: number;
  /** GATEWAY_HEADERS_TIMEOUT_MS: a client must send all its headers within this (slowloris). @default 15000 */
  headersTimeoutMs: number;
  /**
   * GATEWAY_REQUEST_TIMEOUT_MS: ... and its whole request, body included, within this (a body dribbled byte by
   * byte). Covers receiving only, never the response. Must be 0 (off) or at least the headers timeout. @default 300000
   */
  requestTimeoutMs: number;
  /** GATEWAY_KEEPALIVE_TIMEOUT_MS: an idle keep-alive connection is closed after this long between requests. @default 5000 */
  keepAliveTimeoutMs: number;
  /**
   * SSE_HEARTBEAT_MS: a stream with nothing written for this long gets a heartbeat (Anthropic `ping` event, OpenAI
   * `: ping` comment), so proxies and clients do not drop it during long thinking or slow policies. 0 = off. @default 15000
   */
  sseHeartbeatMs: number;
  /**
   * GATEWAY_MAX_CALL_MS: a call (policy checked) still running after this long is aborted, provider and engine
   * included, and ends with a 504 `call_timeout` (an error event once streaming). 0 = no cap. @default 1800000 (30 min)
   */
  maxCallMs: number;
  /**
   * GATEWAY_SHUTDOWN_GRACE_MS: on SIGTERM the gateway stops accepting connections and lets calls in flight finish for
   * this long, then cuts what is left. @default 60000
   */
  shutdownGraceMs: number;
  /** NATS_URL: where activity events go; "off" publishes none. @default "nats://127.0.0.1:4222" */
  natsUrl: string;
  /** ACTIVITY_CHUNKS=on also publishes an event per stream chunk. @default off */
  activityChunks: boolean;
}

/**
 * One entry of GATEWAY_ALLOWED_ORIGINS, as browsers send it in `Origin`: scheme, host and a port other than the
 * scheme's default, in lower case, without a path.
 */
function readOrigin(entry: string): string {
  let url: URL | undefined;
  try {
    url = new URL(entry);
  } catch {
    // reported below
  }
  const bare = url !== undefined && url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.password === "";
  const origin = url !== undefined && bare && (url.protocol === "http:" || url.protocol === "https:") ? url.origin : undefined;
  // No wildcards: `https://*.example.com` would parse, and match nothing a browser sends.
  if (origin === undefined || entry.includes("*")) {
    throw new ConfigError(`GATEWAY_ALLOWED_ORIGINS entries must be origins such as https://app.example.com or http://localhost:3000, got ${JSON.stringify(entry)}`);
  }
  return origin;
}

function readAuthMode(env: Record<string, string | undefined>): AuthMode {
  const mode = envEnum("AUTH_MODE", ["client_key", "passthrough", "both", "off"] as const, "client_key", env);
  return mode === "both" ? "passthrough" : mode;
}

/** @throws ConfigError naming the bad variable or field */
export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const headersTimeoutMs = envInt("GATEWAY_HEADERS_TIMEOUT_MS", 15000, env);
  const requestTimeoutMs = envInt("GATEWAY_REQUEST_TIMEOUT_MS", 300000, env);
  // Node refuses the same combination: headers that may take longer than the whole request make no sense.
  if (requestTimeoutMs !== 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(`GATEWAY_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed GATEWAY_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  }
  const keysUrl = envString("KEYS_NATS_URL", envString("NATS_URL", "nats://127.0.0.1:4222", env), env);
  return {
    host: envString("GATEWAY_HOST", "0.0.0.0", env),
    port: envInt("GATEWAY_PORT", 8000, env),
    workers: Math.max(1, envInt("GATEWAY_WORKERS", 1, env)),
    metricsPort: env["GATEWAY_METRICS_PORT"] === undefined || env["GATEWAY_METRICS_PORT"] === "" ? undefined : envInt("GATEWAY_METRICS_PORT", 0, env),
    routing: readRouting(env),
    policyTimeoutMs: envInt("POLICY_TIMEOUT_MS", 5000, env),
    policyMaxWaitMs: envInt("POLICY_MAX_WAIT_MS", 30000, env),
    policyMaxHoldMs: envInt("POLICY_MAX_HOLD_MS", 600_000, env),
    policyTransport: envEnum("POLICY_TRANSPORT", ["multiplexed", "stream"] as const, "multiplexed", env),
    policyStreams: Math.max(1, envInt("POLICY_STREAMS", 4, env)),
    policyWindow: Math.max(1, envInt("POLICY_WINDOW", 32, env)),
    apiKeys: envList("GATEWAY_API_KEYS", env),
    authMode: readAuthMode(env),
    keysUrl,
    limitsUrl: envString("LIMITS_NATS_URL", keysUrl, env),
    keysStaleAfterMs: envInt("KEYS_STALE_AFTER_MS", 2000, env),
    prices: readPrices(env),
    limitsOnStoreError: envEnum("LIMITS_ON_STORE_ERROR", ["deny", "allow"] as const, "deny", env),
    allowedOrigins: envList("GATEWAY_ALLOWED_ORIGINS", env).map(readOrigin),
    upstreamTimeoutMs: envInt("UPSTREAM_TIMEOUT_MS", 600000, env),
    maxBodyBytes: envInt("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, env),
    maxHeaderBytes: envInt("GATEWAY_MAX_HEADER_BYTES", 16 * 1024, env),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: envInt("GATEWAY_KEEPALIVE_TIMEOUT_MS", 5000, env),
    sseHeartbeatMs: envInt("SSE_HEARTBEAT_MS", 15000, env),
    maxCallMs: envInt("GATEWAY_MAX_CALL_MS", 30 * 60 * 1000, env),
    shutdownGraceMs: envInt("GATEWAY_SHUTDOWN_GRACE_MS", 60000, env),
    natsUrl: envString("NATS_URL", "nats://127.0.0.1:4222", env),
    activityChunks: envEnum("ACTIVITY_CHUNKS", ["on", "off"] as const, "off", env) === "on",
  };
}
