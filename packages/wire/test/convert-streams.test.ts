import {
  StreamProtocolError,
  createAnthropicStreamBuilder,
  createAnthropicToOpenAIStream,
  createOpenAIToAnthropicStream,
  decodeSseEvents,
  messageToEvents,
  type AnthropicStreamEvent,
  type ChatCompletionChunk,
  type RawMessageStreamEvent,
  type StopReason,
} from "../src";
import {
  anthropicSse,
  blockStop,
  bytesInPieces,
  chunk,
  jsonDelta,
  message,
  messageDelta,
  messageStart,
  messageStop,
  openAISse,
  startSdkHarness,
  textBlock,
  textDelta,
  textStart,
  thinkingStart,
  toolStart,
  toolUseBlock,
  usageChunk,
  validateAnthropic,
  validateOpenAI,
  type SdkHarness,
} from "./fixtures";

let sdk: SdkHarness;
beforeAll(async () => {
  sdk = await startSdkHarness();
});
afterAll(() => sdk.close());

function toOpenAI(events: readonly AnthropicStreamEvent[], includeUsage = true): ChatCompletionChunk[] {
  const conv = createAnthropicToOpenAIStream({ includeUsage, created: 1700000000 });
  const chunks = [...events.flatMap((e) => conv.push(e)), ...conv.end()];
  validateOpenAI(chunks);
  return chunks;
}

function toAnthropic(chunks: readonly ChatCompletionChunk[]): AnthropicStreamEvent[] {
  const conv = createOpenAIToAnthropicStream({ model: "claude-alias" });
  const events = [...chunks.flatMap((c) => conv.push(c)), ...conv.end()];
  validateAnthropic(events);
  return events;
}

/** Anthropic events of a streamed answer: thinking, text in two pieces, two tool calls with argument fragments. */
const toolStream: AnthropicStreamEvent[] = [
  messageStart(),
  { type: "ping" },
  thinkingStart(0),
  { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "plan" } },
  { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
  blockStop(0),
  textStart(1),
  textDelta(1, "Checking "),
  textDelta(1, "both."),
  blockStop(1),
  toolStart(2, "toolu_a", "ls"),
  jsonDelta(2, '{"pa'),
  jsonDelta(2, 'th":"/"}'),
  blockStop(2),
  toolStart(3, "toolu_b", "cat"),
  jsonDelta(3, '{"file":'),
  jsonDelta(3, '"x.txt"}'),
  blockStop(3),
  messageDelta("tool_use", 31),
  messageStop(),
];

