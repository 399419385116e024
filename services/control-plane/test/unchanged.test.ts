import { PROTOCOL_VERSION, type EngineMessage__Output, type GatewayMessage } from "@luthien/protocol";
import { startService, type RunningService } from "@luthien/testkit";
import { converse, writeConfig } from "./converse";

/**
 * `Emit.unchanged` (protocol version 2): the engine answers a chunk no policy changed without sending it back, only
 * to a gateway whose version has it, and never for a chunk a policy rewrote, held back or released.
 */

const request = (stream: boolean): Buffer => Buffer.from(JSON.stringify({ model: "m", stream, messages: [{ role: "user", content: "hi" }] }));
// Spaced and key-ordered unlike JSON.stringify, so bytes sent back as they came can be told from re-serialised ones.
const chunk = (content: string): Buffer =>
  Buffer.from(
    `{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": ${JSON.stringify(content)}}, "finish_reason": null}]}`,
  );

/** A streamed call: Start at `version`, one chunk per piece, End. */
const streamed = (callId: string, version: number, pieces: string[]): GatewayMessage[] => [
  { callId, seq: 1, start: { protocolVersion: version, format: "OPENAI_CHAT", stream: true, requestJson: request(true) } },
  ...pieces.map((p, i): GatewayMessage => ({ callId, seq: i + 2, chunk: { event: { event: "", data: chunk(p) } } })),
  { callId, seq: pieces.length + 2, end: {} },
];

const emits = (answers: EngineMessage__Output[]): NonNullable<EngineMessage__Output["emit"]>[] => answers.flatMap((a) => (a.emit !== null && a.emit !== undefined ? [a.emit] : []));
const contentOf = (data: Buffer): string => (JSON.parse(data.toString()) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "";

describe("unchanged answers", () => {
  const engines: Record<"pass" | "caps" | "hold", RunningService> = {} as Record<"pass" | "caps" | "hold", RunningService>;
  beforeAll(async () => {
    // dangerous-commands is a FULL tool-call gate: it decides every event and lets plain text through as it came.
    [engines.pass, engines.caps, engines.hold] = await Promise.all([
      startService("control-plane", { env: { POLICY_CONFIG: writeConfig("policies:\n  - use: dangerous-commands\n") } }),
      startService("control-plane", { env: { POLICY_CONFIG: writeConfig("policies:\n  - use: all-caps\n") } }),
      startService("control-plane", { env: { POLICY_CONFIG: writeConfig('policies:\n  - use: string-replace\n    with:\n      replacements: [["abcd", "X"]]\n') } }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all(Object.values(engines).map((e) => e.stop())));

  it("are what a chain that changed nothing answers a version-2 gateway: no events travel back", async () => {
    expect(PROTOCOL_VERSION).toBe(2);
    const answers = await converse(engines.pass.address, streamed("pass-2", 2, ["plain ", "text"]));
    expect(answers.map((a) => a.kind)).toEqual(["request", "emit", "emit", "finish"]);
    expect(answers[0]?.request?.continue?.mode).toBe("FULL");
    for (const e of emits(answers)) expect([e.unchanged, e.events]).toEqual([true, []]);
  });

  it("are never sent to a version-1 gateway: it gets the event itself, its bytes as it sent them", async () => {
    const answers = await converse(engines.pass.address, streamed("pass-1", 1, ["plain ", "text"]));
    const sent = emits(answers);
    expect(sent).toHaveLength(2);
    sent.forEach((e, i) => {
      expect(e.unchanged).toBe(false);
      expect(e.events).toHaveLength(1);
      expect(e.events[0]?.event).toBe("");
      expect(e.events[0]?.data.equals(chunk(["plain ", "text"][i] as string))).toBe(true);
    });
  });

  it("are never what a rewriting chain answers, whatever the version", async () => {
    for (const version of [1, 2]) {
      const sent = emits(await converse(engines.caps.address, streamed(`caps-${version}`, version, ["abc", "def"])));
      expect(sent.map((e) => e.unchanged)).toEqual([false, false]);
      expect(sent.map((e) => e.events.map((x) => contentOf(x.data)).join(""))).toEqual(["ABC", "DEF"]);
    }
  });

  it("are never what a chain holding text back answers, nor when it releases it", async () => {
    // "abc" may begin "abcd": the replacer holds it until the next delta says whether it does.
    const answers = await converse(engines.hold.address, streamed("hold", 2, ["xx abc", "d yy abc", "e"]));
    const sent = emits(answers);
    expect(sent.map((e) => e.unchanged)).toEqual([false, false, false]);
    const finish = answers.find((a) => a.kind === "finish")?.finish;
    const text = [...sent.flatMap((e) => e.events), ...(finish?.events ?? [])].map((x) => contentOf(x.data)).join("");
    expect(text).toBe("xx X yy abce");
  });

  it("a whole response no policy changed travels back as an empty response_json (the gateway sends its own bytes)", async () => {
    const body = Buffer.from(
      '{"id": "r", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "plain"}, "finish_reason": "stop"}]}',
    );
    const answers = await converse(engines.pass.address, [
      { callId: "resp", seq: 1, start: { protocolVersion: 2, format: "OPENAI_CHAT", stream: false, requestJson: request(false) } },
      { callId: "resp", seq: 2, response: { responseJson: body } },
    ]);
    expect(answers.map((a) => a.kind)).toEqual(["request", "response"]);
    expect(answers[1]?.response?.respond?.responseJson.length).toBe(0);
    // And a rewritten one travels in full.
    const caps = await converse(engines.caps.address, [
      { callId: "resp-caps", seq: 1, start: { protocolVersion: 2, format: "OPENAI_CHAT", stream: false, requestJson: request(false) } },
      { callId: "resp-caps", seq: 2, response: { responseJson: body } },
    ]);
    expect(JSON.parse(caps[1]?.response?.respond?.responseJson.toString() ?? "{}").choices[0].message.content).toBe("PLAIN");
  });

  it("a version outside the engine's range is still refused with unsupported_protocol_version", async () => {
    for (const version of [0, 3]) {
      const answers = await converse(engines.pass.address, streamed(`v${version}`, version, ["x"]).slice(0, 1));
      expect(answers.map((a) => [a.kind, a.error?.code])).toEqual([["error", "unsupported_protocol_version"]]);
      expect(answers[0]?.error?.supportedVersions).toEqual([1, 2]);
    }
  });
});
