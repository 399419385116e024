import {
  anthropicRequest,
  anthropicResponse,
  anthropicStream,
  createToolCallGate,
  openAIRequest,
  openAIResponse,
  openAIStream,
  responsesRequest,
  responsesStream,
  runPolicy,
  type PolicyEvent,
  type PolicyResponse,
  type ToolCallDecision,
} from "@luthien/policy-sdk";
import type { ChatCompletion, Message } from "@luthien/wire";

/** Blocks `rm`, rewrites `echo` to shout, allows the rest. */
const gate = createToolCallGate({
  name: "test-gate",
  decide(call): ToolCallDecision {
    const command = (call.input as { command?: string }).command ?? "";
    if (command.startsWith("rm")) return { action: "block", reason: "no deleting" };
    if (command.startsWith("echo")) return { action: "rewrite", input: { command: command.toUpperCase() } };
    return { action: "allow" };
  },
});

const bash = (command: string, chunks?: string[]) => ({ name: "Bash", input: { command }, ...(chunks !== undefined ? { argumentChunks: chunks } : {}) });

function openAI(r: PolicyResponse | unknown): ChatCompletion {
  const response = r as PolicyResponse;
  if (response.format !== "openai") throw new Error("not an OpenAI response");
  return response.body;
}
function anthropic(r: PolicyResponse | unknown): Message {
  const response = r as PolicyResponse;
  if (response.format !== "anthropic") throw new Error("not an Anthropic response");
  return response.body;
}
const anthropicTypes = (events: PolicyEvent[]): string[] => events.map((e) => (e.format === "anthropic" ? e.event.type : "?"));

describe("createToolCallGate, OpenAI", () => {
  it("blocks a streamed call whose JSON arrives in pieces: text instead, finish stop", async () => {
    const run = await runPolicy(gate, {
      request: openAIRequest("clean up"),
      stream: openAIStream({ text: "Sure.", toolCalls: [bash("rm -rf /", ['{"comm', 'and":"rm -r', 'f /"}'])] }),
    });
    const body = openAI(run.response);
    expect(body.choices[0]?.message.tool_calls).toBeUndefined();
    expect(body.choices[0]?.message.content).toMatch(/^Sure\.\n\n⛔ BLOCKED by test-gate: the Bash tool call was not run\. Reason: no deleting$/);
    expect(body.choices[0]?.finish_reason).toBe("stop");
    expect(run.activity).toEqual([{ policy: "test-gate", action: "blocked", data: { tool: "Bash", id: "call_0", reason: "no deleting" } }]);
    // Usage still arrives, after the finish.
    expect(body.usage?.total_tokens).toBe(20);
  });

  it("keeps the safe call of two, renumbered to index 0, and finish tool_calls", async () => {
    const run = await runPolicy(gate, {
      request: openAIRequest("go"),
      stream: openAIStream({ toolCalls: [bash("rm -rf ~"), bash("ls -la", ['{"command":', '"ls -la"}'])] }),
    });
    const body = openAI(run.response);
    expect(body.choices[0]?.message.tool_calls).toEqual([{ id: "call_1", type: "function", function: { name: "Bash", arguments: '{"command":"ls -la"}' } }]);
    expect(body.choices[0]?.message.content).toContain("BLOCKED");
    expect(body.choices[0]?.finish_reason).toBe("tool_calls");
    const indices = run.delivered.flatMap((e) => (e.format === "openai" ? e.chunk.choices.flatMap((c) => (c.delta.tool_calls ?? []).map((t) => t.index)) : []));
    expect(indices).toEqual([0, 0, 0]);
    // The allowed call's fragments are released as they came.
    const fragments = run.delivered.flatMap((e) => (e.format === "openai" ? e.chunk.choices.flatMap((c) => (c.delta.tool_calls ?? []).map((t) => t.function?.arguments)) : []));
    expect(fragments).toEqual(["", '{"command":', '"ls -la"}']);
  });

  it("rewrites a call's arguments in one fragment", async () => {
    const run = await runPolicy(gate, { request: openAIRequest("go"), stream: openAIStream({ toolCalls: [bash("echo hi", ['{"command":"ec', 'ho hi"}'])] }) });
    expect(openAI(run.response).choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: "Bash", arguments: '{"command":"ECHO HI"}' } });
    expect(run.activity.map((a) => a.action)).toEqual(["rewritten"]);
  });

  it("passes a stream without tool calls untouched", async () => {
    const stream = openAIStream({ text: "hello", chunks: ["hel", "lo"] });
    const run = await runPolicy(gate, { request: openAIRequest("hi"), stream });
    expect(run.events).toEqual(stream);
  });

  it("decides a whole response the same way", async () => {
    const run = await runPolicy(gate, {
      request: openAIRequest("go"),
      response: openAIResponse({ text: "Doing it.", toolCalls: [bash("rm -rf /"), bash("pwd")] }),
    });
    const choice = openAI(run.response).choices[0];
    expect(choice?.message.content).toMatch(/^Doing it\.\n\n⛔ BLOCKED/);
    expect(choice?.message.tool_calls?.map((t) => t.id)).toEqual(["call_1"]);
    expect(choice?.finish_reason).toBe("tool_calls");
    const only = await runPolicy(gate, { request: openAIRequest("go"), response: openAIResponse({ toolCalls: [bash("rm x")] }) });
    expect(openAI(only.response).choices[0]).toMatchObject({ finish_reason: "stop", message: { content: expect.stringContaining("BLOCKED") } });
    expect(openAI(only.response).choices[0]?.message.tool_calls).toBeUndefined();
  });

  it("never touches finish_reason length", async () => {
    const run = await runPolicy(gate, { request: openAIRequest("go"), stream: openAIStream({ toolCalls: [bash("rm x")], finishReason: "length" }) });
    expect(openAI(run.response).choices[0]?.finish_reason).toBe("length");
  });

  it("releases held calls when the stream ends without a finish", async () => {
    const stream = openAIStream({ toolCalls: [bash("ls")] }).slice(0, -2);
    const run = await runPolicy(gate, { request: openAIRequest("go"), stream });
    expect(run.toolCalls).toEqual([{ id: "call_0", name: "Bash", input: { command: "ls" } }]);
  });
});

