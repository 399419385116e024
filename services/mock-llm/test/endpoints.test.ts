import OpenAI from "openai";
import { DEFAULT_TEXT } from "../src/index";
import { sseEvents, useMock } from "./support";

const mock = useMock();
const userMessage = [{ role: "user" as const, content: "hi" }];

describe("mock-llm chat logprobs", () => {
  it("answers logprobs: true with one entry per word of the text, and null without it", async () => {
    const completion = await mock.openai().chat.completions.create({ model: "m", messages: userMessage, logprobs: true, top_logprobs: 3 });
    const content = completion.choices[0]?.logprobs?.content ?? [];
    expect(completion.choices[0]?.logprobs?.refusal).toBeNull();
    expect(content.map((l) => l.token)).toEqual(["Hello", " from", " the", " Luthien", " mock", " model."]);
    expect(content.map((l) => l.token).join("")).toBe(completion.choices[0]?.message.content);
    for (const entry of content) {
      expect(entry.bytes).toEqual([...Buffer.from(entry.token)]);
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(3);
      expect(entry.top_logprobs[0]).toEqual({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes });
      expect(entry.top_logprobs.map((t) => t.logprob)).toEqual([...entry.top_logprobs.map((t) => t.logprob)].sort((a, b) => b - a));
    }
    expect(new Set(content.map((l) => l.logprob)).size).toBeGreaterThan(1);

    const noTop = await mock.openai().chat.completions.create({ model: "m", messages: userMessage, logprobs: true });
    expect(noTop.choices[0]?.logprobs?.content?.[0]?.top_logprobs).toEqual([]);
    const plain = await mock.openai().chat.completions.create({ model: "m", messages: userMessage });
    expect(plain.choices[0]?.logprobs).toBeNull();
  });

  it("streams each chunk's own logprobs, which the SDK accumulates", async () => {
    const script = { chunks: ["Hel", "lo", "", " you"] };
    const res = await mock.post("/v1/chat/completions", { model: "m", messages: userMessage, stream: true, logprobs: true }, { "x-mock-script": JSON.stringify(script) });
    const chunks = sseEvents(await res.text())
      .filter((e) => e.data !== "[DONE]")
      .map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.logprobs?.content?.map((l) => l.token) ?? null)).toEqual([null, ["Hel"], ["lo"], [], [" you"], null]);
    expect(chunks[1]?.choices[0]?.logprobs?.refusal).toBeNull();

    await mock.queue(script);
    const final = await mock.openai().chat.completions.stream({ model: "m", messages: userMessage, logprobs: true }).finalChatCompletion();
    expect(final.choices[0]?.logprobs?.content?.map((l) => l.token)).toEqual(["Hel", "lo", " you"]);
  });
});

