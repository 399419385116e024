import {
  anthropicRequest,
  anthropicStream,
  createTextPolicy,
  createToolCallGate,
  deny,
  mapText,
  openAIRequest,
  openAIResponse,
  openAIStream,
  responsesRequest,
  responsesStream,
  runPolicy,
  type AnyPolicy,
  type ApprovalOutcome,
  type PolicyEvent,
  type Policy,
  type ToolCallDecision,
} from "@luthien/policy-sdk";

/** Asks about `rm`, allows the rest. */
const asking = createToolCallGate({
  name: "asker",
  decide: (call): ToolCallDecision => ((call.input as { command?: string }).command?.startsWith("rm") === true ? { action: "ask", reason: "it deletes" } : { action: "allow" }),
});
const bash = (command: string) => ({ name: "Bash", input: { command } });
const approved: ApprovalOutcome = { approved: true, by: "alice", note: "", via: "decision" };
const shadowOf = (p: AnyPolicy): AnyPolicy => Object.create(p, { shadow: { value: true } }) as AnyPolicy;

const streams: [string, () => { request: Parameters<typeof runPolicy>[1]["request"]; stream: PolicyEvent[] }][] = [
  ["openai", () => ({ request: openAIRequest("clean"), stream: openAIStream({ text: "Sure.", toolCalls: [bash("rm -rf /"), bash("ls")] }) })],
  ["anthropic", () => ({ request: anthropicRequest("clean"), stream: anthropicStream({ text: "Sure.", toolCalls: [bash("rm -rf /"), bash("ls")] }) })],
  ["responses", () => ({ request: responsesRequest("clean"), stream: responsesStream({ text: "Sure.", toolCalls: [bash("rm -rf /"), bash("ls")] }) })],
];

describe("a tool call held for approval", () => {
  it.each(streams)("%s: approved, the held call goes out unchanged, and the person saw its full arguments", async (_f, input) => {
    const asked: unknown[] = [];
    const run = await runPolicy(asking, { ...input(), approve: (r) => (asked.push(r), approved) });
    expect(run.toolCalls.map((c) => c.input)).toEqual([{ command: "rm -rf /" }, { command: "ls" }]);
    expect(asked).toEqual([expect.objectContaining({ policy: "asker", tool: "Bash", input: { command: "rm -rf /" }, reason: "it deletes", timeoutMs: 300_000 })]);
    expect(run.activity.map((a) => a.action)).toEqual(["held", "approved"]);
  });

  it.each(streams)("%s: denied, expired, cancelled or unavailable, the call is blocked with the reason, the other call still runs", async (_f, input) => {
    const outcomes: ApprovalOutcome[] = [
      { approved: false, by: "bob", note: "not on prod", reason: "denied" },
      { approved: false, by: "", note: "", reason: "expired" },
      { approved: false, by: "", note: "the call ended", reason: "cancelled" },
      { approved: false, by: "", note: "", reason: "unavailable" },
    ];
    for (const outcome of outcomes) {
      const run = await runPolicy(asking, { ...input(), approve: () => outcome });
      expect(run.toolCalls.map((c) => c.input)).toEqual([{ command: "ls" }]);
      expect(run.text).toContain("BLOCKED by asker");
      if (!outcome.approved && outcome.reason === "denied") expect(run.text).toContain("denied by bob: not on prod");
      expect(run.activity.map((a) => a.action)).toEqual(["held", "blocked"]);
    }
  });

  it("without an approver (an engine with no approval channel) the call is blocked, never passed", async () => {
    const run = await runPolicy(asking, streams[1]?.[1]() as never);
    expect(run.toolCalls.map((c) => c.input)).toEqual([{ command: "ls" }]);
  });

  it("a non-streamed response waits for the decision the same way", async () => {
    const request = openAIRequest("clean");
    const response = openAIResponse({ text: "", toolCalls: [bash("rm -rf /")] });
    expect((await runPolicy(asking, { request, response, approve: () => approved })).toolCalls).toHaveLength(1);
    expect((await runPolicy(asking, { request, response })).toolCalls).toHaveLength(0);
  });

  it("the approval timeout of the policy's entry reaches the approver", async () => {
    let timeout = 0;
    const p = Object.create(asking, { approvalTimeoutMs: { value: 90_000 } }) as AnyPolicy;
    await runPolicy(p, { ...streams[0]?.[1](), approve: (r: { timeoutMs: number }) => ((timeout = r.timeoutMs), approved) } as never);
    expect(timeout).toBe(90_000);
  });
});

describe("a policy in shadow", () => {
  const shout = createTextPolicy({ name: "shout", createTransformer: () => mapText((t) => t.toUpperCase()) });
  const denier: Policy = { name: "denier", mode: "SKIP", onRequest: () => deny({ message: "no" }) };

  it.each(streams)("%s: a blocking gate changes nothing, and records would_block", async (_f, input) => {
    const blocking = createToolCallGate({
      name: "blocker",
      decide: (c) => ((c.input as { command: string }).command.startsWith("rm") ? { action: "block", reason: "deletes" } : { action: "allow" }),
    });
    const plain = await runPolicy([], input());
    const shadow = await runPolicy(shadowOf(blocking), input());
    expect(shadow.delivered).toEqual(plain.delivered);
    expect(shadow.activity).toEqual([{ policy: "blocker", action: "would_block", data: expect.objectContaining({ tool: "Bash", reason: "deletes" }) }]);
  });

  it.each(streams)("%s: an asking gate never waits and records would_hold", async (_f, input) => {
    let asked = 0;
    const plain = await runPolicy([], input());
    const shadow = await runPolicy(shadowOf(asking), { ...input(), approve: () => (asked++, approved) });
    expect(asked).toBe(0);
    expect(shadow.delivered).toEqual(plain.delivered);
    expect(shadow.activity.map((a) => a.action)).toEqual(["would_hold"]);
    expect(shadow.activity[0]?.data).toEqual({ tool: "Bash", id: expect.any(String), reason: "it deletes" });
  });

  it("a rewriting text policy records would_modify_response and the next policy sees the original", async () => {
    const seen: string[] = [];
    const spy: Policy = { name: "spy", mode: "FULL", onEvent: (e) => (e.format === "openai" && seen.push(e.chunk.choices[0]?.delta.content ?? ""), [e]) };
    const input = { request: openAIRequest("hi"), stream: openAIStream({ text: "hello there" }) };
    const run = await runPolicy([shadowOf(shout), spy], input);
    expect(run.text).toBe("hello there");
    expect(seen.join("")).toBe("hello there");
    expect(run.activity.map((a) => a.action)).toEqual(["would_modify_response"]);
  });

  it("a denying request policy records would_deny and the request goes on unchanged", async () => {
    const request = openAIRequest("hi");
    const run = await runPolicy(shadowOf(denier), { request, response: openAIResponse({ text: "ok" }) });
    expect(run.request).toBe(request);
    expect(run.activity).toEqual([{ policy: "denier", action: "would_deny", data: { status: 403, type: "permission_error", message: "no" } }]);
  });
});
