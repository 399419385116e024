import { envEnum, envInt, envList, envString } from "@luthien/runtime";

/** The gateway's configuration, from env only. Defaults are the operator contract in the README. */
export interface GatewayConfig {
  /** GATEWAY_HOST @default "0.0.0.0" */
  host: string;
  /** GATEWAY_PORT @default 8000 */
  port: number;
  /** OPENAI_UPSTREAM_URL @default "https://api.openai.com/v1" */
  openaiUpstreamUrl: string;
  /** OPENAI_API_KEY: the key sent upstream; never logged. */
  openaiApiKey: string | undefined;
  /** POLICY_ENGINE_URL @default "127.0.0.1:50051" */
  policyEngineUrl: string;
  /** POLICY_FAILURE_MODE: closed fails calls the engine cannot decide; open serves them, marked. @default "closed" */
  policyFailureMode: "closed" | "open";
  /** POLICY_TIMEOUT_MS: deadline per verdict. @default 5000 */
  policyTimeoutMs: number;
  /** POLICY_MAX_WAIT_MS: how far keepalives may extend one verdict's deadline. @default 30000 */
  policyMaxWaitMs: number;
  /** POLICY_WINDOW: stream events in flight to the engine at once. @default 32 */
  policyWindow: number;
  /** GATEWAY_API_KEYS: accepted client keys; empty turns client auth off (a warning is logged). */
  apiKeys: string[];
  /** UPSTREAM_TIMEOUT_MS @default 600000 */
  upstreamTimeoutMs: number;
  /** GATEWAY_BODY_LIMIT @default "10mb" */
  bodyLimit: string;
}

export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const openaiApiKey = envString("OPENAI_API_KEY", "", env);
  return {
    host: envString("GATEWAY_HOST", "0.0.0.0", env),
    port: envInt("GATEWAY_PORT", 8000, env),
    openaiUpstreamUrl: envString("OPENAI_UPSTREAM_URL", "https://api.openai.com/v1", env),
    openaiApiKey: openaiApiKey === "" ? undefined : openaiApiKey,
    policyEngineUrl: envString("POLICY_ENGINE_URL", "127.0.0.1:50051", env),
    policyFailureMode: envEnum("POLICY_FAILURE_MODE", ["closed", "open"] as const, "closed", env),
    policyTimeoutMs: envInt("POLICY_TIMEOUT_MS", 5000, env),
    policyMaxWaitMs: envInt("POLICY_MAX_WAIT_MS", 30000, env),
    policyWindow: Math.max(1, envInt("POLICY_WINDOW", 32, env)),
    apiKeys: envList("GATEWAY_API_KEYS", env),
    upstreamTimeoutMs: envInt("UPSTREAM_TIMEOUT_MS", 600000, env),
    bodyLimit: envString("GATEWAY_BODY_LIMIT", "10mb", env),
  };
}
