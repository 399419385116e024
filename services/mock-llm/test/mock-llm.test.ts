import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startService, waitFor, type RunningService } from "@luthien/testkit";
import { mockClient, sseEvents } from "./support";

let mock: RunningService;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  mock = await startService("mock-llm");
  openai = new OpenAI({ apiKey: "test", baseURL: `${mock.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "test", baseURL: mock.url, maxRetries: 0 });
});

afterAll(async () => {
  await mock.stop();
});

const { post, queue, recorded } = mockClient(() => mock.url);

beforeEach(async () => {
  await post("/_mock/reset", {});
});

const userMessage = [{ role: "user" as const, content: "hi" }];

describe("mock-llm", () => {
  it("answers health checks and 404s unknown routes as JSON", async () => {
    const health = await fetch(`${mock.url}/health`);
    expect(await health.json()).toEqual({ status: "ok" });
    const missing = await fetch(`${mock.url}/v2/whatever`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain("/v2/whatever");
  });

  it("answers OpenAI JSON with the default text", async () => {
    const completion = await openai.chat.completions.create({ model: "gpt-mock", messages: userMessage });
    expect(completion.object).toBe("chat.completion");
    expect(completion.id).toMatch(/^chatcmpl-mock-\d+$/);
    expect(completion.model).toBe("gpt-mock");
    expect(completion.choices[0]?.message.content).toBe("Hello from the Luthien mock model.");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("streams OpenAI chunks the SDK accumulates", async () => {
    await queue({ chunks: ["Hel", "lo", " world"], usage: { inputTokens: 7, outputTokens: 3 } });
    const final = await openai.chat.completions.stream({ model: "gpt-mock", messages: userMessage, stream_options: { include_usage: true } }).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("Hello world");
    expect(final.choices[0]?.finish_reason).toBe("stop");
    expect(final.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  });

  it("streams OpenAI with exactly one role chunk, the given deltas and a final [DONE]", async () => {
    const res = await post(
      "/v1/chat/completions",
      { model: "gpt-raw", messages: userMessage, stream: true, stream_options: { include_usage: true } },
      { "x-mock-script": JSON.stringify({ chunks: ["a", "b c", ""] }) },
    );
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = sseEvents(await res.text());
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks.filter((c) => c.choices[0]?.delta.role !== undefined)).toHaveLength(1);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant", content: "" });
    expect(chunks.slice(1, 4).map((c) => c.choices[0]?.delta.content)).toEqual(["a", "b c", ""]);
    expect(chunks[4]?.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(chunks[5]?.choices).toEqual([]);
    expect(chunks[5]?.usage?.total_tokens).toBeGreaterThan(0);
    expect(chunks).toHaveLength(6);
    for (const c of chunks) {
      expect(c).toMatchObject({ id: chunks[0]?.id, object: "chat.completion.chunk", model: "gpt-raw", created: chunks[0]?.created });
    }
  });

  it("streams the default text one word per delta", async () => {
    const res = await post("/v1/chat/completions", { model: "m", messages: userMessage, stream: true });
    const deltas = sseEvents(await res.text())
      .filter((e) => e.data !== "[DONE]")
      .map((e) => (JSON.parse(e.data) as OpenAI.ChatCompletionChunk).choices[0]?.delta.content)
      .filter((c) => c !== undefined && c !== "");
    expect(deltas).toEqual(["Hello", " from", " the", " Luthien", " mock", " model."]);
  });

  it("streams parallel OpenAI tool calls with split arguments", async () => {
    await queue({
      toolCalls: [
        { id: "call_a", name: "read_file", arguments: '{"path":"/etc/hosts"}', argumentChunks: ['{"pa', 'th":"/et', 'c/hosts"}'] },
        { name: "bash", arguments: '{"command":"ls -la"}', argumentChunks: ["", '{"command":', '"ls -la"}'] },
      ],
    });
    const final = await openai.chat.completions.stream({ model: "gpt-mock", messages: userMessage }).finalChatCompletion();
    const choice = final.choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    const calls = (choice?.message.tool_calls ?? []).map((c) => (c.type === "function" ? c : undefined));
    expect(calls.map((c) => [c?.id, c?.function.name, c?.function.arguments])).toEqual([
      ["call_a", "read_file", '{"path":"/etc/hosts"}'],
      [expect.stringMatching(/^call_mock_/), "bash", '{"command":"ls -la"}'],
    ]);
  });

  it("answers OpenAI tool calls as JSON with null content", async () => {
    await queue({ toolCalls: [{ name: "f", arguments: "{}" }], finishReason: "length" });
    const completion = await openai.chat.completions.create({ model: "gpt-mock", messages: userMessage });
    expect(completion.choices[0]?.message.content).toBeNull();
    expect(completion.choices[0]?.message.tool_calls?.[0]).toMatchObject({ type: "function", function: { name: "f", arguments: "{}" } });
    expect(completion.choices[0]?.finish_reason).toBe("length");
  });

  it("answers Anthropic JSON", async () => {
    await queue({ thinking: { text: "Let me think.", signature: "sig-1" }, text: "Sure.", toolCalls: [{ id: "toolu_1", name: "bash", arguments: '{"command":"ls"}' }] });
    const message = await anthropic.messages.create({ model: "claude-mock", max_tokens: 100, messages: userMessage });
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-mock",
      stop_reason: "tool_use",
      stop_sequence: null,
      content: [
        { type: "thinking", thinking: "Let me think.", signature: "sig-1" },
        { type: "text", text: "Sure." },
        { type: "tool_use", id: "toolu_1", name: "bash", input: { command: "ls" } },
      ],
    });
    expect(message.id).toMatch(/^msg_mock_\d+$/);
    expect(message.usage.input_tokens).toBeGreaterThan(0);

    const plain = await anthropic.messages.create({ model: "claude-mock", max_tokens: 100, messages: userMessage });
    expect(plain.content).toEqual([{ type: "text", text: "Hello from the Luthien mock model." }]);
    expect(plain.stop_reason).toBe("end_turn");
  });

  it("streams Anthropic thinking, text and two tool_use blocks the SDK accumulates", async () => {
    await queue({
      thinking: { text: "I should list files.", chunks: ["I should", " list files."] },
      chunks: ["Let me ", "check."],
      toolCalls: [
        { name: "bash", arguments: '{"command":"ls"}', argumentChunks: ['{"comm', 'and":"ls"}'] },
        { id: "toolu_custom", name: "read", arguments: '{"path":"a.txt","n":[1,2]}', argumentChunks: ['{"path":"a', '.txt","n":[1,', "2]}"] },
      ],
      usage: { inputTokens: 11, outputTokens: 22 },
    });
    const final = await anthropic.messages.stream({ model: "claude-mock", max_tokens: 100, messages: userMessage }).finalMessage();
    expect(final.content).toEqual([
      expect.objectContaining({ type: "thinking", thinking: "I should list files.", signature: expect.stringMatching(/.+/) }),
      expect.objectContaining({ type: "text", text: "Let me check." }),
      expect.objectContaining({ type: "tool_use", id: expect.stringMatching(/^toolu_mock_/), name: "bash", input: { command: "ls" } }),
      expect.objectContaining({ type: "tool_use", id: "toolu_custom", name: "read", input: { path: "a.txt", n: [1, 2] } }),
    ]);
    expect(final.stop_reason).toBe("tool_use");
    expect(final.usage).toMatchObject({ input_tokens: 11, output_tokens: 22 });
  });

  it("streams Anthropic events in the documented order with increasing indices", async () => {
    const res = await post(
      "/v1/messages",
      { model: "claude-raw", max_tokens: 10, messages: userMessage, stream: true },
      { "x-mock-script": JSON.stringify({ thinking: { text: "t" }, text: "x", toolCalls: [{ name: "f", arguments: "{}" }], finishReason: "pause_turn" }) },
    );
    const events = sseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const payloads = events.map((e) => JSON.parse(e.data) as { type: string; index?: number; delta?: Record<string, unknown> });
    expect(payloads.map((p) => p.type)).toEqual(events.map((e) => e.event));
    expect(payloads.filter((p) => p.type === "content_block_start").map((p) => p.index)).toEqual([0, 1, 2]);
    expect(payloads[4]?.delta?.["type"]).toBe("signature_delta");
    expect(payloads[12]?.delta).toEqual({ stop_reason: "pause_turn", stop_sequence: null });
  });

  it("answers a scripted error with the SDKs' matching error class", async () => {
    await queue({ error: { status: 429, message: "slow down" } }, { error: { status: 429, message: "slow down" } }, { error: { status: 529 } });
    const openaiError = await openai.chat.completions.create({ model: "m", messages: userMessage, stream: true }).catch((e: unknown) => e);
    expect(openaiError).toBeInstanceOf(OpenAI.RateLimitError);
    expect(openaiError).toMatchObject({ status: 429, error: { message: "slow down", type: "rate_limit_error", param: null, code: null } });

    const anthropicError = await anthropic.messages.create({ model: "m", max_tokens: 10, messages: userMessage }).catch((e: unknown) => e);
    expect(anthropicError).toBeInstanceOf(Anthropic.RateLimitError);
    expect(anthropicError).toMatchObject({ status: 429, error: { type: "error", error: { type: "rate_limit_error", message: "slow down" } } });

    const overloaded = await anthropic.messages
      .stream({ model: "m", max_tokens: 10, messages: userMessage })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect(overloaded).toMatchObject({ status: 529, error: { error: { type: "overloaded_error" } } });
  });

  it("fails OpenAI and Anthropic streams mid-way with failAfter", async () => {
    await queue({ chunks: ["one", " two", " three"], failAfter: 2 }, { chunks: ["one", " two", " three"], failAfter: 1 });
    const openaiDeltas: string[] = [];
    const openaiError = await (async () => {
      const stream = await openai.chat.completions.create({ model: "m", messages: userMessage, stream: true });
      for await (const chunk of stream) openaiDeltas.push(chunk.choices[0]?.delta.content ?? "");
    })().catch((e: unknown) => e);
    expect(openaiError).toBeInstanceOf(OpenAI.APIError);
    expect(openaiDeltas.join("")).toBe("one two");

    const anthropicError = await anthropic.messages
      .stream({ model: "m", max_tokens: 10, messages: userMessage })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(anthropicError).toBeInstanceOf(Anthropic.APIError);
    expect(anthropicError).toMatchObject({ error: { type: "error", error: { type: "api_error" } } });

    const raw = await post("/v1/chat/completions", { model: "m", stream: true }, { "x-mock-script": '{"failAfter":0}' });
    const events = sseEvents(await raw.text());
    expect(events.map((e) => e.data).includes("[DONE]")).toBe(false);
    expect(JSON.parse(events.at(-1)?.data ?? "{}")).toMatchObject({ error: { type: "server_error" } });
    expect(events).toHaveLength(2);
  });

  it("records a client that aborts a hung stream as clientClosed within 1 s", async () => {
    await queue({ chunks: ["a", "b", "c"], hangAfter: 2 });
    const controller = new AbortController();
    const stream = await openai.chat.completions.create({ model: "m", messages: userMessage, stream: true }, { signal: controller.signal });
    const seen: string[] = [];
    let abortedAt = 0;
    await (async () => {
      for await (const chunk of stream) {
        seen.push(chunk.choices[0]?.delta.content ?? "");
        if (seen.join("") === "ab") {
          abortedAt = Date.now();
          controller.abort();
        }
      }
    })().catch(() => undefined);
    expect(seen.join("")).toBe("ab");
    const closed = await waitFor(async () => (await recorded()).find((r) => r.clientClosed), { timeoutMs: 1000, what: "clientClosed" });
    expect(closed.finished).toBe(false);
    expect(closed.closedAt).toBeGreaterThanOrEqual(abortedAt);
    expect((closed.closedAt ?? Infinity) - abortedAt).toBeLessThan(1000);
  });

  it("stops waiting when the client leaves during delayMs", async () => {
    const controller = new AbortController();
    const aborted = fetch(`${mock.url}/v1/messages`, {
      method: "POST",
      headers: { "x-mock-script": '{"delayMs":10000}' },
      body: JSON.stringify({ model: "m" }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await waitFor(async () => (await recorded()).length === 1, { what: "the call recorded" });
    controller.abort();
    expect(await aborted).toMatchObject({ name: "AbortError" });
    const closed = await waitFor(async () => (await recorded()).find((r) => r.clientClosed), { timeoutMs: 1000, what: "clientClosed" });
    expect(closed.status).toBeUndefined();
  });

  it("prefers the x-mock-script header over the queue", async () => {
    await queue({ text: "from the queue" });
    const viaHeader = await post("/v1/chat/completions", { model: "m", messages: userMessage }, { "x-mock-script": '{"text":"from the header"}' });
    expect(((await viaHeader.json()) as OpenAI.ChatCompletion).choices[0]?.message.content).toBe("from the header");
    const viaQueue = await openai.chat.completions.create({ model: "m", messages: userMessage });
    expect(viaQueue.choices[0]?.message.content).toBe("from the queue");
  });

  it("records every call's body and headers", async () => {
    await anthropic.messages.create({ model: "claude-rec", max_tokens: 5, messages: userMessage });
    await openai.chat.completions.create({ model: "gpt-rec", messages: userMessage }, { headers: { "X-Custom": "Value" } });
    const [first, second] = await recorded();
    expect(first).toMatchObject({
      path: "/v1/messages",
      method: "POST",
      body: { model: "claude-rec", max_tokens: 5, messages: userMessage },
      finished: true,
      clientClosed: false,
      status: 200,
    });
    expect(first?.headers["authorization"]).toBe("Bearer test");
    expect(first?.headers["anthropic-version"]).toEqual(expect.any(String));
    expect(first?.receivedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(second).toMatchObject({ path: "/v1/chat/completions", body: { model: "gpt-rec" }, headers: { "x-custom": "Value" } });
    // Logs carry no header values (they hold keys).
    expect(mock.output()).not.toContain("Bearer test");
  });

  it("rejects bad JSON in each endpoint's own error format", async () => {
    const openaiBad = await post("/v1/chat/completions", "{not json");
    expect(openaiBad.status).toBe(400);
    expect(await openaiBad.json()).toMatchObject({ error: { type: "invalid_request_error", param: null, code: null } });
    const anthropicBad = await post("/v1/messages", "[1,2]");
    expect(anthropicBad.status).toBe(400);
    expect(await anthropicBad.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const badHeader = await post("/v1/messages", { model: "m" }, { "x-mock-script": "{oops" });
    expect(badHeader.status).toBe(400);
    expect((await recorded()).map((r) => r.body)).toEqual([null, [1, 2], { model: "m" }]);
  });

  it("rejects malformed scripts without queueing any of them", async () => {
    const res = await post("/_mock/scripts", { scripts: [{ text: "ok" }, { chunks: ["a"], text: "b" }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("scripts[1].chunks");
    const answer = await openai.chat.completions.create({ model: "m", messages: userMessage });
    expect(answer.choices[0]?.message.content).toBe("Hello from the Luthien mock model.");
  });
});
