import {
  StreamProtocolError,
  anthropicMessageToResponse,
  createAnthropicToResponsesStream,
  createResponsesAccumulator,
  messageToEvents,
  responsesRequestToAnthropic,
  type AnthropicStreamEvent,
  type ContentBlock,
  type Message,
  type RawContentBlockDelta,
  type ResponsesInputItem,
  type ResponsesRequest,
  type ResponsesResponse,
  type ResponsesStreamEvent,
  type StopReason,
} from "../src";
import {
  blockStop,
  jsonDelta,
  message,
  messageDelta,
  messageStart,
  messageStop,
  startSdkHarness,
  textBlock,
  textDelta,
  textStart,
  thinkingStart,
  toolStart,
  toolUseBlock,
  type SdkHarness,
} from "./fixtures";
import { randomPieces, responsesRequest, responsesSse, rng, sdkAccumulate, sdkFinalResponse, validateResponses } from "./responses-fixtures";

let sdk: SdkHarness;
beforeAll(async () => {
  sdk = await startSdkHarness();
});
afterAll(() => sdk.close());

const TIMES = { created: 1700000000, completedAt: 1700000009 };
const thinkingBlock = (thinking: string, signature = "sig"): ContentBlock => ({ type: "thinking", thinking, signature });

/** Converts a whole stream, checks it with the validator, and returns it. */
function toResponses(events: readonly AnthropicStreamEvent[], request: ResponsesRequest = responsesRequest()): ResponsesStreamEvent[] {
  const conv = createAnthropicToResponsesStream({ request, ...TIMES });
  const out = [...events.flatMap((e) => conv.push(e)), ...conv.end()];
  validateResponses(out);
  return out;
}

const terminal = (events: readonly ResponsesStreamEvent[]): ResponsesResponse => {
  const last = events.at(-1);
  if (last?.type !== "response.completed" && last?.type !== "response.incomplete") throw new Error(`ends with ${String(last?.type)}`);
  return last.response;
};

