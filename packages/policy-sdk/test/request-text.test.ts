import { anthropicRequest, openAIRequest, requestText } from "@luthien/policy-sdk";

describe("requestText", () => {
  it("yields every OpenAI text carrier with its place and role", () => {
    const request = openAIRequest([
      { role: "system", content: "be brief" },
      { role: "developer", content: [{ type: "text", text: "dev rules" }] },
      {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AA" } },
        ],
      },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "tool output" },
      { role: "assistant", content: "answer" },
    ]);
    expect([...requestText(request)]).toEqual([
      { where: "messages[0].content", role: "system", text: "be brief" },
      { where: "messages[1].content[0]", role: "system", text: "dev rules" },
      { where: "messages[2].content[0]", role: "user", text: "look" },
      // What the assistant called earlier is read too (a request-side block sees it).
      { where: "messages[3].tool_calls[0].function.name", role: "assistant", text: "f" },
      { where: "messages[3].tool_calls[0].function.arguments", role: "assistant", text: "{}" },
      { where: "messages[4].content", role: "tool", text: "tool output" },
      { where: "messages[5].content", role: "assistant", text: "answer" },
    ]);
  });

  it("yields every Anthropic text carrier: system, turns, tool results, text documents", () => {
    const request = anthropicRequest(
      [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hmm", signature: "s" },
            { type: "text", text: "calling" },
            { type: "tool_use", id: "t", name: "f", input: { a: "not text" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "t", content: [{ type: "text", text: "result" }] },
            { type: "tool_result", tool_use_id: "u", content: "plain result" },
            { type: "document", source: { type: "text", media_type: "text/plain", data: "doc body" } },
          ],
        },
      ],
      { system: [{ type: "text", text: "sys" }] },
    );
    expect([...requestText(request)]).toEqual([
      { where: "system[0]", role: "system", text: "sys" },
      { where: "messages[0].content", role: "user", text: "hi" },
      // Thinking and tool_use input are read (never rewritten), and a request-side block sees them.
      { where: "messages[1].content[0].thinking", role: "assistant", text: "hmm" },
      { where: "messages[1].content[1]", role: "assistant", text: "calling" },
      { where: "messages[1].content[2].name", role: "assistant", text: "f" },
      { where: "messages[1].content[2].input", role: "assistant", text: '{"a":"not text"}' },
      { where: "messages[2].content[0].content[0]", role: "tool", text: "result" },
      { where: "messages[2].content[1].content", role: "tool", text: "plain result" },
      { where: "messages[2].content[2].source.data", role: "user", text: "doc body" },
    ]);
    expect([...requestText(anthropicRequest("x", { system: "s" }))][0]).toEqual({ where: "system", role: "system", text: "s" });
  });
});
