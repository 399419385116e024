import OpenAI from "openai";
import type { Response as OpenAIResponse, ResponseStreamEvent } from "openai/resources/responses/responses";
import { waitFor } from "@luthien/testkit";
import { DEFAULT_TEXT } from "../src/index";
import { sseEvents, useMock } from "./support";

const mock = useMock();

/** Posts a streaming Responses request with an `x-mock-script` and parses every event. */
async function rawStream(script: unknown, body: Record<string, unknown> = {}): Promise<{ names: (string | undefined)[]; events: ResponseStreamEvent[] }> {
  const res = await mock.post("/v1/responses", { model: "gpt-raw", input: "hi", stream: true, ...body }, { "x-mock-script": JSON.stringify(script) });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const raw = sseEvents(await res.text());
  return { names: raw.map((e) => e.event), events: raw.map((e) => JSON.parse(e.data) as ResponseStreamEvent) };
}

/** A response with its call-specific parts (ids, timestamps) made equal, to compare a stream's answer with JSON's. */
function normalized(response: OpenAIResponse): unknown {
  const text = JSON.stringify({ ...response, created_at: 0, completed_at: 0 }).replaceAll(/_mock_\d+/g, "_mock_N");
  return JSON.parse(text);
}

const toolScript = {
  chunks: ["Let me ", "look."],
  toolCalls: [
    { id: "call_custom", name: "read_file", arguments: '{"path":"a.txt"}', argumentChunks: ['{"pa', 'th":"a', '.txt"}'] },
    { name: "bash", arguments: '{"command":"ls"}' },
  ],
  usage: { inputTokens: 12, outputTokens: 34 },
};

const tools: OpenAI.Responses.FunctionTool[] = [
  { type: "function", name: "read_file", parameters: { type: "object", properties: { path: { type: "string" } } }, strict: false },
  { type: "function", name: "bash", parameters: { type: "object", properties: { command: { type: "string" } } }, strict: false },
];