describe("anthropicMessageToResponse", () => {
  it("maps a text answer to one message item and echoes the request", () => {
    const request = responsesRequest({ instructions: "Be brief.", temperature: 0.3, max_output_tokens: 99, metadata: { k: "v" }, user: "u" });
    expect(anthropicMessageToResponse(message([textBlock("Hello")]), { request, ...TIMES })).toEqual({
      id: "resp_1",
      object: "response",
      created_at: TIMES.created,
      status: "completed",
      completed_at: TIMES.completedAt,
      error: null,
      incomplete_details: null,
      instructions: "Be brief.",
      model: "claude-x",
      output: [{ id: "msg_1_0", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello", annotations: [], logprobs: [] }] }],
      output_text: "Hello",
      parallel_tool_calls: true,
      temperature: 0.3,
      top_p: null,
      tool_choice: "auto",
      tools: [],
      max_output_tokens: 99,
      metadata: { k: "v" },
      previous_response_id: null,
      reasoning: null,
      text: { format: { type: "text" } },
      truncation: "disabled",
      background: false,
      usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 },
      user: "u",
    });
  });

  it("maps thinking, text runs and tool calls to items in block order", () => {
    const content = [
      thinkingBlock("plan"),
      textBlock("Checking "),
      textBlock("both."),
      toolUseBlock("toolu_a", "ls", { path: "/" }),
      textBlock("And"),
      { type: "redacted_thinking", data: "x" } as ContentBlock,
      textBlock(" more"),
    ];
    const res = anthropicMessageToResponse(message(content, { id: "msg_01X", stop_reason: "tool_use" }), { request: responsesRequest(), ...TIMES });
    expect(res.id).toBe("resp_01X");
    const messageItem = (id: string, texts: string[]) => ({
      id,
      type: "message",
      role: "assistant",
      status: "completed",
      content: texts.map((text) => ({ type: "output_text", text, annotations: [], logprobs: [] })),
    });
    expect(res.output).toEqual([
      { id: "rs_01X_0", type: "reasoning", summary: [{ type: "summary_text", text: "plan" }] },
      messageItem("msg_01X_1", ["Checking ", "both."]),
      { type: "function_call", id: "fc_toolu_a", call_id: "toolu_a", name: "ls", arguments: '{"path":"/"}', status: "completed" },
      messageItem("msg_01X_3", ["And", " more"]),
    ]);
    expect(res.output_text).toBe("Checking both.And more");
    expect(res.status).toBe("completed");
  });

  it("puts the signature in encrypted_content when the client includes it, so the next request replays the thinking", () => {
    const request = responsesRequest({ include: ["reasoning.encrypted_content"], reasoning: { effort: "low" } });
    const answer = message([thinkingBlock("Let me look.", "sig-1"), toolUseBlock("toolu_a", "ls", {})], { stop_reason: "tool_use" });
    const res = anthropicMessageToResponse(answer, { request, ...TIMES });
    expect(res.output[0]).toEqual({ id: "rs_1_0", type: "reasoning", summary: [{ type: "summary_text", text: "Let me look." }], encrypted_content: "sig-1" });
    expect(res.reasoning).toEqual({ effort: "low" });
    const next = responsesRequestToAnthropic(
      responsesRequest({ input: [{ role: "user", content: "hi" }, ...(res.output as ResponsesInputItem[]), { type: "function_call_output", call_id: "toolu_a", output: "ok" }] }),
    );
    expect(next.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "hi" }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "Let me look.", signature: "sig-1" },
          { type: "tool_use", id: "toolu_a", name: "ls", input: {} },
        ],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_a", content: "ok" }] },
    ]);
  });

  it.each<[StopReason, string, string | null]>([
    ["end_turn", "completed", null],
    ["stop_sequence", "completed", null],
    ["tool_use", "completed", null],
    ["max_tokens", "incomplete", "max_output_tokens"],
    ["model_context_window_exceeded", "incomplete", "max_output_tokens"],
    ["refusal", "incomplete", "content_filter"],
  ])("maps stop_reason %s to status %s (%s)", (stop_reason, status, reason) => {
    const res = anthropicMessageToResponse(message([textBlock("cut")], { stop_reason }), { request: responsesRequest(), ...TIMES });
    expect(res.status).toBe(status);
    expect(res.incomplete_details).toEqual(reason === null ? null : { reason });
    expect(res.completed_at).toBe(status === "completed" ? TIMES.completedAt : null);
    expect(res.output[0]).toMatchObject({ status });
  });

  it("counts cached tokens into input_tokens and thinking tokens as reasoning tokens", () => {
    const usage = { ...message([]).usage, input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 5, output_tokens: 20, output_tokens_details: { thinking_tokens: 12 } };
    expect(anthropicMessageToResponse(message([], { usage }), { request: responsesRequest() }).usage).toEqual({
      input_tokens: 115,
      input_tokens_details: { cached_tokens: 100, cache_write_tokens: 5 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 12 },
      total_tokens: 135,
    });
  });
});

/** A random Anthropic message: a few blocks of every kind the converter handles, and one it drops. */
function randomMessage(random: ReturnType<typeof rng>, n: number): Message {
  const words = ["", "a", "héllo ", "wörld", "🙂", '{"x": 1}', "line\n"];
  const text = (): string => Array.from({ length: random.int(4) }, () => random.pick(words)).join("");
  const blocks: ContentBlock[] = Array.from({ length: random.int(6) }, (_, i): ContentBlock => {
    switch (random.int(5)) {
      case 0:
      case 1:
        return textBlock(text());
      case 2:
        return thinkingBlock(text(), `sig${i}`);
      case 3:
        return toolUseBlock(`toolu_${n}_${i}`, "run", random.int(2) === 0 ? {} : { cmd: text(), n: i, deep: { list: [1, "two"] } });
      default:
        return { type: "redacted_thinking", data: "opaque" };
    }
  });
  const stop = random.pick<StopReason>(["end_turn", "tool_use", "max_tokens", "refusal", "stop_sequence"]);
  return message(blocks, { id: `msg_${n}`, stop_reason: stop });
}

