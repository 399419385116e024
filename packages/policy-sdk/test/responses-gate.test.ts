import {
  createToolCallGate,
  responsesRequest,
  responsesResponse,
  responsesStream,
  runPolicy,
  type PolicyEvent,
  type PolicyResponse,
  type ToolCall,
  type ToolCallDecision,
} from "@luthien/policy-sdk";
import type { ResponsesOutputItem, ResponsesResponse, ResponsesStreamEvent } from "@luthien/wire";

/** Blocks `rm`, rewrites `echo` to shout, allows the rest; records what it was asked. */
const seen: ToolCall[] = [];
const commandOf = (input: unknown): string => {
  const x = input as { command?: unknown; commands?: unknown };
  const c = x.command ?? x.commands ?? input;
  return Array.isArray(c) ? c.join(" ") : String(c);
};
const gate = createToolCallGate({
  name: "test-gate",
  decide(call): ToolCallDecision {
    seen.push(call);
    const command = commandOf(call.input);
    if (command.includes("rm ")) return { action: "block", reason: "no deleting" };
    if (command.startsWith("echo")) return { action: "rewrite", input: { command: command.toUpperCase() } };
    return { action: "allow" };
  },
});
beforeEach(() => void (seen.length = 0));

const bash = (command: string, chunks?: string[]) => ({ name: "Bash", input: { command }, ...(chunks !== undefined ? { argumentChunks: chunks } : {}) });

function body(r: PolicyResponse | unknown): ResponsesResponse {
  const response = r as PolicyResponse;
  if (response.format !== "responses") throw new Error("not a Responses response");
  return response.body;
}
const eventsOf = (list: readonly PolicyEvent[]): ResponsesStreamEvent[] => list.flatMap((e) => (e.format === "responses" ? [e.event] : []));
const types = (list: readonly PolicyEvent[]): string[] => eventsOf(list).map((e) => e.type);
const kinds = (output: ResponsesOutputItem[]): string[] => output.map((i) => i.type);
const streamed = (list: readonly PolicyEvent[]): ResponsesOutputItem[] => eventsOf(list).flatMap((e) => (e.type === "response.output_item.done" ? [e.item] : []));

/** What stands in a blocked call's place: a whole message item. */
const BLOCKED_MESSAGE_EVENTS = [
  "response.output_item.added",
  "response.content_part.added",
  "response.output_text.delta",
  "response.output_text.done",
  "response.content_part.done",
  "response.output_item.done",
];

/** Events of a recorded stream with extra items, for kinds the builder does not stream itself. */
const withItems = (items: ResponsesOutputItem[], text = "") => responsesStream({ text, items });

