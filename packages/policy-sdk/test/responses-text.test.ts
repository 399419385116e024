import {
  createStringReplacer,
  createTextPolicy,
  mapText,
  requestText,
  responsesRequest,
  responsesResponse,
  responsesStream,
  runPolicy,
  type Policy,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
} from "@luthien/policy-sdk";
import type { ResponsesRequest, ResponsesResponse, ResponsesStreamEvent } from "@luthien/wire";

const replace = (from: string, to: string, applyTo: "request" | "response" | "both" = "response"): Policy<unknown> =>
  createTextPolicy({ name: "replace", applyTo, createTransformer: () => createStringReplacer({ replacements: [[from, to]] }) }) as Policy<unknown>;
const upper = createTextPolicy({ name: "upper", applyTo: "both", createTransformer: () => mapText((t) => t.toUpperCase()) });

function body(r: PolicyResponse | unknown): ResponsesResponse {
  const response = r as PolicyResponse;
  if (response.format !== "responses") throw new Error("not a Responses response");
  return response.body;
}
function requestBody(r: unknown): ResponsesRequest {
  const request = r as PolicyRequest;
  if (request.format !== "responses") throw new Error("not a Responses request");
  return request.body;
}
const events = (run: { delivered: PolicyEvent[] }): ResponsesStreamEvent[] => run.delivered.flatMap((e) => (e.format === "responses" ? [e.event] : []));
const ofType = <T extends ResponsesStreamEvent["type"]>(list: ResponsesStreamEvent[], type: T): Extract<ResponsesStreamEvent, { type: T }>[] =>
  list.filter((e): e is Extract<ResponsesStreamEvent, { type: T }> => e.type === type);

/** Every place a Responses stream repeats a part's text. */
function textsEverywhere(list: ResponsesStreamEvent[]): Record<string, string[]> {
  const completed = ofType(list, "response.completed")[0]?.response;
  return {
    deltas: [
      ofType(list, "response.output_text.delta")
        .map((e) => e.delta)
        .join(""),
    ],
    textDone: ofType(list, "response.output_text.done").map((e) => e.text),
    partDone: ofType(list, "response.content_part.done").flatMap((e) => (e.part.type === "output_text" ? [e.part.text] : [])),
    itemDone: ofType(list, "response.output_item.done").flatMap((e) => (e.item.type === "message" ? e.item.content.flatMap((p) => (p.type === "output_text" ? [p.text] : [])) : [])),
    completed: (completed?.output ?? []).flatMap((i) => (i.type === "message" ? i.content.flatMap((p) => (p.type === "output_text" ? [p.text] : [])) : [])),
    outputText: [completed?.output_text ?? ""],
  };
}

describe("requestText, Responses", () => {
  it("yields instructions, the input string, prompt variables and tool descriptions", () => {
    const request = responsesRequest("hello", {
      instructions: "be brief",
      prompt: { id: "p1", variables: { name: "Ann", topic: { type: "input_text", text: "rust" } } },
      tools: [{ type: "function", name: "f", parameters: null, strict: null, description: "runs f" }, { type: "custom", name: "c", description: "free-form" }, { type: "web_search" }],
    });
    expect([...requestText(request)]).toEqual([
      { where: "instructions", role: "system", text: "be brief" },
      { where: "prompt.variables.name", role: "user", text: "Ann" },
      { where: "prompt.variables.topic", role: "user", text: "rust" },
      { where: "input", role: "user", text: "hello" },
      { where: "tools[0].description", role: "system", text: "runs f" },
      { where: "tools[1].description", role: "system", text: "free-form" },
    ]);
  });

  it("yields every input item kind that carries text, with its place and role", () => {
    const request = responsesRequest([
      { role: "developer", content: "dev rules" },
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_text", text: "look" },
          { type: "input_image", detail: "auto", image_url: "data:image/png;base64,AA" },
        ],
      },
      {
        type: "message",
        id: "msg_1",
        role: "assistant",
        status: "completed",
        content: [
          { type: "output_text", text: "calling", annotations: [] },
          { type: "refusal", refusal: "no" },
        ],
      },
      { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "thinking it over" }] },
      { type: "function_call", call_id: "call_1", name: "Bash", arguments: '{"command":"ls"}' },
      { type: "function_call_output", call_id: "call_1", output: "file.txt" },
      { type: "custom_tool_call", call_id: "call_2", name: "patch", input: "*** Begin Patch" },
      { type: "custom_tool_call_output", call_id: "call_2", output: [{ type: "input_text", text: "patched" }] },
      {
        type: "function_call_output",
        call_id: "call_3",
        output: [
          { type: "input_text", text: "part one" },
          { type: "input_image", image_url: "x" },
        ],
      },
      { type: "local_shell_call", id: "ls_1", call_id: "call_4", status: "completed", action: { type: "exec", command: ["ls", "-la"], env: {} } },
      { type: "local_shell_call_output", id: "call_4", output: "total 0" },
      { type: "shell_call_output", call_id: "call_5", output: [{ stdout: "out", stderr: "err", outcome: { type: "exit", exit_code: 0 } }] },
      { type: "item_reference", id: "msg_0" },
    ]);
    expect([...requestText(request)]).toEqual([
      { where: "input[0].content", role: "system", text: "dev rules" },
      { where: "input[1].content[0]", role: "user", text: "look" },
      { where: "input[2].content[0]", role: "assistant", text: "calling" },
      { where: "input[2].content[1]", role: "assistant", text: "no" },
      { where: "input[3].summary[0].text", role: "assistant", text: "thinking it over" },
      { where: "input[4].arguments", role: "assistant", text: '{"command":"ls"}' },
      { where: "input[5].output", role: "tool", text: "file.txt" },
      { where: "input[6].input", role: "assistant", text: "*** Begin Patch" },
      { where: "input[7].output[0]", role: "tool", text: "patched" },
      { where: "input[8].output[0]", role: "tool", text: "part one" },
      { where: "input[9].action.command", role: "assistant", text: "ls -la" },
      { where: "input[10].output", role: "tool", text: "total 0" },
      { where: "input[11].output[0].stdout", role: "tool", text: "out" },
      { where: "input[11].output[0].stderr", role: "tool", text: "err" },
    ]);
  });
});

