import { anthropicErrorBody, anthropicErrorType, messageToEvents, type ContentBlock } from "../src";
import { anthropicSse, message, startSdkHarness, textBlock, toolUseBlock, validateAnthropic, type SdkHarness } from "./fixtures";

describe("anthropicErrorBody", () => {
  it("wraps type and message the way Anthropic does", () => {
    expect(anthropicErrorBody("rate_limit_error", "slow down")).toEqual({ type: "error", error: { type: "rate_limit_error", message: "slow down" } });
  });
});

describe("anthropicErrorType", () => {
  it.each([
    [400, "invalid_request_error"],
    [401, "authentication_error"],
    [402, "billing_error"],
    [403, "permission_error"],
    [404, "not_found_error"],
    [413, "request_too_large"],
    [422, "invalid_request_error"],
    [429, "rate_limit_error"],
    [500, "api_error"],
    [502, "api_error"],
    [503, "overloaded_error"],
    [504, "timeout_error"],
    [529, "overloaded_error"],
  ])("maps %i to %s", (status, type) => {
    expect(anthropicErrorType(status)).toBe(type);
  });
});

describe("messageToEvents", () => {
  const content: ContentBlock[] = [
    { type: "thinking", thinking: "Let me think.", signature: "sig-1" },
    { type: "redacted_thinking", data: "opaque" },
    textBlock("Héllo 🌍"),
    toolUseBlock("toolu_1", "bash", { cmd: "ls -la", n: [1, 2] }),
  ];
  const whole = message(content, {
    stop_reason: "tool_use",
    usage: { ...message([]).usage, input_tokens: 12, output_tokens: 34, cache_read_input_tokens: 5 },
  });

  it("emits message_start with empty content and no stop reason, each block start → deltas → stop, then message_delta and message_stop", () => {
    const events = messageToEvents(whole);
    validateAnthropic(events);
    expect(events.map((e) => (e.type === "content_block_delta" ? `${e.type}:${e.delta.type}` : e.type))).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta:thinking_delta",
      "content_block_delta:signature_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_stop",
      "content_block_start",
      "content_block_delta:text_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta:input_json_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const start = events[0];
    expect(start?.type === "message_start" && start.message.content).toEqual([]);
    expect(start?.type === "message_start" && start.message.stop_reason).toBeNull();
  });

  it("puts a tool_use block's input in one input_json_delta and starts it with an empty input", () => {
    const events = messageToEvents(whole);
    expect(events[10]).toEqual({ type: "content_block_start", index: 3, content_block: { type: "tool_use", id: "toolu_1", name: "bash", input: {}, caller: { type: "direct" } } });
    expect(events[11]).toEqual({ type: "content_block_delta", index: 3, delta: { type: "input_json_delta", partial_json: '{"cmd":"ls -la","n":[1,2]}' } });
  });

  describe("with the official SDK", () => {
    let sdk: SdkHarness;
    beforeAll(async () => {
      sdk = await startSdkHarness();
    });
    afterAll(() => sdk.close());

    it("rebuilds the same message from the events", async () => {
      const final = await sdk.anthropicFinalMessage(anthropicSse(messageToEvents(whole)));
      expect(final).toEqual(whole);
    });
  });
});