describe("createToolCallGate, Responses stream", () => {
  it("replaces a blocked function_call in place by a message, in the stream and in response.completed", async () => {
    const run = await runPolicy(gate, {
      request: responsesRequest("clean up"),
      stream: responsesStream({ text: "Sure.", toolCalls: [bash("rm -rf /", ['{"comm', 'and":"rm -r', 'f /"}'])] }),
    });
    const out = body(run.response);
    expect(kinds(out.output)).toEqual(["message", "message"]);
    expect(out.output[1]).toMatchObject({ id: "msg_blocked_fc_0", content: [{ type: "output_text", text: "⛔ BLOCKED by test-gate: the Bash tool call was not run. Reason: no deleting" }] });
    expect(out.status).toBe("completed");
    expect(out.output_text).toBe("Sure.⛔ BLOCKED by test-gate: the Bash tool call was not run. Reason: no deleting");
    // Nothing of the call reaches the client.
    expect(types(run.delivered).filter((t) => t.startsWith("response.function_call"))).toEqual([]);
    expect(JSON.stringify(run.delivered)).not.toContain("rm -r");
    // The message stands where the call was: output index 1, as a whole item.
    const replaced = eventsOf(run.delivered)
      .filter((e) => "output_index" in e && e.output_index === 1)
      .map((e) => e.type);
    expect(replaced).toEqual(BLOCKED_MESSAGE_EVENTS);
    expect(streamed(run.delivered)).toEqual(out.output);
    expect(run.text).toBe("Sure.\n\n⛔ BLOCKED by test-gate: the Bash tool call was not run. Reason: no deleting");
    expect(run.toolCalls).toEqual([]);
    expect(run.activity.filter((a) => a.policy === "test-gate")).toEqual([{ policy: "test-gate", action: "blocked", data: { tool: "Bash", id: "call_0", reason: "no deleting" } }]);
  });

  it("releases an allowed call's events unchanged and keeps the others' order", async () => {
    const stream = responsesStream({ toolCalls: [bash("rm -rf ~"), bash("ls -la", ['{"command":', '"ls -la"}'])] });
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream });
    const out = body(run.response);
    expect(kinds(out.output)).toEqual(["message", "function_call"]);
    expect(out.output[1]).toMatchObject({ call_id: "call_1", arguments: '{"command":"ls -la"}' });
    const deltas = eventsOf(run.events)
      .filter((e) => e.type === "response.function_call_arguments.delta")
      .map((e) => (e as { delta: string }).delta);
    expect(deltas).toEqual(['{"command":', '"ls -la"}']);
    // The allowed call's own events, as they came (but for the renumbering).
    const original = eventsOf(stream).filter((e) => "output_index" in e && e.output_index === 1);
    const released = eventsOf(run.events).filter((e) => "output_index" in e && e.output_index === 1);
    expect(released).toEqual(original);
    expect(run.toolCalls).toEqual([{ id: "call_1", name: "Bash", input: { command: "ls -la" } }]);
  });

  it("rewrites a call: one arguments delta, and the new arguments in the done item and the final response", async () => {
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream: responsesStream({ toolCalls: [bash("echo hi", ['{"command":"ec', 'ho hi"}'])] }) });
    const list = eventsOf(run.delivered);
    expect(list.filter((e) => e.type === "response.function_call_arguments.delta")).toMatchObject([{ delta: '{"command":"ECHO HI"}' }]);
    expect(list.find((e) => e.type === "response.function_call_arguments.done")).toMatchObject({ name: "Bash", arguments: '{"command":"ECHO HI"}' });
    expect(list.find((e) => e.type === "response.output_item.added" && e.item.type === "function_call")).toMatchObject({ item: { arguments: "", status: "in_progress" } });
    expect(body(run.response).output[0]).toMatchObject({ type: "function_call", call_id: "call_0", arguments: '{"command":"ECHO HI"}', status: "completed" });
    expect(run.activity.filter((a) => a.policy === "test-gate").map((a) => a.action)).toEqual(["rewritten"]);
  });

  it("holds text that follows a call until the call is decided, so order is kept", async () => {
    const stream: PolicyEvent[] = [];
    const base = responsesStream({ toolCalls: [bash("ls")] });
    const message = responsesStream({ text: "after" });
    // created, in_progress, the call's four events, then the message item at output index 1, then completed.
    stream.push(...base.slice(0, 6));
    for (const e of message.slice(2, -1)) {
      if (e.format !== "responses") continue;
      const ev = e.event;
      stream.push({ format: "responses", event: "output_index" in ev ? ({ ...ev, output_index: 1 } as ResponsesStreamEvent) : ev });
    }
    const done = eventsOf(base).at(-1) as Extract<ResponsesStreamEvent, { type: "response.completed" }>;
    const msgItem = eventsOf(message).find((e) => e.type === "response.output_item.done") as Extract<ResponsesStreamEvent, { type: "response.output_item.done" }>;
    stream.push({ format: "responses", event: { ...done, response: { ...done.response, output: [...done.response.output, msgItem.item] } } });
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream });
    expect(kinds(body(run.response).output)).toEqual(["function_call", "message"]);
    expect(run.text).toBe("after");
    const order = eventsOf(run.delivered).flatMap((e) => ("output_index" in e ? [e.output_index] : []));
    expect(order).toEqual([...order].sort());
  });

  it("gates every client-executed kind: custom tools, local shell, shell, apply_patch, MCP approvals", async () => {
    const items: ResponsesOutputItem[] = [
      { type: "custom_tool_call", id: "ctc_1", call_id: "call_c", name: "exec", input: "rm -rf /" },
      { type: "local_shell_call", id: "lsc_1", call_id: "call_l", status: "completed", action: { type: "exec", command: ["rm", "-rf", "/"], env: {} } },
      { type: "shell_call", id: "sh_1", call_id: "call_s", status: "completed", environment: null, action: { commands: ["rm -rf /tmp/x"], max_output_length: null, timeout_ms: null } },
      { type: "apply_patch_call", id: "ap_1", call_id: "call_a", status: "completed", operation: { type: "delete_file", path: "x" } },
      { type: "mcp_approval_request", id: "mcpr_1", server_label: "gh", name: "delete_repo", arguments: '{"repo":"x"}' },
    ];
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream: withItems(items) });
    expect(seen.map((c) => [c.id, c.name])).toEqual([
      ["call_c", "exec"],
      ["call_l", "local_shell"],
      ["call_s", "shell"],
      ["call_a", "apply_patch"],
      ["mcpr_1", "mcp__gh__delete_repo"],
    ]);
    expect(seen[1]?.input).toEqual({ command: ["rm", "-rf", "/"], env: {} });
    // Three blocked (their commands delete), two allowed.
    expect(kinds(body(run.response).output)).toEqual(["message", "message", "message", "apply_patch_call", "mcp_approval_request"]);
    expect(streamed(run.delivered)).toEqual(body(run.response).output);
  });

  it("rewrites a local shell call's command and a custom tool's input", async () => {
    const items: ResponsesOutputItem[] = [{ type: "local_shell_call", id: "lsc_1", call_id: "call_l", status: "completed", action: { type: "exec", command: ["echo", "hi"], env: {} } }];
    const rewriter = createToolCallGate({ name: "rw", decide: (call) => ({ action: "rewrite", input: call.name === "local_shell" ? { command: ["echo", "HI"] } : "safe" }) });
    const run = await runPolicy(rewriter, {
      request: responsesRequest("go"),
      stream: withItems([...items, { type: "custom_tool_call", id: "ctc_1", call_id: "call_c", name: "exec", input: "x" }]),
    });
    expect(body(run.response).output).toMatchObject([
      { type: "local_shell_call", action: { type: "exec", command: ["echo", "HI"], env: {} } },
      { type: "custom_tool_call", input: "safe" },
    ]);
    const bad = createToolCallGate({ name: "bad", decide: () => ({ action: "rewrite", input: { cmd: "ls" } }) });
    await expect(runPolicy(bad, { request: responsesRequest("go"), stream: withItems(items) })).rejects.toThrow(/needs \{command: string\[\]\}/);
  });

  it("lets what the provider ran itself pass undecided", async () => {
    const items: ResponsesOutputItem[] = [
      { type: "web_search_call", id: "ws_1", status: "completed", action: { type: "search", query: "rm -rf /" } },
      { type: "code_interpreter_call", id: "ci_1", status: "completed", code: "print(1)", container_id: "c", outputs: null },
      { type: "reasoning", id: "rs_1", summary: [] },
    ];
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream: withItems(items, "done") });
    expect(seen).toEqual([]);
    expect(kinds(body(run.response).output)).toEqual(["message", "web_search_call", "code_interpreter_call", "reasoning"]);
  });

  it("decides a call that only the final response has", async () => {
    const stream = eventsOf(responsesStream({ toolCalls: [bash("rm -rf /")] })).filter((e) => !("output_index" in e));
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream: stream.map((event) => ({ format: "responses", event })) });
    expect(kinds(body(run.response).output)).toEqual(["message"]);
    expect(seen).toHaveLength(1);
  });

  it("decides a call whose done event never came, on its streamed arguments", async () => {
    const stream = responsesStream({ toolCalls: [bash("rm -rf /", ['{"command":', '"rm -rf /"}'])] }).slice(0, -2);
    const run = await runPolicy(gate, { request: responsesRequest("go"), stream });
    expect(seen).toEqual([{ id: "call_0", name: "Bash", input: { command: "rm -rf /" } }]);
    expect(types(run.events).slice(2)).toEqual(BLOCKED_MESSAGE_EVENTS);
  });

  it("passes a stream without calls untouched", async () => {
    const stream = responsesStream({ text: "hello", chunks: ["hel", "lo"] });
    const run = await runPolicy(gate, { request: responsesRequest("hi"), stream });
    expect(run.events).toEqual(stream);
  });
});

