import {
  ActivityEventTypes,
  activitySubjectFilter,
  encodeActivityEvent,
  InvalidEventError,
  isUuid,
  LIFECYCLE_EVENT_TYPES,
  parseActivityEvent,
  policyActionOf,
  policyEventType,
  subjectFor,
  typeFromSubject,
  uuidv7,
} from "../src/index";

const valid = {
  id: "0190f5e2-7c4a-7b3e-8f00-0123456789ab",
  callId: "call-1",
  seq: 1,
  type: "call.started",
  source: "gateway",
  time: "2026-01-02T03:04:05.678Z",
  data: { model: "gpt-4o-mini" },
};

describe("uuidv7", () => {
  it("makes version-7, variant-10 UUIDs that sort in creation order", () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe("7");
      expect(["8", "9", "a", "b"]).toContain(id[19]);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("carries the millisecond timestamp in its first 48 bits", () => {
    const now = Date.now() + 10_000;
    const id = uuidv7(now);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now);
  });
});

describe("parseActivityEvent", () => {
  it("accepts a valid envelope from bytes and normalises id and time", () => {
    const ev = parseActivityEvent(new TextEncoder().encode(JSON.stringify({ ...valid, id: valid.id.toUpperCase(), time: "2026-01-02T04:04:05.678+01:00", extra: 1 })));
    expect(ev).toEqual(valid);
  });

  it("round-trips with encodeActivityEvent", () => {
    const ev = parseActivityEvent(JSON.stringify(valid));
    expect(parseActivityEvent(encodeActivityEvent(ev))).toEqual(ev);
  });

  it.each([
    ["not json", "{", "$"],
    ["an array", "[]", "$"],
    ["a bad id", JSON.stringify({ ...valid, id: "x" }), "id"],
    ["an empty callId", JSON.stringify({ ...valid, callId: "" }), "callId"],
    ["seq 0", JSON.stringify({ ...valid, seq: 0 }), "seq"],
    ["a fractional seq", JSON.stringify({ ...valid, seq: 1.5 }), "seq"],
    ["a wildcard type", JSON.stringify({ ...valid, type: "call.>" }), "type"],
    ["an empty type token", JSON.stringify({ ...valid, type: "call..started" }), "type"],
    ["an unknown source", JSON.stringify({ ...valid, source: "monitor" }), "source"],
    ["a time without zone", JSON.stringify({ ...valid, time: "2026-01-02T03:04:05" }), "time"],
    ["data that is an array", JSON.stringify({ ...valid, data: [] }), "data"],
    ["missing data", JSON.stringify({ ...valid, data: undefined }), "data"],
  ])("rejects %s, naming the field", (_what, text, field) => {
    try {
      parseActivityEvent(text);
      throw new Error("expected a throw");
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidEventError);
      expect((err as InvalidEventError).field).toBe(field);
      expect((err as InvalidEventError).code).toBe("invalid_event");
    }
  });

  it("rejects bytes that are not UTF-8", () => {
    expect(() => parseActivityEvent(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/UTF-8/);
  });
});

describe("subjects", () => {
  it("maps types to subjects and back", () => {
    expect(subjectFor("call.started")).toBe("luthien.activity.call.started");
    expect(typeFromSubject("luthien.activity.policy.all-caps.response_modified")).toBe("policy.all-caps.response_modified");
    expect(typeFromSubject("other.subject")).toBeUndefined();
    expect(() => subjectFor("a b")).toThrow(InvalidEventError);
  });

  it("expands tail filters", () => {
    expect(activitySubjectFilter()).toBe("luthien.activity.>");
    expect(activitySubjectFilter("policy.>")).toBe("luthien.activity.policy.>");
    expect(activitySubjectFilter("luthien.activity.call.*")).toBe("luthien.activity.call.*");
  });

  it("names policy actions", () => {
    expect(policyEventType("dangerous-commands", "blocked")).toBe("policy.dangerous-commands.blocked");
    expect(() => policyEventType("a.b", "c")).toThrow(InvalidEventError);
    expect(policyActionOf("policy.all-caps.response_modified")).toBe("all-caps.response_modified");
    expect(policyActionOf("policy.bypassed")).toBeUndefined();
    expect(policyActionOf("policy.config.reloaded")).toBeUndefined();
    expect(policyActionOf("call.ended")).toBeUndefined();
  });

  it("lists every lifecycle type", () => {
    expect(LIFECYCLE_EVENT_TYPES).toContain(ActivityEventTypes.StreamProtocolViolation);
    expect(LIFECYCLE_EVENT_TYPES).toContain(ActivityEventTypes.CallEngine);
    expect(LIFECYCLE_EVENT_TYPES).toHaveLength(14);
  });
});
