import type { ClientFormat__Output } from "../gen/luthien/policy/v1/ClientFormat";
import type { Deny, Deny__Output } from "../gen/luthien/policy/v1/Deny";
import type { Emit } from "../gen/luthien/policy/v1/Emit";
import type { EngineMessage__Output } from "../gen/luthien/policy/v1/EngineMessage";
import type { SseEvent, SseEvent__Output } from "../gen/luthien/policy/v1/SseEvent";
import type { Start, Start__Output } from "../gen/luthien/policy/v1/Start";

// The one reading and writing of the policy stream's messages, shared by the gateway, the engine and the test
// kit's fake engine: what a field's absence means, which answers are malformed, and what each version may carry.

/** The name the engine's health is reported under (besides "" for the whole server). */
export const POLICY_ENGINE_SERVICE = "luthien.policy.v1.PolicyEngine";

/** The protocol version this build's gateway speaks; sent in every `Start`. */
export const PROTOCOL_VERSION = 2;

/**
 * The protocol versions this build's engine implements, oldest and newest; a `Start` outside the range is answered
 * with an `unsupported_protocol_version` EngineError listing them. Gateway and engine upgrades overlap: engines first
 * (a release that speaks N and N+1: raise `max` once the engine implements N+1), then the gateways move to N+1
 * ({@link PROTOCOL_VERSION}), then a later engine release may drop N (raise `min`).
 */
export const ENGINE_PROTOCOL_VERSIONS = { min: 1, max: 2 } as const;

/** The EngineError code of a Start whose protocol version the engine does not implement. */
export const UNSUPPORTED_PROTOCOL_VERSION = "unsupported_protocol_version";

/** What one call's protocol version lets the engine send it. */
export interface ProtocolFeatures {
  readonly version: number;
  /** `Emit.unchanged` (version 2 on): a chunk no policy changed is answered without its bytes. */
  readonly unchanged: boolean;
}

/** The outcome of {@link negotiateProtocol}. */
export type Negotiation = { ok: true; features: ProtocolFeatures } | { ok: false; code: typeof UNSUPPORTED_PROTOCOL_VERSION; message: string; supportedVersions: number[] };

/**
 * The negotiation rule: the gateway names one version in its Start; the engine serves it when the version is in its
 * range, and sends that call only what the version knows.
 * @param range the versions the engine implements @default ENGINE_PROTOCOL_VERSIONS
 */
export function negotiateProtocol(version: number, range: { min: number; max: number } = ENGINE_PROTOCOL_VERSIONS): Negotiation {
  if (version < range.min || version > range.max) {
    const supportedVersions = versionsOf(range);
    return {
      ok: false,
      code: UNSUPPORTED_PROTOCOL_VERSION,
      message: `gateway speaks protocol version ${version}; this engine supports ${supportedVersions.join(", ")}`,
      supportedVersions,
    };
  }
  return { ok: true, features: { version, unchanged: version >= 2 } };
}

/** A client API, as policies name it. */
export type FormatName = "openai" | "anthropic" | "responses";

/** A client API, as the protocol's `ClientFormat` names it (every value but UNSPECIFIED). */
export type KnownClientFormat = Exclude<ClientFormat__Output, "CLIENT_FORMAT_UNSPECIFIED">;

const FORMAT_NAMES: Readonly<Record<KnownClientFormat, FormatName>> = {
  OPENAI_CHAT: "openai",
  ANTHROPIC_MESSAGES: "anthropic",
  OPENAI_RESPONSES: "responses",
};
const CLIENT_FORMATS: Readonly<Record<FormatName, KnownClientFormat>> = {
  openai: "OPENAI_CHAT",
  anthropic: "ANTHROPIC_MESSAGES",
  responses: "OPENAI_RESPONSES",
};

/**
 * The policy name of a wire `ClientFormat`; undefined for UNSPECIFIED and for a value this build does not know (an
 * enum number from a newer protocol arrives as a number).
 */
export function formatNameOf(format: ClientFormat__Output | number): FormatName | undefined {
  return typeof format === "string" && Object.hasOwn(FORMAT_NAMES, format) ? FORMAT_NAMES[format as KnownClientFormat] : undefined;
}

/** The wire `ClientFormat` of a policy format name. */
export function clientFormatOf(name: FormatName): KnownClientFormat {
  return CLIENT_FORMATS[name];
}