describe("createToolCallGate, Responses fails closed", () => {
  const mutate = (stream: PolicyEvent[], pick: (e: ResponsesStreamEvent) => boolean, change: (e: ResponsesStreamEvent) => ResponsesStreamEvent): PolicyEvent[] =>
    stream.map((e) => (e.format === "responses" && pick(e.event) ? { format: "responses", event: change(e.event) } : e));
  const call = () => responsesStream({ toolCalls: [bash("ls", ['{"command":', '"ls"}'])] });
  const run = (stream: PolicyEvent[]) => runPolicy(gate, { request: responsesRequest("go"), stream });

  it("when a call's identity changes between added, deltas and done", async () => {
    const otherCallId = mutate(
      call(),
      (e) => e.type === "response.output_item.done",
      (e) => ({ ...e, item: { ...(e as { item: object }).item, call_id: "call_x" } }) as ResponsesStreamEvent,
    );
    await expect(run(otherCallId)).rejects.toThrow(/changed identity/);
    const otherName = mutate(
      call(),
      (e) => e.type === "response.function_call_arguments.done",
      (e) => ({ ...e, name: "Other" }) as ResponsesStreamEvent,
    );
    await expect(run(otherName)).rejects.toThrow(/is named Bash, its arguments Other/);
    const otherItem = mutate(
      call(),
      (e) => e.type === "response.function_call_arguments.delta",
      (e) => ({ ...e, item_id: "fc_other" }) as ResponsesStreamEvent,
    );
    await expect(run(otherItem)).rejects.toThrow(/holds item fc_0/);
    // Added as a message, done as a call: the call would have skipped its hold.
    const shell = withItems([{ type: "local_shell_call", id: "lsc_1", call_id: "call_l", status: "completed", action: { type: "exec", command: ["ls"], env: {} } }]);
    const disguised = mutate(
      shell,
      (e) => e.type === "response.output_item.added",
      (e) => ({ ...e, item: { type: "message", id: "lsc_1", role: "assistant", status: "in_progress", content: [] } }) as ResponsesStreamEvent,
    );
    await expect(run(disguised)).rejects.toThrow(/changed identity/);
  });

  it("when the streamed arguments are not the done item's", async () => {
    const swapped = mutate(
      call(),
      (e) => e.type === "response.output_item.done",
      (e) => ({ ...e, item: { ...(e as { item: object }).item, arguments: '{"command":"rm -rf /"}' } }) as ResponsesStreamEvent,
    );
    await expect(run(swapped)).rejects.toThrow(/other arguments/);
  });

  it("when arguments come without their call item, or after its done event", async () => {
    const orphan = call().filter((e) => e.format !== "responses" || e.event.type !== "response.output_item.added");
    await expect(run(orphan)).rejects.toThrow(/outside an open call item/);
    const events = call();
    const late = events.findIndex((e) => e.format === "responses" && e.event.type === "response.function_call_arguments.delta");
    const reordered = [...events.slice(0, -1), events[late] as PolicyEvent, events.at(-1) as PolicyEvent];
    await expect(run(reordered)).rejects.toThrow(/outside an open call item/);
  });

  it("when the final response's call is not the one the stream decided", async () => {
    const differs = mutate(
      call(),
      (e) => e.type === "response.completed",
      (e) => {
        const c = e as Extract<ResponsesStreamEvent, { type: "response.completed" }>;
        return { ...c, response: { ...c.response, output: c.response.output.map((i) => (i.type === "function_call" ? { ...i, arguments: '{"command":"rm -rf /"}' } : i)) } };
      },
    );
    await expect(run(differs)).rejects.toThrow(/differs from the streamed one/);
  });
});

