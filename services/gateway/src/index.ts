/** The Luthien gateway: OpenAI-compatible endpoints, client auth, and every decision asked of the policy engine. */
export { configureServer, createGateway } from "./app";
export type { Gateway } from "./app";
export { readGatewayConfig } from "./config";
export type { GatewayConfig } from "./config";
export { toHttpError } from "./errors";
export { createGatewayMetrics } from "./metrics";
export type { GatewayMetrics, GatewayMetricsOptions } from "./metrics";