/** What the gateway tells the engine about a call it opens. */
export interface CallStart {
  format: KnownClientFormat;
  stream: boolean;
  keyId: string;
  /** The virtual key's owner. @default "" */
  owner?: string;
  userId: string;
  sessionId: string;
  route: string;
  /** The client's request body. */
  requestJson: Buffer;
  /** Allow-listed request headers; credentials are never included. */
  headers: Record<string, string>;
  /** The call's W3C trace context (`traceparent`, `tracestate`), so the engine's spans join its trace. @default none */
  traceContext?: Record<string, string>;
  /** @default PROTOCOL_VERSION */
  protocolVersion?: number;
}

/** The `Start` message of a call. */
export function encodeStart(call: CallStart): Start {
  return {
    protocolVersion: call.protocolVersion ?? PROTOCOL_VERSION,
    format: call.format,
    stream: call.stream,
    keyId: call.keyId,
    owner: call.owner ?? "",
    userId: call.userId,
    sessionId: call.sessionId,
    route: call.route,
    headers: call.headers,
    requestJson: call.requestJson,
    traceContext: call.traceContext ?? {},
  };
}

/** A `Start` as the engine reads it: the version negotiated and the format named; the request still bytes. */
export type StartRead =
  | {
      ok: true;
      features: ProtocolFeatures;
      format: FormatName;
      start: Start__Output;
    }
  | { ok: false; code: string; message: string };

/** Reads a `Start` (engine side). The version is checked before anything else, so a newer gateway learns why. */
export function readStart(start: Start__Output, range: { min: number; max: number } = ENGINE_PROTOCOL_VERSIONS): StartRead {
  const negotiated = negotiateProtocol(start.protocolVersion, range);
  if (!negotiated.ok) return negotiated;
  const format = formatNameOf(start.format);
  if (format === undefined) {
    return { ok: false, code: "unsupported_format", message: `client format ${String(start.format)} is not supported by this engine` };
  }
  return { ok: true, features: negotiated.features, format, start };
}

/** Every version of `range`, oldest first. @default ENGINE_PROTOCOL_VERSIONS */
export function versionsOf(range: { min: number; max: number } = ENGINE_PROTOCOL_VERSIONS): number[] {
  return Array.from({ length: range.max - range.min + 1 }, (_, i) => range.min + i);
}

/** A denial as the gateway renders it. */
export interface DenyAnswer {
  /** 403 when the engine sent none, or one below 400 (a denial is never a success). */
  status: number;
  /** `permission_error` when the engine sent none. */
  errorType: string;
  /** `denied by policy` when the engine sent none. */
  message: string;
}

/** What the engine decided about the request. */
export type RequestAnswer =
  | { action: "continue"; requestJson: Buffer | undefined; mode: "FULL" | "OBSERVE" | "SKIP" }
  | { action: "respond"; responseJson: Buffer }
  | { action: "deny"; deny: DenyAnswer };

/** What the engine decided about a whole response: the body to send (undefined = the original), or a denial. */
export type ResponseAnswer = { action: "respond"; responseJson: Buffer | undefined } | { action: "deny"; deny: DenyAnswer };

/** What to send in place of a chunk: the chunk itself, as the gateway sent it, or these events (maybe none). */
export type ChunkOutcome = "unchanged" | SseEvent__Output[];

/** The end of a stream: trailing events, and an error to end with instead of a clean end. */
export interface FinishAnswer {
  events: SseEvent__Output[];
  error: DenyAnswer | undefined;
  /** Every distinct `<policy>.<action>` the call's policies emitted (empty from an engine that does not report them). */
  policyActions: string[];
}

/**
 * One engine message, read. `malformed` is an answer of a known kind that says nothing usable (an empty verdict, a
 * response mode this build does not know, `unchanged` beside events): the gateway fails the verdict it answers,
 * since reading it as anything would check less than the engine may have meant.
 */
export type EngineAnswer =
  | { kind: "request"; request: RequestAnswer }
  | { kind: "response"; response: ResponseAnswer }
  | { kind: "emit"; emit: ChunkOutcome }
  | { kind: "finish"; finish: FinishAnswer }
  | { kind: "keepalive"; holdMs: number }
  | { kind: "error"; code: string; message: string; supportedVersions: number[] }
  | { kind: "malformed"; of: EngineMessage__Output["kind"]; message: string };

