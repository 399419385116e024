import OpenAI from "openai";
import { createMockControl, startService, startStack, type RunningService, type Stack } from "@luthien/testkit";

/**
 * A slow policy keeps its call alive: the judge takes longer than POLICY_TIMEOUT_MS, the policy sends keepalives,
 * and the gateway waits (up to POLICY_MAX_WAIT_MS) instead of failing the call.
 */
describe("keepalives extend the verdict deadline", () => {
  let judge: RunningService;
  let stack: Stack;
  beforeAll(async () => {
    judge = await startService("mock-llm", { env: { LOG_LEVEL: "warn" } });
    stack = await startStack({
      policies: `policies:\n  - use: llm-judge\n    with: { model: judge-model, upstream: openai, baseUrl: '${judge.url}/v1', threshold: 0.5, timeoutMs: 10000 }\n`,
      // Keepalives come every second; the deadline leaves room for one to be late.
      gatewayEnv: { POLICY_TIMEOUT_MS: "2000", POLICY_MAX_WAIT_MS: "8000" },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await judge.stop();
  });

  it("a judge slower than the verdict deadline still lets the call through", async () => {
    const judgeControl = createMockControl(judge.url);
    await judgeControl.script({ text: '{"probability": 0.05, "explanation": "fine"}', delayMs: 4000 });
    await stack.mockControl.script({ toolCalls: [{ name: "Bash", arguments: '{"command":"ls -la"}' }] });
    const started = Date.now();
    const final = await new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions
      .stream({ model: "gpt-4o-mini", messages: [{ role: "user", content: "list files" }] })
      .finalChatCompletion();
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: "Bash", arguments: '{"command":"ls -la"}' } });
    expect(final.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("but not past POLICY_MAX_WAIT_MS", async () => {
    const judgeControl = createMockControl(judge.url);
    await judgeControl.reset();
    await judgeControl.script({ text: '{"probability": 0.05, "explanation": "fine"}', delayMs: 9500 });
    await stack.mockControl.script({ toolCalls: [{ name: "Bash", arguments: '{"command":"ls"}' }] });
    const started = Date.now();
    const err = await new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions
      .stream({ model: "gpt-4o-mini", messages: [{ role: "user", content: "list files" }] })
      .finalChatCompletion()
      .catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/did not answer|policy/i);
    expect(took).toBeGreaterThanOrEqual(7500);
    expect(took).toBeLessThan(9500);
  }, 20_000);
});
