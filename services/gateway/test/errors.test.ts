import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};
const STATUSES = Object.keys(ANTHROPIC_TYPES).map(Number);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ policies: "policies:\n  - use: all-caps\n", gatewayEnv: { MAX_BODY_BYTES: "4096" } });
});
afterAll(() => stack.stop());

const openaiBody = (model: string, stream = false) => ({ model, stream, messages: [{ role: "user", content: "hi" }] });
const anthropicBody = (model: string, stream = false) => ({ model, stream, max_tokens: 10, messages: [{ role: "user", content: "hi" }] });

describe("provider errors before the stream keep their status, in the client's format", () => {
  const cases = STATUSES.flatMap(
    (status) =>
      [
        [status, "gpt-4o-mini"],
        [status, "claude-mock-sonnet"],
      ] as const,
  );

  it.each(cases)("OpenAI client, provider %d via %s", async (status, model) => {
    await stack.mockControl.script({ error: { status, message: `scripted ${status}` } });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(model, true));
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { message: string; type: string } };
    expect(body.error.message).toBe(`scripted ${status}`);
    expect(typeof body.error.type).toBe("string");
  });

  it.each(cases)("Anthropic client, provider %d via %s", async (status, model) => {
    await stack.mockControl.script({ error: { status, message: `scripted ${status}` } });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(model, true));
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ type: "error", error: { type: ANTHROPIC_TYPES[status], message: `scripted ${status}` } });
  });

  it("reach the SDKs as their own error classes", async () => {
    await stack.mockControl.script({ error: { status: 529 } }, { error: { status: 429 } });
    const a = await new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 }).messages
      .create(anthropicBody("claude-mock-sonnet") as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(a).toBeInstanceOf(Anthropic.APIError);
    expect((a as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    const o = await new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: "claude-mock-sonnet", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(o).toBeInstanceOf(OpenAI.RateLimitError);
  });
});

describe("provider errors during the stream", () => {
  it.each(["claude-mock-sonnet", "gpt-4o-mini"])("end an Anthropic stream with an error event (%s)", async (model) => {
    await stack.mockControl.script({ chunks: ["a", "b", "c", "d"], failAfter: 2 });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(model, true));
    expect(res.status).toBe(200);
    const { events } = await readEvents(res);
    const last = events.at(-1);
    expect(last?.event).toBe("error");
    expect(JSON.parse(last?.data ?? "{}")).toMatchObject({ type: "error", error: { type: expect.any(String) } });
    expect(events.some((e) => e.event === "message_stop")).toBe(false);
  });

  it.each(["claude-mock-sonnet", "gpt-4o-mini"])("end an OpenAI stream with an error line and no [DONE] (%s)", async (model) => {
    await stack.mockControl.script({ chunks: ["a", "b", "c", "d"], failAfter: 2 });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(model, true));
    const { events } = await readEvents(res);
    expect(JSON.parse(events.at(-1)?.data ?? "{}")).toHaveProperty("error");
    expect(events.some((e) => e.data === "[DONE]")).toBe(false);
  });
});

describe("bad input gets 4xx in the client's format and never reaches the provider", () => {
  beforeEach(() => stack.mockControl.reset());
  afterEach(async () => expect(await stack.mockControl.requests()).toHaveLength(0));

  it.each([
    ["missing max_tokens", { model: "claude-mock-sonnet", messages: [] }],
    ["missing model", { max_tokens: 5, messages: [] }],
    ["messages not a list", { model: "claude-mock-sonnet", max_tokens: 5, messages: "hi" }],
    ["stream not a boolean", { model: "claude-mock-sonnet", max_tokens: 5, messages: [], stream: "yes" }],
  ])("Anthropic: %s", async (_what, body) => {
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("Anthropic: bad JSON", async () => {
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, '{"model":');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("a body over MAX_BODY_BYTES is 413 request_too_large in both formats", async () => {
    const big = "x".repeat(5000);
    const a = await postRaw(`${stack.gateway.url}/v1/messages`, { ...anthropicBody("claude-mock-sonnet"), messages: [{ role: "user", content: big }] });
    expect(a.status).toBe(413);
    expect(await a.json()).toMatchObject({ type: "error", error: { type: "request_too_large" } });
    const o = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...openaiBody("gpt-4o-mini"), messages: [{ role: "user", content: big }] });
    expect(o.status).toBe(413);
    expect(await o.json()).toMatchObject({ error: { type: "request_too_large" } });
  });

  it("an unknown route is 404 in JSON", async () => {
    const res = await fetch(`${stack.gateway.url}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get("x-luthien-call-id")).not.toBeNull();
  });
});