describe("mock-llm /v1/responses", () => {
  it("answers JSON the SDK accepts, with the message item and the request settings echoed", async () => {
    const response = await mock.openai().responses.create({
      model: "gpt-mock",
      input: "hi",
      instructions: "Be brief.",
      temperature: 0.2,
      max_output_tokens: 50,
      metadata: { run: "1" },
    });
    const n = response.id.replace(/^resp_mock_/, "");
    expect(response.id).toMatch(/^resp_mock_\d+$/);
    expect(response).toMatchObject({
      object: "response",
      status: "completed",
      model: "gpt-mock",
      error: null,
      incomplete_details: null,
      instructions: "Be brief.",
      temperature: 0.2,
      top_p: 1,
      max_output_tokens: 50,
      metadata: { run: "1" },
      tools: [],
      tool_choice: "auto",
      parallel_tool_calls: true,
      truncation: "disabled",
      text: { format: { type: "text" } },
    });
    expect(response.created_at).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(response.output).toEqual([
      {
        id: `msg_mock_${n}`,
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: DEFAULT_TEXT, annotations: [], logprobs: [] }],
      },
    ]);
    expect(response.output_text).toBe(DEFAULT_TEXT);
    const { input_tokens, output_tokens } = response.usage ?? { input_tokens: 0, output_tokens: 0 };
    expect(input_tokens).toBeGreaterThan(0);
    expect(response.usage).toEqual({
      input_tokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input_tokens + output_tokens,
    });
  });

  it("answers function calls as function_call items after the message", async () => {
    await mock.queue(toolScript);
    const response = await mock.openai().responses.create({ model: "gpt-mock", input: "list files", tools, tool_choice: "auto" });
    const n = response.id.replace(/^resp_mock_/, "");
    expect(response.tools).toEqual(tools);
    expect(response.output.map((item) => item.type)).toEqual(["message", "function_call", "function_call"]);
    expect(response.output.slice(1)).toEqual([
      { id: `fc_mock_${n}_0`, type: "function_call", call_id: "call_custom", name: "read_file", arguments: '{"path":"a.txt"}', status: "completed" },
      { id: `fc_mock_${n}_1`, type: "function_call", call_id: `call_mock_${n}_1`, name: "bash", arguments: '{"command":"ls"}', status: "completed" },
    ]);
    expect(response.output_text).toBe("Let me look.");
    expect(response.usage).toMatchObject({ input_tokens: 12, output_tokens: 34, total_tokens: 46 });

    await mock.queue({ toolCalls: [{ name: "bash", arguments: "{}" }] });
    const toolsOnly = await mock.openai().responses.create({ model: "gpt-mock", input: "go", tools });
    expect(toolsOnly.output.map((item) => item.type)).toEqual(["function_call"]);
    expect(toolsOnly.status).toBe("completed");
  });

  it("streams what client.responses.stream() accumulates into the same response as the JSON answer", async () => {
    await mock.queue(toolScript, toolScript);
    const textDeltas: string[] = [];
    const argumentDeltas: string[] = [];
    const stream = mock.openai().responses.stream({ model: "gpt-mock", input: "list files", tools });
    stream.on("response.output_text.delta", (e) => textDeltas.push(e.delta));
    stream.on("response.function_call_arguments.delta", (e) => argumentDeltas.push(e.delta));
    let completed: OpenAIResponse | undefined;
    stream.on("response.completed", (e) => (completed = e.response));
    const final = await stream.finalResponse();

    expect(textDeltas).toEqual(["Let me ", "look."]);
    expect(argumentDeltas).toEqual(['{"pa', 'th":"a', '.txt"}', '{"command":"ls"}']);
    expect(final.status).toBe("completed");
    expect(final.output_text).toBe("Let me look.");
    const calls = final.output.filter((item) => item.type === "function_call");
    expect(calls.map((c) => [c.call_id, c.name, c.arguments])).toEqual([
      ["call_custom", "read_file", '{"path":"a.txt"}'],
      [expect.stringMatching(/^call_mock_\d+_1$/), "bash", '{"command":"ls"}'],
    ]);

    // The SDK adds output_text and parse results to what it hands out, so compare what was sent.
    const json = (await (await mock.post("/v1/responses", { model: "gpt-mock", input: "list files", tools })).json()) as OpenAIResponse;
    expect(completed === undefined ? undefined : normalized(completed)).toEqual(normalized(json));
  });

  it("streams the events in OpenAI's order, named as their type, numbered from 0", async () => {
    const { names, events } = await rawStream({ chunks: ["a", "b c"], toolCalls: [{ name: "f", arguments: "{}", argumentChunks: ["{", "}"] }] }, { instructions: "x" });
    expect(names).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.type)).toEqual(names);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));

    const [created, inProgress, messageAdded, partAdded, delta] = events;
    expect(created).toMatchObject({ response: { status: "in_progress", output: [], usage: null, instructions: "x", model: "gpt-raw" } });
    expect(inProgress).toMatchObject({ response: { status: "in_progress", output: [] } });
    if (created?.type !== "response.created") throw new Error("expected response.created");
    const n = created.response.id.replace(/^resp_mock_/, "");
    expect(messageAdded).toMatchObject({ output_index: 0, item: { id: `msg_mock_${n}`, type: "message", status: "in_progress", role: "assistant", content: [] } });
    expect(partAdded).toMatchObject({ item_id: `msg_mock_${n}`, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    expect(delta).toEqual({ type: "response.output_text.delta", item_id: `msg_mock_${n}`, output_index: 0, content_index: 0, delta: "a", logprobs: [], sequence_number: 4 });
    expect(events[6]).toMatchObject({ text: "ab c", logprobs: [] });
    expect(events[9]).toMatchObject({ output_index: 1, item: { id: `fc_mock_${n}_0`, type: "function_call", status: "in_progress", arguments: "", name: "f" } });
    expect(events[12]).toMatchObject({ item_id: `fc_mock_${n}_0`, output_index: 1, name: "f", arguments: "{}" });
    expect(events[14]).toMatchObject({ response: { id: created.response.id, status: "completed", usage: { total_tokens: expect.any(Number) } } });
  });

  it("turns thinking into a reasoning item with a summary, and its signature into encrypted_content on request", async () => {
    const thinking = { text: "I should say hi.", signature: "sig-1", chunks: ["I should", " say hi."] };
    await mock.queue({ thinking, text: "Hi.", usage: { outputTokens: 10 } }, { thinking, text: "Hi." });
    const response = await mock.openai().responses.create({ model: "o-mock", input: "hi", include: ["reasoning.encrypted_content"] });
    expect(response.output[0]).toEqual({
      id: expect.stringMatching(/^rs_mock_\d+$/),
      type: "reasoning",
      summary: [{ type: "summary_text", text: "I should say hi." }],
      encrypted_content: "sig-1",
    });
    expect(response.output[1]?.type).toBe("message");
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(4);

    const final = await mock.openai().responses.stream({ model: "o-mock", input: "hi" }).finalResponse();
    expect(final.output[0]).toMatchObject({ type: "reasoning", summary: [{ type: "summary_text", text: "I should say hi." }] });
    expect(final.output[0]).not.toHaveProperty("encrypted_content");
    expect(final.output_text).toBe("Hi.");

    const { names, events } = await rawStream({ thinking, text: "Hi." });
    expect(names.slice(2, 9)).toEqual([
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
    ]);
    expect(events[4]).toMatchObject({ output_index: 0, summary_index: 0, delta: "I should" });
    expect(events[9]).toMatchObject({ type: "response.output_item.added", output_index: 1, item: { type: "message" } });
  });

  it("ends as incomplete when the script stops at max_output_tokens", async () => {
    await mock.queue({ text: "cut sh", finishReason: "max_output_tokens" }, { text: "cut sh", finishReason: "length" });
    const json = await mock.openai().responses.create({ model: "m", input: "hi", max_output_tokens: 2 });
    expect(json).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, completed_at: null });
    expect(json.output[0]).toMatchObject({ type: "message", status: "incomplete" });

    const final = await mock.openai().responses.stream({ model: "m", input: "hi" }).finalResponse();
    expect(final).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, output_text: "cut sh" });

    const { names } = await rawStream({ toolCalls: [{ name: "f", arguments: "{" }], finishReason: "max_output_tokens" });
    expect(names.at(-1)).toBe("response.incomplete");
    expect(names).not.toContain("response.completed");
  });

  it("fails a stream with an error event numbered in sequence, and sends no terminal event", async () => {
    const { names, events } = await rawStream({ chunks: ["one", " two", " three"], failAfter: 2 });
    expect(names.at(-1)).toBe("error");
    expect(names.filter((name) => name === "response.output_text.delta")).toHaveLength(2);
    expect(names).not.toContain("response.completed");
    expect(events.at(-1)).toEqual({
      type: "error",
      code: "server_error",
      message: expect.stringContaining("scripted failure"),
      param: null,
      sequence_number: events.length - 1,
    });

    await mock.queue({ chunks: ["one", " two"], failAfter: 1 });
    const deltas: string[] = [];
    const stream = mock.openai().responses.stream({ model: "m", input: "hi" });
    stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
    const failure = await stream.finalResponse().catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: "error", code: "server_error" });
    expect(deltas).toEqual(["one"]);
  });

  it("hangs a stream with hangAfter until the client leaves, and records that", async () => {
    await mock.queue({ chunks: ["a", "b", "c"], hangAfter: 2 });
    const controller = new AbortController();
    const stream = await mock.openai().responses.create({ model: "m", input: "hi", stream: true }, { signal: controller.signal });
    const seen: string[] = [];
    await (async () => {
      for await (const event of stream) {
        seen.push(event.type === "response.output_text.delta" ? event.delta : event.type);
        if (event.type === "response.output_text.delta" && event.delta === "b") controller.abort();
      }
    })().catch(() => undefined);
    expect(seen).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "a", "b"]);
    const closed = await waitFor(async () => (await mock.recorded()).find((r) => r.clientClosed), { timeoutMs: 1000, what: "clientClosed" });
    expect(closed).toMatchObject({ path: "/v1/responses", finished: false, status: 200 });
  });

  it("answers scripted and request errors in OpenAI's error format", async () => {
    await mock.queue({ error: { status: 429, message: "slow down" }, delayMs: 20 }, { error: { status: 500 } });
    const limited = await mock
      .openai()
      .responses.create({ model: "m", input: "hi" })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited).toMatchObject({ status: 429, error: { message: "slow down", type: "rate_limit_error", param: null, code: null } });
    const failed = await mock
      .openai()
      .responses.stream({ model: "m", input: "hi" })
      .finalResponse()
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.InternalServerError);

    const bad = await mock.post("/v1/responses", "{nope");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error", param: null, code: null } });
  });

  it("carries logprobs per streamed piece when include asks for them", async () => {
    const include: OpenAI.Responses.ResponseIncludable[] = ["message.output_text.logprobs"];
    await mock.queue({ chunks: ["Hi", " there", ""] }, { chunks: ["Hi", " there", ""] });
    const json = await mock.openai().responses.create({ model: "m", input: "hi", include, top_logprobs: 2 });
    const part = json.output[0]?.type === "message" ? json.output[0].content[0] : undefined;
    const logprobs = part?.type === "output_text" ? part.logprobs : undefined;
    expect(logprobs?.map((l) => l.token)).toEqual(["Hi", " there"]);
    expect(logprobs?.[1]).toEqual({
      token: " there",
      logprob: expect.any(Number),
      bytes: [...Buffer.from(" there")],
      top_logprobs: [
        { token: " there", logprob: logprobs?.[1]?.logprob, bytes: [...Buffer.from(" there")] },
        { token: expect.any(String), logprob: expect.any(Number), bytes: expect.any(Array) },
      ],
    });
    expect(json.top_logprobs).toBe(2);

    const { events } = await rawStream({ chunks: ["Hi", " there", ""] }, { include, top_logprobs: 2 });
    const deltas = events.flatMap((e) => (e.type === "response.output_text.delta" ? [e] : []));
    expect(deltas.map((d) => d.logprobs.map((l) => l.token))).toEqual([["Hi"], [" there"], []]);
    // Stream events carry no bytes; the finished part does.
    expect(deltas[0]?.logprobs[0]).toEqual({ token: "Hi", logprob: logprobs?.[0]?.logprob, top_logprobs: [expect.any(Object), expect.any(Object)] });
    const done = events.find((e) => e.type === "response.content_part.done");
    expect(done).toMatchObject({ part: { logprobs } });

    const final = await mock.openai().responses.stream({ model: "m", input: "hi", include }).finalResponse();
    expect(final.output[0]).toMatchObject({ content: [{ logprobs: [{ token: "Hi", top_logprobs: [] }, { token: " there" }] }] });
  });

  it("records each call like the other endpoints", async () => {
    await mock.openai().responses.create({ model: "gpt-rec", input: [{ role: "user", content: "hello" }] }, { headers: { "X-Custom": "v" } });
    const [record] = await mock.recorded();
    expect(record).toMatchObject({
      path: "/v1/responses",
      method: "POST",
      body: { model: "gpt-rec", input: [{ role: "user", content: "hello" }] },
      headers: { "x-custom": "v", authorization: "Bearer test" },
      finished: true,
      clientClosed: false,
      status: 200,
    });
  });
});
