import { completionToChunks, createAnthropicAccumulator, createOpenAIAccumulator, messageToEvents, StreamProtocolError, type ChatCompletion, type Message } from "@luthien/wire";

describe("stream accumulators", () => {
  it("rebuild an Anthropic message from its events", () => {
    const message: Message = {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-x",
      content: [
        { type: "thinking", thinking: "hmm", signature: "sig" },
        { type: "text", text: "hello", citations: null },
        { type: "tool_use", id: "toolu_1", name: "Bash", input: { command: "ls" }, caller: { type: "direct" } } as Message["content"][number],
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 5 } as Message["usage"],
    } as Message;
    const acc = createAnthropicAccumulator();
    for (const e of messageToEvents(message)) acc.push(e);
    const out = acc.result();
    expect(out?.content.map((b) => b.type)).toEqual(["thinking", "text", "tool_use"]);
    expect(out?.content[1]).toMatchObject({ text: "hello" });
    expect(out?.content[2]).toMatchObject({ name: "Bash", input: { command: "ls" } });
    expect(out?.stop_reason).toBe("tool_use");
    expect(out?.usage.output_tokens).toBe(5);
  });

  it("reject a delta before its block starts", () => {
    const acc = createAnthropicAccumulator();
    expect(() => acc.push({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x" } })).toThrow(StreamProtocolError);
  });

  it("rebuild an OpenAI completion from its chunks", () => {
    const completion: ChatCompletion = {
      id: "c1",
      object: "chat.completion",
      created: 1,
      model: "gpt",
      choices: [
        {
          index: 0,
          finish_reason: "tool_calls",
          logprobs: null,
          message: {
            role: "assistant",
            content: "checking",
            refusal: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "get", arguments: '{"a":1}' } }],
          },
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    };
    const acc = createOpenAIAccumulator();
    for (const c of completionToChunks(completion)) acc.push(c);
    expect(acc.result()).toEqual(completion);
  });
});
