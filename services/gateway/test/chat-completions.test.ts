import OpenAI from "openai";
import { startStack, waitFor, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

const KEY = "sk-test-gateway-key";
const client = (stack: Stack, apiKey = KEY): OpenAI => new OpenAI({ apiKey, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
const ask = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "hi" }] };

describe("gateway /v1/chat/completions with all-caps", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: "policies:\n  - use: all-caps\n", gatewayEnv: { GATEWAY_API_KEYS: `other-key,${KEY}`, AUTH_MODE: "client_key" } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it("transforms a non-streaming answer and tags the call id", async () => {
    await stack.mockControl.script({ text: "hello there" });
    const { data, response } = await client(stack).chat.completions.create(ask).withResponse();
    expect(data.choices[0]?.message.content).toBe("HELLO THERE");
    expect(response.headers.get("x-luthien-call-id")).toMatch(/^[0-9a-f-]{36}$/);
    const [seen] = await stack.mockControl.requests();
    expect(seen?.body).toMatchObject({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    // The client's key stays at the gateway.
    expect(JSON.stringify(seen?.headers)).not.toContain(KEY);
  });

  it("transforms a stream the SDK accumulates", async () => {
    await stack.mockControl.script({ chunks: ["Hel", "lo, ", "wor", "ld"] });
    const final = await client(stack).chat.completions.stream(ask).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("HELLO, WORLD");
    expect(final.choices[0]?.finish_reason).toBe("stop");
  });

  it("sends exactly one role chunk and a final [DONE]", async () => {
    await stack.mockControl.script({ chunks: ["a", "b", "c"] });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true }, { headers: { "x-api-key": KEY } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-luthien-call-id")).not.toBeNull();
    const { events } = await readEvents(res);
    const last = events.at(-1);
    expect(last?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(chunks.filter((c) => c.choices[0]?.delta?.role !== undefined)).toHaveLength(1);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("ABC");
    expect(events.filter((e) => e.data === "[DONE]")).toHaveLength(1);
  });

  it("rejects a wrong key with 401 without reaching the provider", async () => {
    const err = await client(stack, "sk-wrong")
      .chat.completions.create(ask)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: "authentication_error" });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, ask);
    expect(res.status).toBe(401);
    expect(res.headers.get("x-luthien-call-id")).not.toBeNull();
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("rejects bad JSON with 400 in OpenAI format without reaching the provider", async () => {
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, '{"model": "x", "messages": [', { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe("invalid_request_error");
    const missing = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { model: "x" }, { headers: { authorization: `Bearer ${KEY}` } });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain("messages");
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("passes a provider error through with its status", async () => {
    await stack.mockControl.script({ error: { status: 429, type: "rate_limit_error", message: "slow down" } });
    const err = await client(stack)
      .chat.completions.create({ ...ask, stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it("cancels the provider call when the client aborts mid-stream", async () => {
    await stack.mockControl.script({ chunks: ["one ", "two ", "three"], hangAfter: 2 });
    const controller = new AbortController();
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true }, { headers: { "x-api-key": KEY }, signal: controller.signal });
    let abortedAt = 0;
    await readEvents(res, (_e, n) => {
      if (n === 2) {
        abortedAt = Date.now();
        controller.abort();
      }
    }).catch(() => undefined);
    const record = await waitFor(async () => (await stack.mockControl.requests()).find((r) => r.clientClosed), { timeoutMs: 3000, what: "mock to see the close" });
    expect((record.closedAt ?? 0) - abortedAt).toBeLessThan(1500);
  });
});

describe("gateway /v1/chat/completions with string-replace", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      policies: [
        "policies:",
        "  - use: string-replace",
        "    with:",
        '      replacements: [["quick brown fox", "slow red dog"], ["secret", "[hidden]"]]',
        "      matchCapitalization: true",
      ].join("\n"),
    });
  });
  afterAll(() => stack.stop());

  it("replaces a match split across chunks", async () => {
    await stack.mockControl.script({ chunks: ["The qu", "ick bro", "wn f", "ox jumps over the SEC", "RET."] });
    const final = await client(stack).chat.completions.stream(ask).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("The slow red dog jumps over the [HIDDEN].");
  });

  it("releases a held prefix that never completes", async () => {
    await stack.mockControl.script({ chunks: ["a quick", " brown cat"] });
    const final = await client(stack).chat.completions.stream(ask).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("a quick brown cat");
  });

  it("replaces in non-streaming answers, matching capitalization", async () => {
    await stack.mockControl.script({ text: "Quick brown fox, Secret and secret" });
    const res = await client(stack).chat.completions.create(ask);
    expect(res.choices[0]?.message.content).toBe("Slow red dog, [hidden] and [hidden]");
  });
});