describe("createToolCallGate, Anthropic", () => {
  it("blocks the only call: a text block, stop_reason end_turn, one message_delta", async () => {
    const run = await runPolicy(gate, {
      request: anthropicRequest("clean up"),
      stream: anthropicStream({ text: "On it.", toolCalls: [bash("rm -rf /", ['{"command":', '"rm -rf /"}'])] }),
    });
    expect(run.events.map((e) => (e.format === "anthropic" ? e.event.type : ""))).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const body = anthropic(run.response);
    expect(body.content.map((b) => b.type)).toEqual(["text", "text"]);
    expect(body.content[1]).toMatchObject({ type: "text", text: expect.stringContaining("BLOCKED") });
    expect(body.stop_reason).toBe("end_turn");
    expect(anthropicTypes(run.delivered).filter((t) => t === "message_delta")).toHaveLength(1);
  });

  it("keeps the safe call trailing after the blocked call's text, stop_reason tool_use", async () => {
    const run = await runPolicy(gate, {
      request: anthropicRequest("go"),
      stream: anthropicStream({ toolCalls: [bash("ls -la"), bash("rm -rf ~")] }),
    });
    // The gate's own output is already valid: indices in order, tool_use last.
    const starts = run.events.flatMap((e) => (e.format === "anthropic" && e.event.type === "content_block_start" ? [[e.event.index, e.event.content_block.type]] : []));
    expect(starts).toEqual([
      [0, "text"],
      [1, "tool_use"],
    ]);
    const body = anthropic(run.response);
    expect(body.content.map((b) => b.type)).toEqual(["text", "tool_use"]);
    expect(body.content[1]).toMatchObject({ name: "Bash", input: { command: "ls -la" } });
    expect(body.stop_reason).toBe("tool_use");
  });

  it("rewrites with one input_json_delta, and leaves thinking and max_tokens alone", async () => {
    const run = await runPolicy(gate, {
      request: anthropicRequest("go"),
      stream: anthropicStream({ thinking: "hmm", toolCalls: [bash("echo x", ['{"command"', ':"echo x"}'])], stopReason: "max_tokens" }),
    });
    const body = anthropic(run.response);
    expect(body.content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    expect(body.content[1]).toMatchObject({ input: { command: "ECHO X" } });
    expect(body.stop_reason).toBe("max_tokens");
    const jsonDeltas = run.events.filter((e) => e.format === "anthropic" && e.event.type === "content_block_delta" && e.event.delta.type === "input_json_delta");
    expect(jsonDeltas).toHaveLength(1);
  });

  it("decides a whole message the same way", async () => {
    const run = await runPolicy(gate, {
      request: anthropicRequest("go"),
      response: anthropicResponse({ text: "Hi", toolCalls: [bash("pwd"), bash("rm -rf /")] }),
    });
    const body = anthropic(run.response);
    expect(body.content.map((b) => b.type)).toEqual(["text", "text", "tool_use"]);
    expect(body.stop_reason).toBe("tool_use");
    const only = await runPolicy(gate, { request: anthropicRequest("go"), response: anthropicResponse({ toolCalls: [bash("rm /x")] }) });
    expect(anthropic(only.response).stop_reason).toBe("end_turn");
  });
});

describe("createToolCallGate with a slow decision", () => {
  it.each([
    ["Anthropic", () => ({ request: anthropicRequest("go"), stream: anthropicStream({ toolCalls: [bash("a"), bash("b")] }) })],
    ["Responses", () => ({ request: responsesRequest("go"), stream: responsesStream({ toolCalls: [bash("a"), bash("b")] }) })],
  ])("sends keepalives while deciding, and decides the calls of one message concurrently (%s)", async (_format, input) => {
    let running = 0;
    let most = 0;
    const slow = createToolCallGate({
      name: "slow",
      keepaliveMs: 20,
      async decide() {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 150));
        running--;
        return { action: "allow" };
      },
    });
    const run = await runPolicy(slow, input());
    expect(run.keepalives).toBeGreaterThan(0);
    expect(most).toBe(2);
    expect(run.toolCalls).toHaveLength(2);
  });

  it("fails the call when decide throws", async () => {
    const broken = createToolCallGate({
      name: "broken",
      decide: () => {
        throw new Error("boom");
      },
    });
    await expect(runPolicy(broken, { request: openAIRequest("go"), stream: openAIStream({ toolCalls: [bash("ls")] }) })).rejects.toThrow("boom");
  });
});
