/** The Luthien policy engine: loads a policy configuration and serves `PolicyEngine.Process` over gRPC. */
export { startControlPlane } from "./server";
export type { ControlPlane, ControlPlaneOptions } from "./server";
export { loadPolicyConfig, parsePolicyConfig } from "./config";
export type { PolicyConfig, CallSelector } from "./config";
export { createConfigSource } from "./config-source";
export type { ConfigSource, ConfigSourceOptions } from "./config-source";
export { BUILTIN_POLICIES } from "./policies";
export type { PolicyFactory } from "./policies";
export { createControlPlaneMetrics, serveControlPlaneMetrics } from "./metrics";
export type { ControlPlaneMetrics, EngineMetrics, EvaluationPhase } from "./metrics";
export { replayCalls } from "./replay";
export type { PolicyReplaySummary, ReplayExample, ReplayOptions, ReplayReport, ReplayResult, StoredCall } from "./replay";