describe("createAnthropicToOpenAIStream", () => {
  it("streams text: one role chunk, content deltas, one finish chunk, a usage chunk", async () => {
    const chunks = toOpenAI(messageToEvents(message([textBlock("Hello, world")])));
    expect(chunks.map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason ?? null, c.usage ?? null])).toEqual([
      [{ role: "assistant", content: "" }, null, null],
      [{ content: "Hello, world" }, null, null],
      [{}, "stop", null],
      [undefined, null, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } }],
    ]);
    expect(new Set(chunks.map((c) => `${c.id} ${c.created} ${c.model}`))).toEqual(new Set(["chatcmpl-msg_1 1700000000 claude-test"]));
    const final = await sdk.openAIFinalCompletion(openAISse(chunks));
    expect(final.choices[0]?.message.content).toBe("Hello, world");
    expect(final.choices[0]?.finish_reason).toBe("stop");
    expect(final.usage?.total_tokens).toBe(15);
  });

  it("streams parallel tool calls with argument fragments, dropping thinking", async () => {
    const chunks = toOpenAI(toolStream);
    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas).toEqual([
      { index: 0, id: "toolu_a", type: "function", function: { name: "ls", arguments: "" } },
      { index: 0, function: { arguments: '{"pa' } },
      { index: 0, function: { arguments: 'th":"/"}' } },
      { index: 1, id: "toolu_b", type: "function", function: { name: "cat", arguments: "" } },
      { index: 1, function: { arguments: '{"file":' } },
      { index: 1, function: { arguments: '"x.txt"}' } },
    ]);
    const final = await sdk.openAIFinalCompletion(openAISse(chunks));
    expect(final.choices[0]?.message).toMatchObject({
      content: "Checking both.",
      tool_calls: [
        { id: "toolu_a", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } },
        { id: "toolu_b", type: "function", function: { name: "cat", arguments: '{"file":"x.txt"}' } },
      ],
    });
    expect(final.choices[0]?.finish_reason).toBe("tool_calls");
    expect(final.usage?.completion_tokens).toBe(31);
  });

  it("sends no usage chunk unless asked", () => {
    expect(toOpenAI(toolStream, false).every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true);
  });

  it("sends the start input of a tool_use block that got no delta", () => {
    const chunks = toOpenAI([
      messageStart(),
      { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "t", name: "now", input: { tz: "UTC" }, caller: { type: "direct" } } },
      blockStop(0),
      messageDelta("tool_use"),
      messageStop(),
    ]);
    expect(chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.function?.arguments)).toEqual(["", '{"tz":"UTC"}']);
  });

  it("turns the builder's output into what strict OpenAI clients accept when a policy removed every tool call", async () => {
    const builder = createAnthropicStreamBuilder();
    const policyOutput = [messageStart(), textStart(0), textDelta(0, "Blocked."), blockStop(0), messageDelta("tool_use"), messageStop()];
    const chunks = toOpenAI([...policyOutput.flatMap((e) => builder.push(e)), ...builder.end()]);
    expect((await sdk.openAIFinalCompletion(openAISse(chunks))).choices[0]?.finish_reason).toBe("stop");
  });

  it.each<[StopReason, string]>([
    ["end_turn", "stop"],
    ["stop_sequence", "stop"],
    ["pause_turn", "stop"],
    ["max_tokens", "length"],
    ["refusal", "content_filter"],
    ["tool_use", "stop"],
  ])("maps stop_reason %s to finish_reason %s (no tool call)", (reason, finish) => {
    const chunks = toOpenAI([messageStart(), textStart(0), textDelta(0, "x"), blockStop(0), messageDelta(reason), messageStop()]);
    expect(chunks.find((c) => c.choices[0]?.finish_reason !== null && c.choices.length > 0)?.choices[0]?.finish_reason).toBe(finish);
  });

  it("finishes at end() when message_delta never came", () => {
    const chunks = toOpenAI([messageStart(), toolStart(0, "t", "ls"), jsonDelta(0, "{}"), blockStop(0)]);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("rejects events out of Anthropic's order", () => {
    expect(() => createAnthropicToOpenAIStream({ includeUsage: false }).push(textStart(0))).toThrow(StreamProtocolError);
    const conv = createAnthropicToOpenAIStream({ includeUsage: false });
    conv.push(messageStart());
    expect(() => conv.push(textDelta(3, "x"))).toThrow(StreamProtocolError);
    conv.push(messageDelta("end_turn"));
    expect(() => conv.push(messageDelta("end_turn"))).toThrow(StreamProtocolError);
    expect(() => createAnthropicToOpenAIStream({ includeUsage: false }).end()).toThrow(StreamProtocolError);
  });

  it("converts SSE decoded from bytes cut every 7 bytes, inside multi-byte characters", async () => {
    const text = "Grüße aus Köln 🌍 — 世界, naïve café ✓";
    const sse = anthropicSse(messageToEvents(message([textBlock(text), toolUseBlock("t1", "say", { words: "héllo 🌍" })], { stop_reason: "tool_use" })));
    const conv = createAnthropicToOpenAIStream({ includeUsage: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const sse_ of decodeSseEvents(bytesInPieces(sse, 7))) chunks.push(...conv.push(JSON.parse(sse_.data) as RawMessageStreamEvent));
    chunks.push(...conv.end());
    validateOpenAI(chunks);
    const final = await sdk.openAIFinalCompletion(openAISse(chunks));
    expect(final.choices[0]?.message.content).toBe(text);
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" && JSON.parse(call.function.arguments)).toEqual({ words: "héllo 🌍" });
  });
});

describe("createOpenAIToAnthropicStream", () => {
  it("streams text: message_start, one lazily started text block, message_delta with usage, message_stop", async () => {
    const events = toAnthropic([chunk({ role: "assistant", content: "" }), chunk({ content: "Hel" }), chunk({ content: "lo" }), chunk({}, "stop"), usageChunk(30, 4, 10)]);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    const start = events[0];
    expect(start?.type === "message_start" && [start.message.id, start.message.model, start.message.usage.input_tokens]).toEqual(["msg_chatcmpl-9", "claude-alias", 0]);
    const final = await sdk.anthropicFinalMessage(anthropicSse(events));
    expect(final.content).toEqual([textBlock("Hello")]);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 10, output_tokens: 4 });
  });

  it("emits interleaved parallel tool calls as whole blocks in index order", async () => {
    const events = toAnthropic([
      chunk({ role: "assistant", content: null }),
      chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "ls", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "cat", arguments: '{"fi' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"path":' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: 'le":"x"}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"/"}' } }] }),
      chunk({}, "tool_calls"),
    ]);
    const final = await sdk.anthropicFinalMessage(anthropicSse(events));
    expect(final.content).toEqual([toolUseBlock("call_a", "ls", { path: "/" }), toolUseBlock("call_b", "cat", { file: "x" })]);
    expect(final.stop_reason).toBe("tool_use");
  });

  it("handles text and a tool call in one chunk, and text after the tool call", async () => {
    const events = toAnthropic([
      chunk({ role: "assistant", content: "Let me ", tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "ls", arguments: "{}" } }] }),
      chunk({ content: "check." }),
      chunk({}, "tool_calls"),
    ]);
    const final = await sdk.anthropicFinalMessage(anthropicSse(events));
    expect(final.content).toEqual([textBlock("Let me check."), toolUseBlock("c1", "ls", {})]);
  });

  it("handles arguments that arrive only with the finish, and a name that arrives after the first fragment", async () => {
    const events = toAnthropic([
      chunk({ role: "assistant" }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }),
      chunk({ tool_calls: [{ index: 0, id: "late", function: { name: "search" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "end", type: "function", function: { name: "now" } }] }),
      {
        ...chunk(
          {
            tool_calls: [
              { index: 0, function: { arguments: '"x"}' } },
              { index: 1, function: { arguments: '{"tz":"UTC"}' } },
            ],
          },
          "tool_calls",
        ),
      },
    ]);
    const final = await sdk.anthropicFinalMessage(anthropicSse(events));
    expect(final.content).toEqual([toolUseBlock("late", "search", { q: "x" }), toolUseBlock("end", "now", { tz: "UTC" })]);
  });

  it.each<[ChatCompletionChunk.Choice["finish_reason"], StopReason]>([
    ["stop", "end_turn"],
    ["length", "max_tokens"],
    ["content_filter", "refusal"],
    ["tool_calls", "end_turn"],
  ])("maps finish_reason %s (no tool call) to stop_reason %s", async (finish, reason) => {
    const events = toAnthropic([chunk({ content: "x" }), chunk({}, finish)]);
    expect((await sdk.anthropicFinalMessage(anthropicSse(events))).stop_reason).toBe(reason);
  });

  it("ends with end_turn when no finish_reason came, and ignores content after the finish", () => {
    const unfinished = toAnthropic([chunk({ content: "cut" })]);
    expect(unfinished.find((e) => e.type === "message_delta")).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { output_tokens: 0 } });
    const late = toAnthropic([chunk({ content: "a" }, "stop"), chunk({ content: "late" })]);
    expect(late.filter((e) => e.type === "content_block_delta")).toHaveLength(1);
  });

  it("reports a tool call that never got a name, and an empty stream", () => {
    const conv = createOpenAIToAnthropicStream({ model: "m" });
    conv.push(chunk({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }));
    expect(() => conv.end()).toThrow(StreamProtocolError);
    expect(() => createOpenAIToAnthropicStream({ model: "m" }).end()).toThrow(StreamProtocolError);
  });

  it("uses a given message id, and returns nothing from a second end()", () => {
    const conv = createOpenAIToAnthropicStream({ model: "m", messageId: "msg_given" });
    const [start] = conv.push(chunk({ content: "x" }));
    expect(start?.type === "message_start" && start.message.id).toBe("msg_given");
    expect(conv.end()).toHaveLength(3);
    expect(conv.end()).toEqual([]);
  });

  it("converts SSE decoded from bytes cut every 7 bytes, and its output survives the builder and the SDK", async () => {
    const text = "Ünïcödé 🌍 世界 ✓";
    const sse = openAISse([
      chunk({ role: "assistant", content: "" }),
      ...[...text].map((ch) => chunk({ content: ch })),
      chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "echo", arguments: '{"s":"🌍' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '世"}' } }] }),
      chunk({}, "tool_calls"),
      usageChunk(12, 6),
    ]);
    const conv = createOpenAIToAnthropicStream({ model: "claude-alias" });
    const builder = createAnthropicStreamBuilder();
    const events: AnthropicStreamEvent[] = [];
    for await (const message_ of decodeSseEvents(bytesInPieces(sse, 7))) {
      if (message_.data === "[DONE]") break;
      for (const e of conv.push(JSON.parse(message_.data) as ChatCompletionChunk)) events.push(...builder.push(e));
    }
    for (const e of conv.end()) events.push(...builder.push(e));
    events.push(...builder.end());
    validateAnthropic(events);
    const final = await sdk.anthropicFinalMessage(anthropicSse(events));
    expect(final.content).toEqual([textBlock(text), toolUseBlock("c1", "echo", { s: "🌍世" })]);
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 6 });
  });
});
