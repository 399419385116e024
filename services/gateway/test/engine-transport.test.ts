import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";

/** The engine's count of `Process` streams opened so far, from its metrics. */
async function streamsOpened(stack: Stack): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.engine?.metricsPort ?? 0}/metrics`)).text();
  return Number(/^luthien_control_plane_streams_total\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

const CAPS = "policies:\n  - use: all-caps\n";
const ask = (content: string) => ({ model: "gpt-4o-mini", messages: [{ role: "user" as const, content }] });

describe.each(["multiplexed", "stream"] as const)("POLICY_TRANSPORT=%s", (transport) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: CAPS, gatewayEnv: { POLICY_TRANSPORT: transport, POLICY_STREAMS: "2" } });
  });
  afterAll(() => stack.stop());

  it(transport === "multiplexed" ? "carries many calls on a few streams, and gives a large request its own" : "opens a stream per call", async () => {
    const client = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => client.chat.completions.create({ ...ask(`small ${i}`), stream: i % 2 === 0 })));
    expect(answers).toHaveLength(12);
    const afterSmall = await streamsOpened(stack);
    if (transport === "multiplexed") expect(afterSmall).toBeLessThanOrEqual(2);
    else expect(afterSmall).toBe(12);

    // 300 KiB of request: on a shared stream it would hold up every other call's messages behind it.
    const large = await client.chat.completions.create(ask("x".repeat(300 * 1024)));
    expect(large.choices[0]?.message.content).toBe("HELLO FROM THE LUTHIEN MOCK MODEL.");
    expect(await streamsOpened(stack)).toBe(afterSmall + 1);
  });
});
