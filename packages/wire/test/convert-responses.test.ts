import { ConversionError, anthropicMessageToOpenAI, openAICompletionToAnthropic, type ChatCompletion, type StopReason } from "../src";
import { message, textBlock, toolUseBlock } from "./fixtures";

const completion = (msg: Partial<ChatCompletion.Choice["message"]>, finish: ChatCompletion.Choice["finish_reason"] = "stop", extra: Partial<ChatCompletion> = {}): ChatCompletion => ({
  id: "chatcmpl-7",
  object: "chat.completion",
  created: 1700000000,
  model: "gpt-test",
  choices: [{ index: 0, message: { role: "assistant", content: null, refusal: null, ...msg }, finish_reason: finish, logprobs: null }],
  usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 },
  ...extra,
});

describe("anthropicMessageToOpenAI", () => {
  it("maps a text answer with its id, model, finish reason and usage", () => {
    const c = anthropicMessageToOpenAI(message([textBlock("Hello "), textBlock("there")]), { created: 42 });
    expect(c).toEqual({
      id: "chatcmpl-msg_1",
      object: "chat.completion",
      created: 42,
      model: "claude-test",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello there", refusal: null }, finish_reason: "stop", logprobs: null }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  it("maps one tool call, keeping its id, and drops thinking", () => {
    const c = anthropicMessageToOpenAI(message([{ type: "thinking", thinking: "hm", signature: "s" }, toolUseBlock("toolu_1", "ls", { path: "/" })], { stop_reason: "tool_use" }));
    expect(c.choices[0]?.message).toEqual({
      role: "assistant",
      content: null,
      refusal: null,
      tool_calls: [{ id: "toolu_1", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } }],
    });
    expect(c.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("maps two parallel tool calls after text", () => {
    const c = anthropicMessageToOpenAI(message([textBlock("Both:"), toolUseBlock("a", "ls", { p: 1 }), toolUseBlock("b", "cat", {})], { stop_reason: "tool_use" }));
    expect(c.choices[0]?.message.content).toBe("Both:");
    expect(c.choices[0]?.message.tool_calls?.map((t) => (t.type === "function" ? [t.id, t.function.name, t.function.arguments] : []))).toEqual([
      ["a", "ls", '{"p":1}'],
      ["b", "cat", "{}"],
    ]);
  });

  it("sums cache reads and writes into prompt_tokens and reports them in the details", () => {
    const usage = { ...message([]).usage, input_tokens: 3, output_tokens: 9, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens_details: { thinking_tokens: 4 } };
    expect(anthropicMessageToOpenAI(message([textBlock("x")], { usage })).usage).toEqual({
      prompt_tokens: 123,
      completion_tokens: 9,
      total_tokens: 132,
      prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 20 },
      completion_tokens_details: { reasoning_tokens: 4 },
    });
  });

  it.each<[StopReason, string]>([
    ["end_turn", "stop"],
    ["stop_sequence", "stop"],
    ["pause_turn", "stop"],
    ["max_tokens", "length"],
    ["model_context_window_exceeded", "length"],
    ["refusal", "content_filter"],
  ])("maps stop_reason %s to finish_reason %s", (reason, finish) => {
    expect(anthropicMessageToOpenAI(message([textBlock("x")], { stop_reason: reason })).choices[0]?.finish_reason).toBe(finish);
  });

  it("answers tool_use without any tool call left as stop", () => {
    expect(anthropicMessageToOpenAI(message([textBlock("x")], { stop_reason: "tool_use" })).choices[0]?.finish_reason).toBe("stop");
  });
});

describe("openAICompletionToAnthropic", () => {
  it("maps a text answer with its id, the client's model, stop reason and usage", () => {
    const m = openAICompletionToAnthropic(completion({ content: "Hi!" }), { model: "claude-alias" });
    expect(m).toEqual(
      message([textBlock("Hi!")], {
        id: "msg_chatcmpl-7",
        model: "claude-alias",
        stop_reason: "end_turn",
        usage: { ...message([]).usage, input_tokens: 20, output_tokens: 8 },
      }),
    );
  });

  it("maps one tool call to a tool_use block with the same id", () => {
    const m = openAICompletionToAnthropic(completion({ tool_calls: [{ id: "call_1", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } }] }, "tool_calls"));
    expect(m.content).toEqual([toolUseBlock("call_1", "ls", { path: "/" })]);
    expect(m.stop_reason).toBe("tool_use");
  });

  it("maps text and two parallel tool calls in order", () => {
    const m = openAICompletionToAnthropic(
      completion(
        {
          content: "Checking.",
          tool_calls: [
            { id: "a", type: "function", function: { name: "ls", arguments: "{}" } },
            { id: "b", type: "function", function: { name: "cat", arguments: '{"f":"x"}' } },
          ],
        },
        "tool_calls",
      ),
    );
    expect(m.content).toEqual([textBlock("Checking."), toolUseBlock("a", "ls", {}), toolUseBlock("b", "cat", { f: "x" })]);
  });

  it("takes cached tokens out of input_tokens", () => {
    const m = openAICompletionToAnthropic(
      completion({ content: "x" }, "stop", {
        usage: { prompt_tokens: 120, completion_tokens: 9, total_tokens: 129, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 2 } },
      }),
    );
    expect(m.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 100, output_tokens: 9, output_tokens_details: { thinking_tokens: 2 } });
  });

  it.each<[ChatCompletion.Choice["finish_reason"], StopReason]>([
    ["stop", "end_turn"],
    ["length", "max_tokens"],
    ["content_filter", "refusal"],
    ["tool_calls", "end_turn"],
    ["function_call", "end_turn"],
  ])("maps finish_reason %s (no tool calls) to stop_reason %s", (finish, reason) => {
    expect(openAICompletionToAnthropic(completion({ content: "x" }, finish)).stop_reason).toBe(reason);
  });

  it("says tool_use when a server finishes tool calls with stop", () => {
    const m = openAICompletionToAnthropic(completion({ tool_calls: [{ id: "a", type: "function", function: { name: "ls", arguments: "" } }] }, "stop"));
    expect(m.stop_reason).toBe("tool_use");
    expect(m.content).toEqual([toolUseBlock("a", "ls", {})]);
  });

  it("turns a refusal into text", () => {
    expect(openAICompletionToAnthropic(completion({ refusal: "I can't help with that." })).content).toEqual([textBlock("I can't help with that.")]);
  });

  it("throws ConversionError for arguments that are not JSON, and for no choices", () => {
    expect(() => openAICompletionToAnthropic(completion({ tool_calls: [{ id: "a", type: "function", function: { name: "ls", arguments: "{bad" } }] }, "tool_calls"))).toThrow(
      ConversionError,
    );
    expect(() => openAICompletionToAnthropic(completion({}, "stop", { choices: [] }))).toThrow(ConversionError);
  });

  it("round-trips through anthropicMessageToOpenAI", () => {
    const original = message([textBlock("Both:"), toolUseBlock("a", "ls", { p: 1 })], {
      stop_reason: "tool_use",
      usage: { ...message([]).usage, input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 50 },
    });
    const back = openAICompletionToAnthropic(anthropicMessageToOpenAI(original), { model: original.model });
    expect(back).toEqual({ ...original, id: "msg_chatcmpl-msg_1", usage: { ...original.usage, cache_creation_input_tokens: null } });
  });
});