describe("createTextPolicy, Responses request", () => {
  it("rewrites instructions, input, message parts and tool outputs, not what the assistant called", async () => {
    const request = responsesRequest(
      [
        { role: "user", content: "say cat" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "a cat" }] },
        { type: "function_call", call_id: "c1", name: "cat", arguments: '{"file":"cat.txt"}' },
        { type: "function_call_output", call_id: "c1", output: "cat food" },
        { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "cat nap" }] },
      ],
      { instructions: "cat rules" },
    );
    const run = await runPolicy(replace("cat", "dog", "request"), { request });
    const out = requestBody(run.request);
    expect(out.instructions).toBe("dog rules");
    expect(out.input).toEqual([
      { role: "user", content: "say dog" },
      { type: "message", role: "user", content: [{ type: "input_text", text: "a dog" }] },
      { type: "function_call", call_id: "c1", name: "cat", arguments: '{"file":"cat.txt"}' },
      { type: "function_call_output", call_id: "c1", output: "dog food" },
      { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "dog nap" }] },
    ]);
    expect(run.activity.map((a) => a.action)).toEqual(["request_modified"]);
  });

  it("rewrites an input string, and returns the same request when nothing changed", async () => {
    const run = await runPolicy(upper, { request: responsesRequest("quiet") });
    expect(requestBody(run.request).input).toBe("QUIET");
    const request = responsesRequest("nothing here");
    expect((await runPolicy(replace("zzz", "y", "request"), { request })).request).toBe(request);
  });
});

describe("createTextPolicy, Responses response", () => {
  it("rewrites output_text parts, drops their logprobs and keeps output_text consistent", async () => {
    const run = await runPolicy(replace("secret", "[x]"), {
      request: responsesRequest("hi"),
      response: responsesResponse({ text: "a secret", logprobs: true, toolCalls: [{ name: "f", input: { q: "secret" } }] }),
    });
    const out = body(run.response);
    expect(out.output[0]).toMatchObject({ type: "message", content: [{ type: "output_text", text: "a [x]", logprobs: [] }] });
    expect(out.output_text).toBe("a [x]");
    // Tool-call arguments are not text.
    expect(out.output[1]).toMatchObject({ type: "function_call", arguments: '{"q":"secret"}' });
    expect(run.text).toBe("a [x]");
  });

  it("leaves an unchanged response as it is, logprobs included", async () => {
    const response = responsesResponse({ text: "plain", logprobs: true });
    const run = await runPolicy(replace("secret", "[x]"), { request: responsesRequest("hi"), response });
    expect(run.response).toBe(response);
  });
});

