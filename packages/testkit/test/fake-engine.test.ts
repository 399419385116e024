import { checkHealth, createHealthClient, createPolicyEngineClient, grpc, type EngineMessage__Output } from "@luthien/protocol";
import { startFakeEngine, type FakeEngine, type FakeEngineAction } from "../src";

let engine: FakeEngine;
beforeAll(async () => {
  engine = await startFakeEngine({ transform: (e) => ({ event: e.event, data: Buffer.from(e.data.toString("utf8").toUpperCase()) }) });
});
afterAll(() => engine.stop());

/** Sends a Start, one chunk per entry of `chunks` and an End on a fresh stream; collects answers and the status. */
async function converse(chunks: string[], waitMs = 300): Promise<{ answers: EngineMessage__Output[]; status: grpc.status | undefined }> {
  const client = createPolicyEngineClient({ address: engine.address });
  const stream = client.Process();
  const answers: EngineMessage__Output[] = [];
  let status: grpc.status | undefined;
  let ended: () => void = () => undefined;
  // A stream the engine ends (or the client refuses) needs no more waiting.
  const endedEarly = new Promise<void>((resolve) => (ended = resolve));
  stream.on("data", (m: EngineMessage__Output) => answers.push(m));
  stream.on("status", (s: grpc.StatusObject) => {
    status ??= s.code;
    ended();
  });
  stream.on("error", (e: grpc.ServiceError) => {
    status ??= e.code;
    ended();
  });
  stream.write({ callId: "c1", seq: 1, start: { protocolVersion: 1, requestJson: Buffer.from('{"tag":"x"}') } });
  chunks.forEach((c, i) => stream.write({ callId: "c1", seq: i + 2, chunk: { event: { event: "", data: Buffer.from(c) } } }));
  stream.write({ callId: "c1", seq: chunks.length + 2, end: {} });
  await Promise.race([new Promise((r) => setTimeout(r, waitMs)), endedEarly]);
  stream.cancel();
  client.close();
  return { answers, status };
}

const script = (byChunk: Record<number, FakeEngineAction>): void => engine.behave((ctx) => (ctx.kind === "chunk" ? byChunk[ctx.chunkIndex] : undefined));

describe("fake engine", () => {
  it("answers like a correct engine by default, and records what it received and approved", async () => {
    engine.behave(undefined);
    const { answers } = await converse(["a", "b"]);
    expect(answers.map((a) => [a.replyTo, a.kind])).toEqual([
      ["1", "request"],
      ["2", "emit"],
      ["3", "emit"],
      ["4", "finish"],
    ]);
    expect(answers[0]?.request?.continue?.mode).toBe("FULL");
    expect(answers[1]?.emit?.events[0]?.data.toString()).toBe("A");
    expect(engine.received.filter((r) => r.kind === "chunk")).toHaveLength(2);
    expect(engine.approved.get("c1")?.map((e) => Buffer.from(e.data as Uint8Array).toString())).toEqual(expect.arrayContaining(["A", "B"]));
  });

  it("answers out of order, twice, for an unknown seq and with the wrong kind when told", async () => {
    script({ 0: { do: "hold" }, 1: { do: "duplicate" }, 2: { do: "unknown-seq" }, 3: { do: "wrong-kind" } });
    const { answers } = await converse(["a", "b", "c", "d"]);
    expect(answers.map((a) => [a.replyTo, a.kind])).toEqual([
      ["1", "request"],
      ["3", "emit"],
      ["3", "emit"],
      ["2", "emit"],
      ["1004", "emit"],
      ["5", "finish"],
      ["6", "finish"],
    ]);
  });

  it("sends a reply above the policy-stream message limit, which the client refuses", async () => {
    script({ 0: { do: "oversize" } });
    // The reply is over 64 MiB: give it time to cross a busy machine.
    const { status } = await converse(["a"], 30_000);
    expect(status).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it.each([
    ["error", { do: "error", code: grpc.status.UNAVAILABLE } as FakeEngineAction, grpc.status.UNAVAILABLE],
    ["end", { do: "end" } as FakeEngineAction, grpc.status.OK],
    ["destroy", { do: "destroy" } as FakeEngineAction, grpc.status.UNAVAILABLE],
  ])("ends the stream on %s", async (_name, action, code) => {
    script({ 0: action });
    const { answers, status } = await converse(["a", "b"]);
    expect(answers.map((a) => a.kind)).toEqual(["request"]);
    expect(status).toBe(code);
  });

  it("delays an answer", async () => {
    script({ 0: { do: "delay", ms: 400 } });
    const early = await converse(["a"], 200);
    expect(early.answers.map((a) => a.kind)).toEqual(["request"]);
    const late = await converse(["a"], 700);
    expect(late.answers.map((a) => a.kind)).toEqual(["request", "emit", "finish"]);
  });

  it("reports its health as told, for the engine service and the whole server", async () => {
    const health = createHealthClient(engine.address);
    expect(await checkHealth(health, "luthien.policy.v1.PolicyEngine")).toBe(true);
    engine.setServing(false);
    expect(await checkHealth(health, "luthien.policy.v1.PolicyEngine")).toBe(false);
    expect(await checkHealth(health, "")).toBe(false);
    engine.setServing(true);
    expect(await checkHealth(health, "")).toBe(true);
    health.close();
  });
});
