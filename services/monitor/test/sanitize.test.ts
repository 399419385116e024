import { escapeJson, escapeString, summarize, textOf } from "../src/index";
import type { ActivityEvent } from "@luthien/events";

describe("escapeString", () => {
  it("writes out U+0000 and lone surrogates as escape text and keeps everything else", () => {
    expect(escapeString("plain ✓ 😀")).toBe("plain ✓ 😀");
    expect(escapeString("a\u0000b")).toBe("a\\u0000b");
    expect(escapeString("hi\ud800")).toBe("hi\\ud800");
    expect(escapeString("\udc00lo")).toBe("\\udc00lo");
    expect(escapeString("\ud83d\ude00\ud83d")).toBe("\ud83d\ude00\\ud83d");
    expect(escapeString("\udc00\ud800")).toBe("\\udc00\\ud800");
  });

  it("produces strings that encode to UTF-8 and back unchanged", () => {
    const s = escapeString("x\ud800y\u0000z\udfff");
    expect(Buffer.from(s, "utf8").toString("utf8")).toBe(s);
  });
});

describe("escapeJson", () => {
  it("walks objects, arrays and keys without touching other values", () => {
    const input = { "k\u0000": ["\ud800", 1, true, null, { deep: "ok\u0000" }] };
    expect(escapeJson(input)).toEqual({ "k\\u0000": ["\\ud800", 1, true, null, { deep: "ok\\u0000" }] });
    expect(input["k\u0000"][0]).toBe("\ud800");
  });
});

describe("summarize", () => {
  const ev = (seq: number, type: string, data: object, time = `2026-01-01T00:00:0${seq}.000Z`): ActivityEvent =>
    ({ id: `00000000-0000-7000-8000-00000000000${seq}`, callId: "c", seq, type, source: "gateway", time, data }) as ActivityEvent;

  it("folds a call's events, in any order, into one summary", () => {
    const evs = [
      ev(6, "call.ended", { status: 200, outcome: "ok", latencyMs: 10, ttftMs: 3, usage: { inputTokens: 4, outputTokens: 2 }, chunksIn: 5, chunksOut: 6, policyActions: ["b.x"] }),
      ev(1, "call.started", { model: "m", stream: true, route: "/v1/messages", keyId: "k", format: "anthropic", provider: "anthropic" }),
      ev(2, "request.received", { body: { system: "be nice", messages: [{ role: "user", content: [{ type: "text", text: "find me" }] }] } }),
      ev(3, "policy.a.y", {}),
      ev(4, "policy.bypassed", { reason: "timeout" }),
    ];
    const p = summarize("c", evs);
    expect(p).toMatchObject({
      callId: "c",
      model: "m",
      stream: true,
      keyId: "k",
      format: "anthropic",
      status: 200,
      outcome: "ok",
      latencyMs: 10,
      ttftMs: 3,
      inputTokens: 4,
      outputTokens: 2,
      chunksIn: 5,
      chunksOut: 6,
      policyActions: ["a.y", "b.x"],
      bypassed: "timeout",
      eventCount: 5,
      requestReceivedId: evs[2]!.id,
    });
    expect(p.startedAt.toISOString()).toBe("2026-01-01T00:00:01.000Z");
    expect(p.endedAt?.toISOString()).toBe("2026-01-01T00:00:06.000Z");
    expect(p.searchText).toContain("find me");
    expect(p.searchText).toContain("be nice");
  });

  it("keeps prose, not signatures or base64, in the search text", () => {
    const text = textOf({
      content: [
        { type: "thinking", thinking: "hmm", signature: "SIG" },
        { type: "image", source: { data: "AAAA", media_type: "image/png" } },
        { type: "text", text: "answer" },
      ],
    });
    expect(text).toBe("hmm answer");
  });
});