/** Reads an engine message (gateway side). Never throws: what cannot be used is `malformed`. */
export function readEngineMessage(m: EngineMessage__Output): EngineAnswer {
  switch (m.kind) {
    case "request": {
      const v = m.request;
      switch (v?.action) {
        case "continue": {
          const c = v.continue;
          const mode = responseMode(c?.mode);
          if (mode === undefined) return { kind: "malformed", of: m.kind, message: `policy engine asked for an unknown response mode ${JSON.stringify(c?.mode)}` };
          return { kind: "request", request: { action: "continue", requestJson: nonEmpty(c?.requestJson), mode } };
        }
        case "respond":
          return { kind: "request", request: { action: "respond", responseJson: v.respond?.responseJson ?? Buffer.alloc(0) } };
        case "deny":
          return { kind: "request", request: { action: "deny", deny: readDeny(v.deny) } };
        default:
          return { kind: "malformed", of: m.kind, message: "policy engine sent an empty request verdict" };
      }
    }
    case "response": {
      const v = m.response;
      if (v?.action === "deny") return { kind: "response", response: { action: "deny", deny: readDeny(v.deny) } };
      // An empty verdict is no answer: sending the original would be less checking, never a default.
      if (v?.action !== "respond") return { kind: "malformed", of: m.kind, message: "policy engine sent an empty response verdict" };
      return { kind: "response", response: { action: "respond", responseJson: nonEmpty(v.respond?.responseJson) } };
    }
    case "emit": {
      const events = m.emit?.events ?? [];
      if (m.emit?.unchanged === true) {
        if (events.length > 0) return { kind: "malformed", of: m.kind, message: "policy engine sent events with an unchanged emit" };
        return { kind: "emit", emit: "unchanged" };
      }
      return { kind: "emit", emit: events };
    }
    case "finish": {
      const f = m.finish;
      return {
        kind: "finish",
        finish: { events: f?.events ?? [], error: f?.error !== null && f?.error !== undefined ? readDeny(f.error) : undefined, policyActions: f?.policyActions ?? [] },
      };
    }
    case "keepalive":
      return { kind: "keepalive", holdMs: m.keepalive?.holdMs ?? 0 };
    case "error":
      return { kind: "error", code: m.error?.code ?? "", message: m.error?.message || "unknown error", supportedVersions: m.error?.supportedVersions ?? [] };
    case undefined:
      return { kind: "malformed", of: undefined, message: "policy engine sent a message without a kind" };
    default: {
      const unknown: never = m.kind;
      return { kind: "malformed", of: unknown, message: `policy engine sent a message of unknown kind ${String(unknown)}` };
    }
  }
}

/** Unset means FULL (the protocol's default); undefined for a mode this build does not know. */
function responseMode(mode: string | number | undefined): "FULL" | "OBSERVE" | "SKIP" | undefined {
  switch (mode) {
    case undefined:
    case "RESPONSE_MODE_UNSPECIFIED":
    case "FULL":
      return "FULL";
    case "OBSERVE":
    case "SKIP":
      return mode;
    default:
      return undefined;
  }
}

function nonEmpty(bytes: Buffer | undefined): Buffer | undefined {
  return bytes !== undefined && bytes.length > 0 ? bytes : undefined;
}

function readDeny(d: Deny__Output | null | undefined): DenyAnswer {
  return {
    status: d?.status !== undefined && d.status >= 400 ? d.status : 403,
    errorType: d?.errorType || "permission_error",
    message: d?.message ?? "denied by policy",
  };
}

/** The wire form of a denial (engine side). */
export function encodeDeny(d: { status: number; errorType: string; message: string }): Deny {
  return { status: d.status, errorType: d.errorType, message: d.message };
}

/**
 * The Emit answering `original` (engine side): `unchanged` when the call's version has it, else the original event
 * itself, its name and bytes as the gateway sent them.
 */
export function encodeEmit(outcome: "unchanged" | SseEvent[], original: SseEvent__Output, features: ProtocolFeatures): Emit {
  if (outcome !== "unchanged") return { events: outcome };
  return features.unchanged ? { events: [], unchanged: true } : { events: [{ event: original.event, data: original.data }] };
}
