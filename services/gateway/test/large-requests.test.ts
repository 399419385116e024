import { startStack, type Stack } from "@luthien/testkit";
import { postRaw } from "./sse";

/**
 * Large requests under the default limits: a body the gateway accepts (up to MAX_BODY_BYTES, 32 MiB) is never too
 * big for the engine, so it is decided like any other — never an "engine outage" (503 in a closed pool) and never
 * served unpoliced (in an open pool). grpc-js's own 4 MiB default used to make both happen.
 */
const SIZES_MIB = [5, 12];
const POLICIES = `policies:\n  - use: regex-filter\n    with:\n      patterns: ["FORBIDDEN-[0-9]+"]\n      applyTo: request\n  - use: all-caps\n`;

const body = (mib: number, tail: string) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: `${"lorem ipsum ".repeat(Math.ceil((mib * 1024 * 1024) / 12))}${tail}` }],
});

describe.each(["closed", "open"])("large requests in a %s pool", (mode) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: POLICIES, gatewayEnv: { POLICY_FAILURE_MODE: mode } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it.each(SIZES_MIB)("%d MiB: decided, not bypassed", async (mib) => {
    await stack.mockControl.script({ chunks: ["big", " answer"] });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, body(mib, "end"));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
    const answer = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(answer.choices[0]?.message.content).toBe("BIG ANSWER");
  });

  it.each(SIZES_MIB)("%d MiB with a blocked pattern at the very end: denied, the provider never called", async (mib) => {
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, body(mib, " FORBIDDEN-1"));
    expect(res.status).toBe(400);
    expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
    expect(await stack.mockControl.requests()).toEqual([]);
  });
});
