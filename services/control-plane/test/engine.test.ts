import { createPolicyEngineClient, type EngineMessage__Output } from "@luthien/protocol";
import { startService, waitFor, type RunningService } from "@luthien/testkit";
import { converse, writeConfig } from "./converse";

const request = (content: string): Buffer => Buffer.from(JSON.stringify({ model: "m", messages: [{ role: "user", content }] }));
const chunk = (content: string): Buffer =>
  Buffer.from(JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content }, finish_reason: null }] }));

describe("control plane", () => {
  let engine: RunningService;
  beforeAll(async () => {
    engine = await startService("control-plane", { env: { POLICY_CONFIG: writeConfig("policies:\n  - use: all-caps\n") } });
  });
  afterAll(() => engine.stop());

  it("answers every verdict request once, in order, on one stream", async () => {
    const callId = "call-1";
    const answers = await converse(engine.address, [
      { callId, seq: 1, start: { protocolVersion: 1, format: "OPENAI_CHAT", stream: true, requestJson: request("hi") } },
      { callId, seq: 2, chunk: { event: { data: chunk("abc") } } },
      { callId, seq: 3, chunk: { event: { data: chunk("def") } } },
      { callId, seq: 4, end: {} },
    ]);
    expect(answers.map((a) => [a.replyTo, a.kind])).toEqual([
      ["1", "request"],
      ["2", "emit"],
      ["3", "emit"],
      ["4", "finish"],
    ]);
    expect(answers[0]?.request?.continue?.mode).toBe("FULL");
    const texts = answers.slice(1, 3).map((a) => JSON.parse(a.emit?.events[0]?.data.toString() ?? "{}").choices[0].delta.content);
    expect(texts).toEqual(["ABC", "DEF"]);
  });

  it("carries several calls on one stream", async () => {
    const answers = await converse(engine.address, [
      { callId: "a", seq: 1, start: { protocolVersion: 1, format: "OPENAI_CHAT", stream: true, requestJson: request("x") } },
      { callId: "b", seq: 1, start: { protocolVersion: 1, format: "OPENAI_CHAT", stream: true, requestJson: request("y") } },
      { callId: "b", seq: 2, chunk: { event: { data: chunk("b") } } },
      { callId: "a", seq: 2, chunk: { event: { data: chunk("a") } } },
      { callId: "a", seq: 3, end: {} },
      { callId: "b", seq: 3, end: {} },
    ]);
    for (const id of ["a", "b"]) {
      expect(answers.filter((m) => m.callId === id).map((m) => m.kind)).toEqual(["request", "emit", "finish"]);
    }
  });

  it("refuses an unsupported protocol version with a clear error instead of hanging", async () => {
    const answers = await converse(engine.address, [{ callId: "v", seq: 1, start: { protocolVersion: 99, format: "OPENAI_CHAT", requestJson: request("hi") } }]);
    expect(answers).toHaveLength(1);
    expect(answers[0]?.kind).toBe("error");
    expect(answers[0]?.error?.code).toBe("unsupported_protocol_version");
    expect(answers[0]?.error?.message).toContain("99");
    expect(answers[0]?.error?.supportedVersions).toEqual([1, 2]);
  });

  it("answers SKIP for a noop chain", async () => {
    const noop = await startService("control-plane", { env: { POLICY_CONFIG: writeConfig("policies:\n  - use: noop\n") } });
    try {
      const answers = await converse(noop.address, [{ callId: "n", seq: 1, start: { protocolVersion: 1, format: "OPENAI_CHAT", requestJson: request("hi") } }]);
      expect(answers[0]?.request?.continue?.mode).toBe("SKIP");
    } finally {
      await noop.stop();
    }
  });

  it("finishes in-flight calls on SIGTERM, then exits", async () => {
    const plane = await startService("control-plane", { env: { POLICY_CONFIG: writeConfig("policies:\n  - use: all-caps\n") } });
    const client = createPolicyEngineClient({ address: plane.address });
    const stream = client.Process();
    const answers: EngineMessage__Output[] = [];
    stream.on("data", (m: EngineMessage__Output) => answers.push(m));
    stream.on("error", () => undefined);
    stream.write({ callId: "s", seq: 1, start: { protocolVersion: 1, format: "OPENAI_CHAT", stream: true, requestJson: request("hi") } });
    await waitFor(() => answers.length === 1, { what: "request verdict" });
    plane.signal("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    // The call that was open when the signal came still gets its answers.
    stream.write({ callId: "s", seq: 2, chunk: { event: { data: chunk("late") } } });
    stream.write({ callId: "s", seq: 3, end: {} });
    stream.end();
    await waitFor(() => answers.length === 3, { what: "answers after SIGTERM" });
    expect(answers.map((a) => a.kind)).toEqual(["request", "emit", "finish"]);
    await waitFor(() => plane.process.exitCode !== null, { what: "exit" });
    expect(plane.process.exitCode).toBe(0);
    client.close();
  });
});

describe("control plane configuration", () => {
  const startWith = async (text: string): Promise<string> => {
    const err = await startService("control-plane", { env: { POLICY_CONFIG: writeConfig(text) } }).then(
      async (s) => {
        await s.stop();
        throw new Error("started with an invalid config");
      },
      (e: Error) => e,
    );
    return err.message;
  };

  it("refuses to start and names the bad field", async () => {
    expect(await startWith('policies:\n  - use: string-replace\n    with:\n      replacements: [["a", "b"], ["c"]]\n')).toContain("policies[0].with.replacements[1]");
    expect(await startWith("policies:\n  - use: noop\n  - use: nope\n")).toMatch(/policies\[1\]\.use: unknown policy .*nope/);
    expect(await startWith("policies:\n  - use: all-caps\n    with: { loud: true }\n")).toContain("policies[0].with.loud");
  });
});
