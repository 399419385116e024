import { StreamProtocolError, createAnthropicStreamBuilder, createAnthropicStreamValidator, type AnthropicStreamEvent, type RawMessageDeltaEvent } from "../src";
import {
  anthropicSse,
  blockStop,
  jsonDelta,
  messageDelta,
  messageStart,
  messageStop,
  startSdkHarness,
  textDelta,
  textStart,
  thinkingStart,
  toolStart,
  validateAnthropic,
  type SdkHarness,
} from "./fixtures";

/** Pushes every event through a builder, ends it, checks the output with the validator, and returns it. */
function build(events: readonly AnthropicStreamEvent[]): AnthropicStreamEvent[] {
  const builder = createAnthropicStreamBuilder();
  const out = [...events.flatMap((e) => builder.push(e)), ...builder.end()];
  validateAnthropic(out);
  return out;
}

/** A compact picture of a stream: one string per event. */
function shape(events: readonly AnthropicStreamEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case "content_block_start":
        return `start ${e.index} ${e.content_block.type}`;
      case "content_block_delta":
        return `delta ${e.index} ${e.delta.type === "text_delta" ? e.delta.text : e.delta.type === "input_json_delta" ? e.delta.partial_json : e.delta.type}`;
      case "content_block_stop":
        return `stop ${e.index}`;
      case "message_delta":
        return `message_delta ${e.delta.stop_reason}`;
      default:
        return e.type;
    }
  });
}

const messageDeltas = (events: readonly AnthropicStreamEvent[]): RawMessageDeltaEvent[] => events.filter((e): e is RawMessageDeltaEvent => e.type === "message_delta");

