import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

const ask = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "hi" }] };
const client = (stack: Stack): OpenAI => new OpenAI({ apiKey: "unused", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
const CAPS = "policies:\n  - use: all-caps\n";

describe("gateway fails closed when the policy engine fails", () => {
  it("answers 503 in OpenAI format and never calls the provider when the engine is down", async () => {
    const stack = await startStack({ policies: CAPS });
    try {
      stack.engine?.signal("SIGKILL");
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      const err = await client(stack)
        .chat.completions.create(ask)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: "policy_unavailable" });
      expect(Date.now() - started).toBeLessThan(2000);
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true });
      expect(res.status).toBe(503);
      expect(res.headers.get("x-luthien-call-id")).not.toBeNull();
      expect(await stack.mockControl.requests()).toHaveLength(0);
      const ready = await fetch(`${stack.gateway.url}/ready`);
      expect(ready.status).toBe(503);
    } finally {
      await stack.stop();
    }
  });

  it("ends the stream with an error event and no [DONE] when the engine dies mid-stream", async () => {
    const stack = await startStack({ policies: CAPS });
    try {
      expect((await fetch(`${stack.gateway.url}/ready`)).status).toBe(200);
      await stack.mockControl.script({ chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), chunkDelayMs: 50 });
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true });
      expect(res.status).toBe(200);
      let killedAt = 0;
      const { events, closedAt } = await readEvents(res, (_e, n) => {
        if (n === 5) {
          killedAt = Date.now();
          stack.engine?.signal("SIGKILL");
        }
      });
      expect(closedAt - killedAt).toBeLessThan(2000);
      expect(events.some((e) => e.data === "[DONE]")).toBe(false);
      const last = JSON.parse(events.at(-1)?.data ?? "{}") as { error?: { type: string } };
      expect(last.error?.type).toBe("policy_unavailable");
      // Nothing unapproved slipped through: every delivered text was upper-cased by the engine.
      const texts = events.slice(0, -1).map((e) => (JSON.parse(e.data) as OpenAI.ChatCompletionChunk).choices[0]?.delta.content ?? "");
      for (const t of texts) expect(t).toBe(t.toUpperCase());
      // The provider call was stopped too.
      const [record] = await stack.mockControl.requests();
      expect(record?.finished).toBe(false);
    } finally {
      await stack.stop();
    }
  });

  it("fails within the deadline plus a second when the engine freezes", async () => {
    const stack = await startStack({ policies: CAPS, gatewayEnv: { POLICY_TIMEOUT_MS: "1000" } });
    try {
      stack.engine?.signal("SIGSTOP");
      const started = Date.now();
      const err = await client(stack)
        .chat.completions.create(ask)
        .catch((e: unknown) => e);
      const took = Date.now() - started;
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
      expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: "policy_timeout" });
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2000);
      expect(await stack.mockControl.requests()).toHaveLength(0);

      // Frozen mid-stream: the verdict deadline ends the stream the same way.
      stack.engine?.signal("SIGCONT");
      await stack.mockControl.script({ chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), chunkDelayMs: 50 });
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true });
      let frozenAt = 0;
      const { events, closedAt } = await readEvents(res, (_e, n) => {
        if (n === 3) {
          frozenAt = Date.now();
          stack.engine?.signal("SIGSTOP");
        }
      });
      expect(closedAt - frozenAt).toBeLessThan(2000 + 200);
      expect(events.some((e) => e.data === "[DONE]")).toBe(false);
      expect(JSON.parse(events.at(-1)?.data ?? "{}")).toMatchObject({ error: { type: "policy_timeout" } });
    } finally {
      stack.engine?.signal("SIGCONT");
      await stack.stop();
    }
  });
});

describe("gateway with POLICY_FAILURE_MODE=open", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ withoutEngine: true, gatewayEnv: { POLICY_FAILURE_MODE: "open" } });
  });
  afterAll(() => stack.stop());

  it("serves without the engine and marks the bypass", async () => {
    await stack.mockControl.script({ text: "served anyway" });
    const { data, response } = await client(stack).chat.completions.create(ask).withResponse();
    expect(data.choices[0]?.message.content).toBe("served anyway");
    expect(response.headers.get("x-luthien-policy-bypassed")).toBe("unavailable");
  });

  it("streams without the engine and marks the bypass", async () => {
    await stack.mockControl.script({ chunks: ["a", "b"] });
    const { data, response } = await client(stack)
      .chat.completions.create({ ...ask, stream: true })
      .withResponse();
    expect(response.headers.get("x-luthien-policy-bypassed")).toBe("unavailable");
    let text = "";
    for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("ab");
  });
});
