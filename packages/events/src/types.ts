import { InvalidEventError } from "./errors";
import { isValidEventType } from "./subjects";

/** Who published an event. */
export type ActivitySource = "gateway" | "control-plane";

/** The sources, for validation and UIs. */
export const ACTIVITY_SOURCES: readonly ActivitySource[] = ["gateway", "control-plane"];

/** A JSON object, the shape of every event's `data`. */
export interface JsonObject {
  [key: string]: JsonValue;
}
/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/**
 * The activity event envelope, as published on `luthien.activity.<type>` (JSON, UTF-8).
 * - `id`: a UUIDv7, also the JetStream `Nats-Msg-Id` (publish dedup) and the monitor's primary key (insert dedup)
 * - `callId`: the call it belongs to (the gateway's `x-luthien-call-id`)
 * - `seq`: 1, 2, 3 … per (`callId`, `source`), so a consumer can tell whether it has seen all of a call's events
 * - `type`: e.g. `call.started`, `policy.all-caps.response_modified`; also the subject tail
 * - `time`: ISO 8601 with milliseconds, UTC
 * - `data`: a JSON object whose shape depends on `type` (see {@link LifecycleEventData})
 */
export interface ActivityEvent<D extends object = JsonObject> {
  id: string;
  callId: string;
  seq: number;
  type: string;
  source: ActivitySource;
  time: string;
  data: D;
}

/** The lifecycle event types the gateway and the control plane publish. Policies add `policy.<policy>.<action>`. */
export const ActivityEventTypes = {
  CallStarted: "call.started",
  RequestReceived: "request.received",
  RequestSent: "request.sent",
  ResponseReceived: "response.received",
  ResponseSent: "response.sent",
  CallEnded: "call.ended",
  CallEngine: "call.engine",
  PolicyBypassed: "policy.bypassed",
  PolicyUnavailable: "policy.unavailable",
  ChunkReceived: "chunk.received",
  ChunkSent: "chunk.sent",
  PolicyConfigReloaded: "policy.config.reloaded",
  PolicyConfigRejected: "policy.config.rejected",
  StreamProtocolViolation: "stream.protocol_violation",
} as const;

/** One of {@link ActivityEventTypes}. */
export type LifecycleEventType = (typeof ActivityEventTypes)[keyof typeof ActivityEventTypes];

/** Every lifecycle type, in the order a call produces them where that order exists. */
export const LIFECYCLE_EVENT_TYPES: readonly LifecycleEventType[] = Object.values(ActivityEventTypes);

/** Types under `policy.` that are not a policy's own action. */
const RESERVED_POLICY_TYPES: ReadonlySet<string> = new Set(["policy.bypassed", "policy.unavailable"]);

/**
 * The type of a policy's own event: `policy.<policy>.<action>` (e.g. `policy.dangerous-commands.blocked`).
 * @throws InvalidEventError when the result is not a valid type (empty parts, dots or wildcards inside a part)
 */
export function policyEventType(policy: string, action: string): string {
  if (policy.includes(".") || action.includes(".")) {
    throw new InvalidEventError("type", `policy and action must not contain dots: ${JSON.stringify(`${policy}/${action}`)}`);
  }
  const type = `policy.${policy}.${action}`;
  if (!isValidEventType(type)) throw new InvalidEventError("type", `not a valid event type: ${JSON.stringify(type)}`);
  return type;
}

/**
 * When `type` is a policy's own action (`policy.<policy>.<action>`, not `policy.bypassed`/`policy.unavailable`
 * or `policy.config.*`), its `<policy>.<action>` part; otherwise undefined.
 */
export function policyActionOf(type: string): string | undefined {
  if (!type.startsWith("policy.") || RESERVED_POLICY_TYPES.has(type) || type.startsWith("policy.config.")) return undefined;
  const rest = type.slice("policy.".length);
  return rest.includes(".") ? rest : undefined;
}

/** The client-facing wire format of a call. */
export type ClientFormat = "openai" | "anthropic" | "responses";

/** `call.started`: published once, first, by the gateway. */
export interface CallStartedData {
  model: string;
  stream: boolean;
  /** The endpoint, e.g. `/v1/chat/completions`. */
  route: string;
  /** The id of the client's key (never the key). */
  keyId?: string;
  /** The virtual key's owner. */
  owner?: string;
  userId?: string;
  sessionId?: string;
  format: ClientFormat;
  /** The provider name the model routed to. */
  provider: string;
}

/** `request.received` (the client's original request) and `request.sent` (final, as sent upstream). */
export interface RequestBodyData {
  body: JsonValue;
}

/** `response.received` (the provider's, for streams assembled in the client's format) and `response.sent` (final). */
export interface ResponseBodyData {
  body: JsonValue;
}

/** How a call ended. */
export type CallOutcome = "ok" | "error" | "denied" | "client_closed";

/** `call.ended`: published once, last, by the gateway. */
export interface CallEndedData {
  /** The HTTP status the client got. */
  status: number;
  outcome: CallOutcome;
  latencyMs: number;
  /** Time to the first byte of the answer (streams). */
  ttftMs?: number;
  /** Input tokens include cache reads and writes (counted apart as well, when the provider reports them). */
  usage?: { inputTokens: number; outputTokens: number; cacheReadTokens?: number; cacheWriteTokens?: number };
  /** What the call cost in USD at the gateway's price table, when its model has a price and usage was reported. */
  costUsd?: number;
  /** Served while the limit store failed (LIMITS_ON_STORE_ERROR=allow): its key's limits were not checked. */
  limitsUnchecked?: "store_unavailable";
  chunksIn: number;
  chunksOut: number;
  /** `<policy>.<action>` of every policy intervention in the call. */
  policyActions: string[];
  /** The bypass reason when the call was served without policy (fail-open). */
  bypassed?: string;
  error?: { type: string; message: string };
  /**
   * The error exactly as the client received it, in its own format: the JSON body, or for a stream whose status
   * line was already sent, the data of the error event written last.
   */
  errorBody?: JsonValue;
}

/** `call.engine`: published by the policy engine replica that took the call, when it starts the call's chain. */
export interface CallEngineData {
  /** The replica (`ENGINE_NAME`). */
  engine: string;
  /** The chain chosen for the call (`default` or a name under `chains:`). */
  chain: string;
  /** The policy config's version (first 12 hex digits of its SHA-256). */
  configVersion: string;
  /** The chain's policies in order, and whether each enforces or runs in shadow. */
  policies: { name: string; mode: "enforce" | "shadow" }[];
}

/** `policy.bypassed`: the call was served without policy (fail-open). */
export interface PolicyBypassedData {
  reason: string;
}

/** `policy.unavailable`: the policy engine could not decide. */
export interface PolicyUnavailableData {
  reason: string;
  message: string;
}

/** The data shape of each lifecycle type that has a fixed one. */
export interface LifecycleEventData {
  "call.started": CallStartedData;
  "request.received": RequestBodyData;
  "request.sent": RequestBodyData;
  "response.received": ResponseBodyData;
  "response.sent": ResponseBodyData;
  "call.ended": CallEndedData;
  "call.engine": CallEngineData;
  "policy.bypassed": PolicyBypassedData;
  "policy.unavailable": PolicyUnavailableData;
}
