import OpenAI from "openai";
import { PROTOCOL_VERSION, createPolicyEngineClient, type EngineMessage__Output } from "@luthien/protocol";
import { startStack, type Stack } from "@luthien/testkit";
import { ENGINE_PROTOCOL_VERSIONS } from "../src/engine";

const request = Buffer.from(JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }));

/** Opens one call speaking `protocolVersion` on a fresh stream and returns the engine's first answer. */
async function startCall(address: string, protocolVersion: number): Promise<EngineMessage__Output> {
  const client = createPolicyEngineClient({ address });
  const stream = client.Process();
  try {
    const answer = new Promise<EngineMessage__Output>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
    });
    stream.write({ callId: `v${protocolVersion}`, seq: 1, start: { protocolVersion, format: "OPENAI_CHAT", stream: false, requestJson: request } });
    return await answer;
  } finally {
    stream.end();
    client.close();
  }
}

describe("protocol versions", () => {
  let stack: Stack;
  const { min, max } = ENGINE_PROTOCOL_VERSIONS;
  const supported = Array.from({ length: max - min + 1 }, (_, i) => min + i);

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it("lets this build's gateway talk to this build's engine", async () => {
    // A release must never ship a gateway its own engines refuse.
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(min);
    expect(PROTOCOL_VERSION).toBeLessThanOrEqual(max);
    const client = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    await stack.mockControl.script({ text: "over protocol v" + PROTOCOL_VERSION });
    const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(answer.choices[0]?.message.content).toBe("over protocol v" + PROTOCOL_VERSION);
  });

  it.each(supported)("accepts a Start speaking version %i (inside the engine's range)", async (version) => {
    const answer = await startCall(stack.engine!.address, version);
    expect(answer.kind).toBe("request");
    expect(answer.request?.continue).toBeDefined();
  });

  it.each([
    ["older", min - 1],
    ["newer", max + 1],
  ])("refuses a client %s than its range (version %i) with unsupported_protocol_version and the versions it speaks", async (_which, version) => {
    const answer = await startCall(stack.engine!.address, version);
    expect(answer.kind).toBe("error");
    expect(answer.error?.code).toBe("unsupported_protocol_version");
    expect(answer.error?.supportedVersions).toEqual(supported);
    expect(answer.error?.message).toContain(`protocol version ${version}`);
  });
});