describe("createAnthropicStreamBuilder", () => {
  it("passes a valid stream through unchanged", () => {
    const events = [messageStart(), textStart(0), textDelta(0, "hi"), blockStop(0), toolStart(1, "t1", "ls"), jsonDelta(1, "{}"), blockStop(1), messageDelta("tool_use"), messageStop()];
    expect(build(events)).toEqual(events);
  });

  it("renumbers blocks when a policy dropped one", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "a"), blockStop(0), textStart(2), textDelta(2, "b"), blockStop(2), messageDelta("end_turn"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "start 0 text", "delta 0 a", "stop 0", "start 1 text", "delta 1 b", "stop 1", "message_delta end_turn", "message_stop"]);
  });

  it("moves text emitted after a tool_use block in front of it", () => {
    const out = build([
      messageStart(),
      textStart(0),
      textDelta(0, "before"),
      blockStop(0),
      toolStart(1, "t1", "rm"),
      jsonDelta(1, '{"path":'),
      jsonDelta(1, '"/"}'),
      blockStop(1),
      textStart(2),
      textDelta(2, "blocked"),
      blockStop(2),
      messageDelta("tool_use"),
      messageStop(),
    ]);
    expect(shape(out)).toEqual([
      "message_start",
      "start 0 text",
      "delta 0 before",
      "stop 0",
      "start 1 text",
      "delta 1 blocked",
      "stop 1",
      "start 2 tool_use",
      'delta 2 {"path":',
      'delta 2 "/"}',
      "stop 2",
      "message_delta tool_use",
      "message_stop",
    ]);
  });

  it("keeps several tool_use blocks in their order, after every text block", () => {
    const out = build([messageStart(), toolStart(0, "a", "x"), blockStop(0), toolStart(1, "b", "y"), blockStop(1), thinkingStart(2), blockStop(2), messageDelta("tool_use"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "start 0 thinking", "stop 0", "start 1 tool_use", "stop 1", "start 2 tool_use", "stop 2", "message_delta tool_use", "message_stop"]);
  });

  it("rewrites stop_reason tool_use to end_turn when every tool call was removed, with one message_delta", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "I won't run that."), blockStop(0), messageDelta("tool_use"), messageStop()]);
    const deltas = messageDeltas(out);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]?.delta.stop_reason).toBe("end_turn");
    expect(deltas[0]?.usage.output_tokens).toBe(7);
  });

  it.each(["max_tokens", "refusal", "pause_turn", "stop_sequence", "end_turn"] as const)("never overwrites stop_reason %s", (reason) => {
    const withTool = build([messageStart(), toolStart(0, "a", "x"), jsonDelta(0, "{}"), blockStop(0), messageDelta(reason), messageStop()]);
    const withoutTool = build([messageStart(), textStart(0), textDelta(0, "x"), blockStop(0), messageDelta(reason), messageStop()]);
    expect(messageDeltas(withTool)[0]?.delta.stop_reason).toBe(reason);
    expect(messageDeltas(withoutTool)[0]?.delta.stop_reason).toBe(reason);
  });

  it("closes blocks whose stop a policy dropped", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "a"), textStart(1), textDelta(1, "b"), messageDelta("end_turn"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "start 0 text", "delta 0 a", "stop 0", "start 1 text", "delta 1 b", "stop 1", "message_delta end_turn", "message_stop"]);
  });

  it("drops a stop for a block that never started (its start was filtered)", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "a"), blockStop(0), blockStop(1), blockStop(0), messageDelta("end_turn"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "start 0 text", "delta 0 a", "stop 0", "message_delta end_turn", "message_stop"]);
  });

  it("starts a new block when a policy reuses an index", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "a"), blockStop(0), textStart(0), textDelta(0, "b"), blockStop(0), messageDelta("end_turn"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "start 0 text", "delta 0 a", "stop 0", "start 1 text", "delta 1 b", "stop 1", "message_delta end_turn", "message_stop"]);
  });

  it("passes pings through inside the message and drops them before it", () => {
    const out = build([{ type: "ping" }, messageStart(), { type: "ping" }, messageDelta("end_turn"), messageStop()]);
    expect(shape(out)).toEqual(["message_start", "ping", "message_delta end_turn", "message_stop"]);
  });

  it("allows an empty message", () => {
    expect(shape(build([messageStart(), messageDelta("end_turn"), messageStop()]))).toEqual(["message_start", "message_delta end_turn", "message_stop"]);
  });

  it("completes a truncated stream at end(): closes the block, synthesizes message_delta and message_stop", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "partial")]);
    expect(shape(out)).toEqual(["message_start", "start 0 text", "delta 0 partial", "stop 0", "message_delta end_turn", "message_stop"]);
    expect(messageDeltas(out)[0]?.usage.output_tokens).toBe(0);
  });

  it("releases held tool calls at end() with stop_reason tool_use", () => {
    const out = build([messageStart(), toolStart(3, "a", "x"), jsonDelta(3, '{"a":1}')]);
    expect(shape(out)).toEqual(["message_start", "start 0 tool_use", 'delta 0 {"a":1}', "stop 0", "message_delta tool_use", "message_stop"]);
  });

  it("synthesizes message_delta when message_stop comes without one", () => {
    const out = build([messageStart(), textStart(0), textDelta(0, "x"), blockStop(0), messageStop()]);
    expect(shape(out).slice(-2)).toEqual(["message_delta end_turn", "message_stop"]);
  });

  it("returns nothing from end() after message_stop", () => {
    const builder = createAnthropicStreamBuilder();
    for (const e of [messageStart(), messageDelta("end_turn"), messageStop()]) builder.push(e);
    expect(builder.end()).toEqual([]);
  });

  it.each<[string, AnthropicStreamEvent[]]>([
    ["a second message_start", [messageStart(), messageStart()]],
    ["an event before message_start", [textStart(0)]],
    ["a delta for a block that never started", [messageStart(), textDelta(4, "x")]],
    ["a delta after its block stopped", [messageStart(), textStart(0), blockStop(0), textDelta(0, "x")]],
    ["a delta of the wrong kind", [messageStart(), textStart(0), jsonDelta(0, "{}")]],
    ["a block after message_delta", [messageStart(), messageDelta("end_turn"), textStart(0)]],
    ["a second message_delta", [messageStart(), messageDelta("end_turn"), messageDelta("end_turn")]],
    ["anything after message_stop", [messageStart(), messageDelta("end_turn"), messageStop(), { type: "ping" }]],
    ["a message_start with content", [{ type: "message_start", message: { ...messageStart().message, content: [{ type: "text", text: "x", citations: null }] } }]],
  ])("throws StreamProtocolError on %s", (_, events) => {
    const builder = createAnthropicStreamBuilder();
    const last = events.at(-1) as AnthropicStreamEvent;
    for (const e of events.slice(0, -1)) builder.push(e);
    expect(() => builder.push(last)).toThrow(StreamProtocolError);
  });

  it("throws at end() when no message started", () => {
    expect(() => createAnthropicStreamBuilder().end()).toThrow(StreamProtocolError);
  });

  describe("with the official SDK", () => {
    let sdk: SdkHarness;
    beforeAll(async () => {
      sdk = await startSdkHarness();
    });
    afterAll(() => sdk.close());

    it("gives MessageStream a message with text before the tool call and the right inputs", async () => {
      const out = build([
        messageStart(),
        toolStart(5, "toolu_1", "bash"),
        jsonDelta(5, '{"cmd":'),
        jsonDelta(5, '"ls"}'),
        blockStop(5),
        textStart(9),
        textDelta(9, "Running ls."),
        messageDelta("tool_use"),
        messageStop(),
      ]);
      const final = await sdk.anthropicFinalMessage(anthropicSse(out));
      expect(final.content).toEqual([
        { type: "text", text: "Running ls.", citations: null },
        { type: "tool_use", id: "toolu_1", name: "bash", input: { cmd: "ls" }, caller: { type: "direct" } },
      ]);
      expect(final.stop_reason).toBe("tool_use");
    });
  });
});

describe("createAnthropicStreamValidator", () => {
  it.each<[string, AnthropicStreamEvent[]]>([
    ["text after tool_use", [messageStart(), toolStart(0, "a", "x"), blockStop(0), textStart(1)]],
    ["a gap in block indices", [messageStart(), textStart(1)]],
    ["a block starting while another is open", [messageStart(), textStart(0), textStart(1)]],
    ["a stop for a block that is not open", [messageStart(), textStart(0), blockStop(1)]],
    ["message_delta with a block open", [messageStart(), textStart(0), messageDelta("end_turn")]],
    ["stop_reason tool_use without a tool_use block", [messageStart(), messageDelta("tool_use")]],
    ["message_delta without stop_reason", [messageStart(), messageDelta(null)]],
    ["message_stop without message_delta", [messageStart(), messageStop()]],
    ["a ping before message_start", [{ type: "ping" }]],
  ])("rejects %s", (_, events) => {
    const validator = createAnthropicStreamValidator();
    const last = events.at(-1) as AnthropicStreamEvent;
    for (const e of events.slice(0, -1)) validator.check(e);
    expect(() => validator.check(last)).toThrow(StreamProtocolError);
  });

  it("rejects a stream that never reached message_stop", () => {
    const validator = createAnthropicStreamValidator();
    validator.check(messageStart());
    expect(() => validator.end()).toThrow(StreamProtocolError);
  });
});