describe("mock-llm /v1/completions", () => {
  it("answers legacy completions as JSON and SSE the SDK reads", async () => {
    await mock.queue({ text: "Once upon", usage: { inputTokens: 3, outputTokens: 2 } }, { chunks: ["a", " b"], finishReason: "length" });
    const completion = await mock.openai().completions.create({ model: "gpt-instruct-mock", prompt: "Tell a story" });
    expect(completion).toEqual({
      id: expect.stringMatching(/^cmpl-mock-\d+$/),
      object: "text_completion",
      created: expect.any(Number),
      model: "gpt-instruct-mock",
      choices: [{ text: "Once upon", index: 0, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });

    const stream = await mock.openai().completions.create({ model: "m", prompt: "x", stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? null)).toEqual(["a", " b", "", null]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([null, null, "length", null]);
    expect(chunks.at(-1)?.usage?.total_tokens).toBeGreaterThan(0);
    for (const c of chunks) expect(c).toMatchObject({ id: chunks[0]?.id, object: "text_completion", model: "m" });

    const plain = await mock.openai().completions.create({ model: "m", prompt: "x" });
    expect(plain.choices[0]?.text).toBe(DEFAULT_TEXT);

    const raw = await mock.post("/v1/completions", { model: "m", prompt: "x", stream: true }, { "x-mock-script": '{"failAfter":1}' });
    const events = sseEvents(await raw.text());
    expect(events.map((e) => e.data)).not.toContain("[DONE]");
    expect(JSON.parse(events.at(-1)?.data ?? "{}")).toMatchObject({ error: { type: "server_error" } });
  });
});

describe("mock-llm /v1/embeddings", () => {
  it("answers unit vectors of 8 floats, equal for equal inputs, in both encodings", async () => {
    // The SDK asks for base64 unless told otherwise and decodes it.
    const decoded = await mock.openai().embeddings.create({ model: "text-embedding-mock", input: ["alpha", "beta", "alpha"] });
    expect(decoded).toMatchObject({ object: "list", model: "text-embedding-mock", usage: { prompt_tokens: expect.any(Number) } });
    expect(decoded.usage.total_tokens).toBe(decoded.usage.prompt_tokens);
    const [alpha, beta, alphaAgain] = decoded.data;
    expect(decoded.data.map((d) => [d.object, d.index])).toEqual([
      ["embedding", 0],
      ["embedding", 1],
      ["embedding", 2],
    ]);
    expect(alpha?.embedding).toHaveLength(8);
    expect(Math.hypot(...(alpha?.embedding ?? []))).toBeCloseTo(1, 5);
    expect(alphaAgain?.embedding).toEqual(alpha?.embedding);
    expect(beta?.embedding).not.toEqual(alpha?.embedding);

    const floats = await mock.openai().embeddings.create({ model: "m", input: "alpha", encoding_format: "float" });
    expect(floats.data[0]?.embedding).toEqual(alpha?.embedding);
    const wide = await mock.openai().embeddings.create({ model: "m", input: [[1, 2, 3]], dimensions: 40, encoding_format: "float" });
    expect(wide.data[0]?.embedding).toHaveLength(40);
  });

  it("rejects a missing input and answers scripted errors", async () => {
    const missing = await mock.post("/v1/embeddings", { model: "m" });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error", message: expect.stringContaining("input") } });

    await mock.queue({ error: { status: 429 } });
    const limited = await mock
      .openai()
      .embeddings.create({ model: "m", input: "x" })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((await mock.recorded()).map((r) => [r.path, r.status])).toEqual([
      ["/v1/embeddings", 400],
      ["/v1/embeddings", 429],
    ]);
  });
});

describe("mock-llm side routes", () => {
  it("counts Anthropic tokens as about a quarter of the request's bytes, and records the call", async () => {
    const params = { model: "claude-mock", messages: [{ role: "user" as const, content: "x".repeat(400) }] };
    const counted = await mock.anthropic().messages.countTokens(params);
    const bytes = Buffer.byteLength(JSON.stringify(params));
    expect(counted.input_tokens).toBeGreaterThanOrEqual(Math.floor(bytes / 4) - 5);
    expect(counted.input_tokens).toBeLessThanOrEqual(Math.ceil(bytes / 4) + 5);
    const [record] = await mock.recorded();
    expect(record).toMatchObject({ path: "/v1/messages/count_tokens", method: "POST", body: params, status: 200, finished: true });
  });

  it("lists models in each SDK's shape, and records the calls", async () => {
    const openaiModels: OpenAI.Model[] = [];
    for await (const model of mock.openai().models.list()) openaiModels.push(model);
    expect(openaiModels[0]).toEqual({ id: "gpt-mock-1", object: "model", created: expect.any(Number), owned_by: "luthien-mock" });

    const anthropicModels = await mock.anthropic().models.list();
    expect(anthropicModels.data[0]).toMatchObject({ type: "model", id: "claude-mock-1" });
    expect((await mock.recorded()).map((r) => [r.method, r.path])).toEqual([
      ["GET", "/v1/models"],
      ["GET", "/v1/models"],
    ]);
  });
});
