/**
 * The gateway ⇄ policy engine protocol (`proto/luthien/policy/v1/policy.proto`) and the standard gRPC health
 * service. This package is the only place that loads protos: services use the typed helpers below.
 *
 * ### Usage
 * ```ts
 * const client = createPolicyEngineClient({ address: "127.0.0.1:50051" });
 * const call = client.Process();            // one bidirectional stream
 * call.write({ callId, seq: 1, start: encodeStart({ format: "OPENAI_CHAT", ... }) });
 * call.on("data", (m) => readEngineMessage(m));   // typed answers; malformed ones say so
 * ```
 */
export {
  PROTOCOL_VERSION,
  ENGINE_PROTOCOL_VERSIONS,
  UNSUPPORTED_PROTOCOL_VERSION,
  POLICY_ENGINE_SERVICE,
  negotiateProtocol,
  versionsOf,
  formatNameOf,
  clientFormatOf,
  encodeStart,
  readStart,
  readEngineMessage,
  encodeDeny,
  encodeEmit,
} from "./internal/codec";
export type {
  ProtocolFeatures,
  Negotiation,
  FormatName,
  KnownClientFormat,
  CallStart,
  StartRead,
  DenyAnswer,
  RequestAnswer,
  ResponseAnswer,
  ChunkOutcome,
  FinishAnswer,
  EngineAnswer,
} from "./internal/codec";
export {
  LOADER_OPTIONS,
  createPolicyEngineClient,
  addPolicyEngineService,
  createHealthClient,
  createHealthService,
  checkHealth,
  grpc,
  DEFAULT_MAX_BODY_BYTES,
  policyMessageLimit,
  messageLimitOptions,
} from "./internal/load";
export { drainingWriter } from "./internal/writer";
export type {
  PolicyEngineClientOptions,
  HealthService,
  ServingStatus,
} from "./internal/load";

export type { GatewayMessage, GatewayMessage__Output } from "./gen/luthien/policy/v1/GatewayMessage";
export type { EngineMessage, EngineMessage__Output } from "./gen/luthien/policy/v1/EngineMessage";
export type { Start, Start__Output } from "./gen/luthien/policy/v1/Start";
export type { SseEvent, SseEvent__Output } from "./gen/luthien/policy/v1/SseEvent";
export type { Deny, Deny__Output } from "./gen/luthien/policy/v1/Deny";
export type { RequestVerdict, RequestVerdict__Output } from "./gen/luthien/policy/v1/RequestVerdict";
export type { ResponseVerdict, ResponseVerdict__Output } from "./gen/luthien/policy/v1/ResponseVerdict";
export type { Finish, Finish__Output } from "./gen/luthien/policy/v1/Finish";
export type { Emit, Emit__Output } from "./gen/luthien/policy/v1/Emit";
export type { EngineError, EngineError__Output } from "./gen/luthien/policy/v1/EngineError";
export type { ClientFormat__Output as ClientFormat } from "./gen/luthien/policy/v1/ClientFormat";
export type { ResponseMode__Output as ResponseMode } from "./gen/luthien/policy/v1/ResponseMode";
export type { PolicyEngineClient, PolicyEngineHandlers } from "./gen/luthien/policy/v1/PolicyEngine";