/** `messageToEvents`, with every text, thinking and JSON delta cut into random pieces. */
function rechunked(whole: Message, random: ReturnType<typeof rng>): AnthropicStreamEvent[] {
  return messageToEvents(whole).flatMap((event): AnthropicStreamEvent[] => {
    if (event.type !== "content_block_delta") return [event];
    const { delta } = event;
    const split = (text: string, make: (piece: string) => RawContentBlockDelta): AnthropicStreamEvent[] => randomPieces(text, random).map((piece) => ({ ...event, delta: make(piece) }));
    switch (delta.type) {
      case "text_delta":
        return split(delta.text, (text) => ({ type: "text_delta", text }));
      case "thinking_delta":
        return split(delta.thinking, (thinking) => ({ type: "thinking_delta", thinking }));
      case "input_json_delta":
        return split(delta.partial_json, (partial_json) => ({ type: "input_json_delta", partial_json }));
      default:
        return [event];
    }
  });
}

describe("createAnthropicToResponsesStream", () => {
  const toolStream: AnthropicStreamEvent[] = [
    messageStart(),
    { type: "ping" },
    thinkingStart(0),
    { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "pl" } },
    { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "an" } },
    { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
    blockStop(0),
    textStart(1),
    textDelta(1, "Checking "),
    textDelta(1, "both."),
    blockStop(1),
    toolStart(2, "toolu_a", "ls"),
    jsonDelta(2, '{"path": '),
    jsonDelta(2, '"/"}'),
    blockStop(2),
    messageDelta("tool_use", 31),
    messageStop(),
  ];

  it("streams thinking, text and a tool call as Responses events", () => {
    const events = toResponses(toolStream);
    expect(events.map((e) => `${e.sequence_number} ${e.type}${"delta" in e ? ` ${e.delta}` : ""}`)).toEqual([
      "0 response.created",
      "1 response.in_progress",
      "2 response.output_item.added",
      "3 response.reasoning_summary_part.added",
      "4 response.reasoning_summary_text.delta pl",
      "5 response.reasoning_summary_text.delta an",
      "6 response.reasoning_summary_text.done",
      "7 response.reasoning_summary_part.done",
      "8 response.output_item.done",
      "9 response.output_item.added",
      "10 response.content_part.added",
      "11 response.output_text.delta Checking ",
      "12 response.output_text.delta both.",
      "13 response.output_text.done",
      "14 response.content_part.done",
      "15 response.output_item.done",
      "16 response.output_item.added",
      '17 response.function_call_arguments.delta {"path":"/"}',
      "18 response.function_call_arguments.done",
      "19 response.output_item.done",
      "20 response.completed",
    ]);
    expect(events[0]).toMatchObject({ response: { id: "resp_1", status: "in_progress", output: [], model: "claude-x", created_at: TIMES.created } });
    expect(events[16]).toMatchObject({ item: { type: "function_call", id: "fc_toolu_a", call_id: "toolu_a", name: "ls", arguments: "", status: "in_progress" } });
    expect(terminal(events)).toMatchObject({ status: "completed", output_text: "Checking both.", usage: { output_tokens: 31 } });
  });

  it("is what the official client accepts: finalResponse is the terminal response", async () => {
    const events = toResponses(toolStream);
    expect(await sdkFinalResponse(sdk, responsesSse(events))).toEqual(terminal(events));
  });

  it("ends an answer cut by max_tokens with response.incomplete and an incomplete message", () => {
    const events = toResponses(messageToEvents(message([textBlock("Once upon")], { stop_reason: "max_tokens" })));
    expect(events.at(-1)?.type).toBe("response.incomplete");
    expect(terminal(events)).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, output: [{ status: "incomplete" }] });
  });

  it("agrees with anthropicMessageToResponse and the SDK's accumulator on 300 random messages streamed in random pieces", () => {
    const random = rng(42);
    for (let n = 0; n < 300; n++) {
      const whole = randomMessage(random, n);
      const request = responsesRequest(random.int(2) === 0 ? { include: ["reasoning.encrypted_content"] } : {});
      const events = toResponses(rechunked(whole, random), request);
      const final = terminal(events);
      expect(final).toEqual(anthropicMessageToResponse(whole, { request, ...TIMES }));
      // Each item as output_item.done sent it is the item of the final response.
      expect(events.flatMap((e) => (e.type === "response.output_item.done" ? [e.item] : []))).toEqual(final.output);
      // Deltas add up to their done texts.
      const texts = new Map<string, string>();
      for (const e of events) {
        if (e.type === "response.output_text.delta") texts.set(`${e.item_id}/${e.content_index}`, (texts.get(`${e.item_id}/${e.content_index}`) ?? "") + e.delta);
        if (e.type === "response.output_text.done") expect(texts.get(`${e.item_id}/${e.content_index}`) ?? "").toBe(e.text);
      }
      expect(sdkAccumulate(events)).toEqual(final);
      const acc = createResponsesAccumulator();
      for (const e of events) acc.push(e);
      expect(acc.result()).toEqual(final);
    }
  });

  it("sends the start input of a tool_use block that got no delta", () => {
    const events = toResponses([
      messageStart(),
      { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "t", name: "now", input: { tz: "UTC" }, caller: { type: "direct" } } },
      blockStop(0),
      messageDelta("tool_use"),
      messageStop(),
    ]);
    expect(events.filter((e) => e.type === "response.function_call_arguments.done")).toMatchObject([{ arguments: '{"tz":"UTC"}', name: "now" }]);
  });

  it("completes a stream that ended without message_delta or message_stop at end()", () => {
    const conv = createAnthropicToResponsesStream({ request: responsesRequest(), ...TIMES });
    const pushed = [messageStart(), textStart(0), textDelta(0, "Hi")].flatMap((e) => conv.push(e));
    const ended = conv.end();
    validateResponses([...pushed, ...ended]);
    expect(ended.map((e) => e.type)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    expect(conv.end()).toEqual([]);
  });

  it("completes after message_delta when message_stop never came, and returns nothing after message_stop", () => {
    const conv = createAnthropicToResponsesStream({ request: responsesRequest(), ...TIMES });
    for (const e of [messageStart(), textStart(0), textDelta(0, "Hi"), blockStop(0), messageDelta("end_turn")]) conv.push(e);
    expect(conv.end().map((e) => e.type)).toEqual(["response.completed"]);
    const done = createAnthropicToResponsesStream({ request: responsesRequest(), ...TIMES });
    for (const e of messageToEvents(message([textBlock("x")]))) done.push(e);
    expect(done.end()).toEqual([]);
  });

  it.each<[string, AnthropicStreamEvent[], RegExp]>([
    ["an event before message_start", [textStart(0)], /content_block_start before message_start/],
    ["a second message_start", [messageStart(), messageStart()], /second message_start/],
    ["a message_start carrying content", [{ type: "message_start", message: message([textBlock("x")]) }], /carries content/],
    ["a block starting while another is open", [messageStart(), textStart(0), textStart(1)], /block 1 started while block 0 is open/],
    ["a block out of index order", [messageStart(), textStart(1)], /block index 1, expected 0/],
    ["a delta for a block that is not open", [messageStart(), textStart(0), blockStop(0), textDelta(0, "x")], /not the open block/],
    ["a delta of the wrong kind", [messageStart(), textStart(0), jsonDelta(0, "{}")], /input_json_delta in text block 0/],
    ["a block after message_delta", [messageStart(), messageDelta("end_turn"), textStart(0)], /content_block_start after message_delta/],
    ["a second message_delta", [messageStart(), messageDelta("end_turn"), messageDelta("end_turn")], /second message_delta/],
    ["message_delta while a block is open", [messageStart(), textStart(0), messageDelta("end_turn")], /while block 0 is open/],
    ["an event after message_stop", [messageStart(), messageDelta("end_turn"), messageStop(), messageStop()], /message_stop after message_stop/],
  ])("throws StreamProtocolError on %s", (_name, events, error) => {
    const run = (): void => {
      const conv = createAnthropicToResponsesStream({ request: responsesRequest() });
      for (const e of events) conv.push(e);
    };
    expect(run).toThrow(StreamProtocolError);
    expect(run).toThrow(error);
  });

  it("end() throws when there was no message_start", () => {
    expect(() => createAnthropicToResponsesStream({ request: responsesRequest() }).end()).toThrow(/before message_start/);
  });
});
