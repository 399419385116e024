import {
  ENGINE_PROTOCOL_VERSIONS,
  PROTOCOL_VERSION,
  clientFormatOf,
  encodeEmit,
  encodeStart,
  formatNameOf,
  negotiateProtocol,
  readEngineMessage,
  readStart,
  type EngineMessage__Output,
  type FormatName,
  type Start__Output,
} from "@luthien/protocol";

const event = { event: "", data: Buffer.from('{"a": 1}') };
const msg = (m: Partial<EngineMessage__Output>): EngineMessage__Output => ({ callId: "c", replyTo: "1", ...m }) as EngineMessage__Output;
const start = (s: Partial<Start__Output>): Start__Output =>
  ({
    protocolVersion: PROTOCOL_VERSION,
    format: "OPENAI_CHAT",
    stream: true,
    keyId: "",
    userId: "",
    sessionId: "",
    route: "",
    headers: {},
    requestJson: Buffer.from("{}"),
    traceContext: {},
    ...s,
  }) as Start__Output;

describe("protocol codec: versions", () => {
  it("this build's gateway speaks a version its engines serve, and unchanged answers only from version 2", () => {
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(ENGINE_PROTOCOL_VERSIONS.min);
    expect(PROTOCOL_VERSION).toBeLessThanOrEqual(ENGINE_PROTOCOL_VERSIONS.max);
    expect(negotiateProtocol(1)).toEqual({ ok: true, features: { version: 1, unchanged: false } });
    expect(negotiateProtocol(2)).toEqual({ ok: true, features: { version: 2, unchanged: true } });
  });

  it("refuses versions outside the range with the versions it speaks", () => {
    for (const v of [0, 3, 99]) {
      expect(negotiateProtocol(v)).toMatchObject({ ok: false, code: "unsupported_protocol_version", supportedVersions: [1, 2] });
    }
    expect(readStart(start({ protocolVersion: 3, format: "CLIENT_FORMAT_UNSPECIFIED" }))).toMatchObject({ ok: false, code: "unsupported_protocol_version" });
    expect(readStart(start({ format: "CLIENT_FORMAT_UNSPECIFIED" }))).toMatchObject({ ok: false, code: "unsupported_format" });
    expect(readStart(start({ format: 9 as unknown as "OPENAI_CHAT" }))).toMatchObject({ ok: false, code: "unsupported_format" });
    expect(readStart(start({ format: "ANTHROPIC_MESSAGES" }))).toMatchObject({ ok: true, format: "anthropic", features: { unchanged: true } });
  });
});

describe("protocol codec: formats and Start", () => {
  it("maps every client format both ways", () => {
    for (const name of ["openai", "anthropic", "responses"] as FormatName[]) expect(formatNameOf(clientFormatOf(name))).toBe(name);
    expect(formatNameOf("CLIENT_FORMAT_UNSPECIFIED")).toBeUndefined();
    expect(formatNameOf("toString" as "OPENAI_CHAT")).toBeUndefined();
  });

  it("encodes a Start with this build's version and no trace context unless given", () => {
    const s = encodeStart({
      format: "OPENAI_RESPONSES",
      stream: false,
      keyId: "k",
      userId: "u",
      sessionId: "s",
      route: "/v1/responses",
      requestJson: Buffer.from("{}"),
      headers: { a: "b" },
    });
    expect(s).toMatchObject({ protocolVersion: PROTOCOL_VERSION, format: "OPENAI_RESPONSES", traceContext: {}, headers: { a: "b" } });
  });
});

describe("protocol codec: engine answers", () => {
  it("reads unchanged, and fails an unchanged emit that carries events too", () => {
    expect(readEngineMessage(msg({ kind: "emit", emit: { events: [], unchanged: true } }))).toEqual({ kind: "emit", emit: "unchanged" });
    expect(readEngineMessage(msg({ kind: "emit", emit: { events: [event], unchanged: false } }))).toEqual({ kind: "emit", emit: [event] });
    expect(readEngineMessage(msg({ kind: "emit", emit: { events: [], unchanged: false } }))).toEqual({ kind: "emit", emit: [] });
    expect(readEngineMessage(msg({ kind: "emit", emit: { events: [event], unchanged: true } }))).toMatchObject({ kind: "malformed", of: "emit" });
  });

  it("reads empty verdicts and unknown modes as malformed, never as a default", () => {
    expect(readEngineMessage(msg({ kind: "request", request: {} as never }))).toMatchObject({ kind: "malformed", of: "request" });
    expect(readEngineMessage(msg({ kind: "response", response: {} as never }))).toMatchObject({ kind: "malformed", of: "response" });
    const mode = (m: unknown) => readEngineMessage(msg({ kind: "request", request: { action: "continue", continue: { requestJson: Buffer.alloc(0), mode: m as "FULL" } } }));
    expect(mode(7)).toMatchObject({ kind: "malformed" });
    expect(mode("RESPONSE_MODE_UNSPECIFIED")).toEqual({ kind: "request", request: { action: "continue", requestJson: undefined, mode: "FULL" } });
    expect(mode("OBSERVE")).toMatchObject({ request: { mode: "OBSERVE" } });
    expect(readEngineMessage(msg({}))).toMatchObject({ kind: "malformed", of: undefined });
  });

  it("reads denials with the defaults the gateway renders (never a success status)", () => {
    const deny = (d: object) => readEngineMessage(msg({ kind: "request", request: { action: "deny", deny: d as never } }));
    expect(deny({ status: 200, errorType: "", message: "no" })).toEqual({
      kind: "request",
      request: { action: "deny", deny: { status: 403, errorType: "permission_error", message: "no" } },
    });
    expect(deny({ status: 429, errorType: "rate", message: "slow" })).toMatchObject({ request: { deny: { status: 429, errorType: "rate" } } });
    expect(readEngineMessage(msg({ kind: "response", response: { action: "respond", respond: { responseJson: Buffer.alloc(0) } } }))).toEqual({
      kind: "response",
      response: { action: "respond", responseJson: undefined },
    });
  });

  it("encodes unchanged only for a version that has it; older gateways get the event's own bytes", () => {
    expect(encodeEmit("unchanged", event, { version: 2, unchanged: true })).toEqual({ events: [], unchanged: true });
    const v1 = encodeEmit("unchanged", event, { version: 1, unchanged: false });
    expect(v1.unchanged).toBeUndefined();
    expect(v1.events).toEqual([{ event: "", data: event.data }]);
    expect(v1.events?.[0]?.data).toBe(event.data);
    expect(encodeEmit([], event, { version: 2, unchanged: true })).toEqual({ events: [] });
  });
});