describe("createTextPolicy, Responses stream", () => {
  it("matches a replacement split across deltas, and every copy of the text agrees", async () => {
    const run = await runPolicy(replace("secret", "[x]"), { request: responsesRequest("hi"), stream: responsesStream({ chunks: ["a sec", "ret b"] }) });
    expect(textsEverywhere(events(run))).toEqual({
      deltas: ["a [x] b"],
      textDone: ["a [x] b"],
      partDone: ["a [x] b"],
      itemDone: ["a [x] b"],
      completed: ["a [x] b"],
      outputText: ["a [x] b"],
    });
    expect(run.text).toBe("a [x] b");
    expect(run.activity.filter((a) => a.policy === "replace").map((a) => a.action)).toEqual(["response_modified"]);
  });

  it("releases held text before the part's output_text.done", async () => {
    const run = await runPolicy(replace("secret", "[x]"), { request: responsesRequest("hi"), stream: responsesStream({ chunks: ["ends with sec"] }) });
    const list = events(run);
    const types = list.map((e) => e.type);
    const lastDelta = types.lastIndexOf("response.output_text.delta");
    expect(lastDelta).toBeLessThan(types.indexOf("response.output_text.done"));
    expect(ofType(list, "response.output_text.delta").map((e) => e.delta)).toEqual(["ends with ", "sec"]);
    expect(run.text).toBe("ends with sec");
  });

  it("drops the logprobs of a part it changed: deltas it altered, done events, the final response", async () => {
    const run = await runPolicy(replace("secret", "[x]"), {
      request: responsesRequest("hi"),
      stream: responsesStream({ chunks: ["keep ", "a sec", "ret"], logprobs: true }),
    });
    const list = events(run);
    const deltas = ofType(list, "response.output_text.delta");
    // "keep " went through as it came, so its logprobs still spell it.
    expect(deltas[0]).toMatchObject({ delta: "keep ", logprobs: [{ token: "keep " }] });
    for (const d of deltas.slice(1)) expect(d.logprobs).toEqual([]);
    expect(ofType(list, "response.output_text.done")[0]?.logprobs).toEqual([]);
    expect(ofType(list, "response.content_part.done")[0]?.part).toMatchObject({ text: "keep a [x]", logprobs: [] });
    expect(body(run.response).output[0]).toMatchObject({ content: [{ text: "keep a [x]", logprobs: [] }] });
  });

  it("keeps logprobs when the text did not change", async () => {
    const run = await runPolicy(replace("secret", "[x]"), { request: responsesRequest("hi"), stream: responsesStream({ chunks: ["all ", "fine"], logprobs: true }) });
    expect(body(run.response).output[0]).toMatchObject({ content: [{ text: "all fine", logprobs: [{ token: "all " }, { token: "fine" }] }] });
  });

  it("transforms a part no delta carried, once, the same in every done event", async () => {
    let transformers = 0;
    const counting = createTextPolicy({ name: "count", createTransformer: () => (transformers++, mapText((t) => t.toUpperCase())) });
    const stream = responsesStream({ text: "whole" }).filter((e) => e.format !== "responses" || e.event.type !== "response.output_text.delta");
    const run = await runPolicy(counting, { request: responsesRequest("hi"), stream });
    const texts = textsEverywhere(events(run));
    expect(texts).toEqual({ deltas: [""], textDone: ["WHOLE"], partDone: ["WHOLE"], itemDone: ["WHOLE"], completed: ["WHOLE"], outputText: ["WHOLE"] });
    expect(transformers).toBe(1);
  });

  it("releases what parts hold when the stream ends without their done events", async () => {
    const stream = responsesStream({ chunks: ["a se"] }).filter(
      (e) => e.format === "responses" && ["response.created", "response.output_item.added", "response.content_part.added", "response.output_text.delta"].includes(e.event.type),
    );
    const ctx = {
      callId: "c",
      format: "responses" as const,
      stream: true,
      keyId: "",
      owner: "",
      userId: "",
      sessionId: "",
      model: "m",
      emit: () => undefined,
      keepalive: () => undefined,
      shadow: false,
      requestApproval: async () => ({ approved: false as const, by: "", note: "", reason: "unavailable" as const }),
    };
    const policy = replace("secret", "[x]");
    const state = policy.createState?.(ctx);
    const out: PolicyEvent[] = [];
    for (const e of stream) out.push(...(await policy.onEvent!(e, { ...ctx, state })));
    out.push(...(await policy.onStreamEnd!({ ...ctx, state })));
    expect(
      ofType(
        out.flatMap((e) => (e.format === "responses" ? [e.event] : [])),
        "response.output_text.delta",
      ).map((e) => e.delta),
    ).toEqual(["a ", "se"]);
  });

  it("passes tool calls untouched and rewrites a reasoning summary like the text", async () => {
    const stream = responsesStream({
      text: "ok",
      toolCalls: [{ name: "Bash", input: { command: "echo ok" } }],
      items: [{ type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "ok" }] }],
    });
    const run = await runPolicy(upper, { request: responsesRequest("hi"), stream });
    expect(run.text).toBe("OK");
    expect(run.toolCalls).toEqual([{ id: "call_0", name: "Bash", input: { command: "echo ok" } }]);
    expect(body(run.response).output[2]).toEqual({ type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "OK" }] });
  });

  it("is caught by the test kit when a policy rewrites deltas but not the final response", async () => {
    const deltasOnly: Policy = {
      name: "deltas-only",
      mode: "FULL",
      onEvent: (e) => [e.format === "responses" && e.event.type === "response.output_text.delta" ? { ...e, event: { ...e.event, delta: e.event.delta.toUpperCase() } } : e],
    };
    await expect(runPolicy(deltasOnly, { request: responsesRequest("hi"), stream: responsesStream({ text: "hi" }) })).rejects.toThrow(/output_text.done/);
  });
});