describe("createToolCallGate, Responses response", () => {
  it("replaces blocked items in place, applies rewrites, keeps status and output_text consistent", async () => {
    const run = await runPolicy(gate, {
      request: responsesRequest("go"),
      response: responsesResponse({ text: "Doing it.", toolCalls: [bash("rm -rf /"), bash("pwd"), bash("echo x")] }),
    });
    const out = body(run.response);
    expect(kinds(out.output)).toEqual(["message", "message", "function_call", "function_call"]);
    expect(out.output[1]).toMatchObject({ type: "message", role: "assistant", status: "completed", content: [{ text: expect.stringContaining("BLOCKED") }] });
    expect(out.output[3]).toMatchObject({ arguments: '{"command":"ECHO X"}' });
    expect(out.status).toBe("completed");
    expect(out.output_text).toBe(`Doing it.${(out.output[1] as { content: { text: string }[] }).content[0]?.text}`);
    expect(run.toolCalls.map((c) => c.id)).toEqual(["call_1", "call_2"]);
  });

  it("blocks arguments that are not one complete JSON object without deciding them, as the other formats do", async () => {
    const run = await runPolicy(gate, { request: responsesRequest("go"), response: responsesResponse({ toolCalls: [{ name: "Bash", arguments: "rm -rf / now" }] }) });
    expect(seen).toEqual([]);
    expect(kinds(body(run.response).output)).toEqual(["message"]);
    expect(run.activity).toEqual([
      { policy: "test-gate", action: "blocked", data: { tool: "Bash", id: "call_0", reason: "the Bash call was refused: its arguments are not complete JSON" } },
    ]);
  });
});
