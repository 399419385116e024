import {
  anthropicRequest,
  anthropicResponse,
  anthropicStream,
  createToolCallGate,
  openAIRequest,
  openAIResponse,
  openAIStream,
  randomPieces,
  responsesRequest,
  responsesResponse,
  responsesStream,
  runPolicy,
  seededRandom,
  type PolicyEvent,
  type PolicyResponse,
  type ToolCall,
  type ToolCallDecision,
} from "@luthien/policy-sdk";
import type { AnthropicStreamEvent, ChatCompletion, ChatCompletionChunk } from "@luthien/wire";
import { parseToolArguments } from "../src/internal/json";

/** Blocks any call whose input mentions `rm -rf`; records what it was asked. */
const seen: ToolCall[] = [];
const gate = createToolCallGate({
  name: "gate",
  decide(call): ToolCallDecision {
    seen.push(call);
    return JSON.stringify(call.input).includes("rm -rf") ? { action: "block", reason: "no deleting" } : { action: "allow" };
  },
});
beforeEach(() => void (seen.length = 0));

type Delta = ChatCompletionChunk.Choice.Delta;
const base = { id: "chatcmpl-x", object: "chat.completion.chunk" as const, created: 1, model: "gpt-test" };
const chunk = (delta: Delta, finish: ChatCompletionChunk.Choice["finish_reason"] = null): PolicyEvent => ({
  format: "openai",
  chunk: { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] },
});
const openAIChunks = (events: readonly PolicyEvent[]): ChatCompletionChunk[] => events.flatMap((e) => (e.format === "openai" ? [e.chunk] : []));
const deltasOf = (events: readonly PolicyEvent[]): Delta[] => openAIChunks(events).flatMap((c) => c.choices.map((x) => x.delta));
const finishOf = (events: readonly PolicyEvent[]): (string | null | undefined)[] =>
  openAIChunks(events)
    .flatMap((c) => c.choices.map((x) => x.finish_reason))
    .filter((f) => f !== null);
const streamOf = (...deltas: Delta[]): PolicyEvent[] => [chunk({ role: "assistant", content: "" }), ...deltas.map((d) => chunk(d)), chunk({}, "tool_calls")];
const runOpenAI = (stream: PolicyEvent[]) => runPolicy(gate, { request: openAIRequest("go"), stream });

describe("createToolCallGate, the legacy OpenAI function_call", () => {
  const legacy = (args: string[], finish: ChatCompletionChunk.Choice["finish_reason"] = "function_call"): PolicyEvent[] => [
    chunk({ role: "assistant", content: null }),
    chunk({ function_call: { name: "Bash", arguments: "" } }),
    ...args.map((a) => chunk({ function_call: { arguments: a } })),
    chunk({}, finish),
  ];

  it("blocks a streamed function_call: no function_call deltas reach the client, a BLOCKED text, finish stop", async () => {
    const run = await runOpenAI(legacy(['{"comm', 'and":"rm -rf /"}']));
    expect(deltasOf(run.events).some((d) => d.function_call !== undefined)).toBe(false);
    expect(
      deltasOf(run.events)
        .map((d) => d.content ?? "")
        .join(""),
    ).toContain("BLOCKED by gate: the Bash tool call was not run");
    expect(finishOf(run.events)).toEqual(["stop"]);
    expect(seen).toEqual([{ id: "function_call", name: "Bash", input: { command: "rm -rf /" } }]);
  });

  it("releases an allowed function_call as it came, finish function_call", async () => {
    const stream = legacy(['{"command":', '"ls"}']);
    const run = await runOpenAI(stream);
    expect(deltasOf(run.events).flatMap((d) => (d.function_call !== undefined ? [d.function_call] : []))).toEqual([
      { name: "Bash", arguments: "" },
      { arguments: '{"command":' },
      { arguments: '"ls"}' },
    ]);
    expect(finishOf(run.events)).toEqual(["function_call"]);
  });

  it("gates a whole response's function_call", async () => {
    const response = openAIResponse({ text: "Sure." });
    const body = (response as { body: ChatCompletion }).body;
    const choice = body.choices[0] as ChatCompletion.Choice;
    const withCall: PolicyResponse = {
      format: "openai",
      body: { ...body, choices: [{ ...choice, finish_reason: "function_call", message: { ...choice.message, function_call: { name: "Bash", arguments: '{"command":"rm -rf ~"}' } } }] },
    };
    const run = await runPolicy(gate, { request: openAIRequest("go"), response: withCall });
    const out = (run.response as { body: ChatCompletion }).body.choices[0];
    expect(out?.message.function_call).toBeUndefined();
    expect(out?.message.content).toMatch(/^Sure\.\n\n⛔ BLOCKED by gate/);
    expect(out?.finish_reason).toBe("stop");
  });

  it("fails a choice that has both a function_call and tool_calls", async () => {
    const stream = streamOf({ function_call: { name: "Bash", arguments: "{}" } }, { tool_calls: [{ index: 0, id: "c", type: "function", function: { name: "Read", arguments: "{}" } }] });
    await expect(runOpenAI(stream)).rejects.toThrow(/both a function_call and tool_calls/);
  });
});

describe("createToolCallGate fails calls whose identity clients read differently (OpenAI)", () => {
  const first = { index: 0, id: "call_a", type: "function" as const, function: { name: "Bash", arguments: "" } };
  type Extra = { id?: string; function?: { name?: string } };
  const args = (a: string, extra: Extra = {}): Delta => ({
    tool_calls: [{ index: 0, ...(extra.id !== undefined ? { id: extra.id } : {}), function: { arguments: a, ...extra.function } }],
  });
  it.each<[string, Delta[], RegExp]>([
    // openai-node keeps "sh" (the last name), the AI SDK "Ba" (the first): the gate would have decided "Bash".
    ["a name in two deltas", [{ tool_calls: [{ ...first, function: { name: "Ba", arguments: "" } }] }, args('{"command":"x"}', { function: { name: "sh" } })], /named again/],
    ["the same name again", [{ tool_calls: [first] }, args('{"command":"x"}', { function: { name: "Bash" } })], /named again/],
    ["an id that changes", [{ tool_calls: [first] }, args('{"command":"x"}', { id: "call_b" })], /changes its id/],
    ["an id that comes late", [{ tool_calls: [{ ...first, id: undefined as unknown as string }] }, args("{}", { id: "call_b" })], /changes its id/],
    ["arguments before the name", [args('{"command":'), { tool_calls: [{ index: 0, function: { name: "Bash", arguments: '"x"}' } }] }], /starts without a name/],
    ["a blank name", [{ tool_calls: [{ ...first, function: { name: "  ", arguments: "{}" } }] }], /starts without a name/],
    ["one id on two indices", [{ tool_calls: [first] }, { tool_calls: [{ ...first, index: 1 }] }], /same id/],
    ["a type that is not function", [{ tool_calls: [{ ...first, type: "custom" as unknown as "function" }] }], /has type "custom"/],
    ["a negative index", [{ tool_calls: [{ ...first, index: -1 }] }], /index -1/],
    ["arguments that are not a string", [{ tool_calls: [{ ...first, function: { name: "Bash", arguments: { command: "x" } as unknown as string } }] }], /not a string/],
    ["a function_call named twice", [{ function_call: { name: "Bash", arguments: "" } }, { function_call: { name: "Bash", arguments: "{}" } }], /named again/],
  ])("%s", async (_what, deltas, why) => {
    await expect(runOpenAI(streamOf(...deltas))).rejects.toThrow(why);
  });

  it("a call after its choice's finish_reason", async () => {
    const stream = [
      ...streamOf({ tool_calls: [first] }, args("{}")),
      chunk({ tool_calls: [{ index: 1, id: "call_z", type: "function", function: { name: "Bash", arguments: '{"command":"rm -rf /"}' } }] }),
    ];
    await expect(runOpenAI(stream)).rejects.toThrow(/after its finish_reason/);
  });

  it("tolerates what every client reads as one call: empty names and the same id in later deltas", async () => {
    const run = await runOpenAI(streamOf({ tool_calls: [first] }, args('{"command":', { id: "call_a", function: { name: "" } }), args('"ls"}')));
    expect(run.toolCalls).toEqual([{ id: "call_a", name: "Bash", input: { command: "ls" } }]);
  });

  it("two calls with one id in a whole response", async () => {
    const response = openAIResponse({
      toolCalls: [
        { name: "Bash", input: {}, id: "x" },
        { name: "Read", input: {}, id: "x" },
      ],
    });
    await expect(runPolicy(gate, { request: openAIRequest("go"), response })).rejects.toThrow(/two tool calls with the id "x"/);
  });
});

describe("createToolCallGate fails tool_use blocks whose events disagree (Anthropic)", () => {
  const stream = (calls: Parameters<typeof anthropicStream>[0]["toolCalls"] = [{ name: "Bash", input: { command: "ls" } }]): AnthropicStreamEvent[] =>
    anthropicStream({ toolCalls: calls }).flatMap((e) => (e.format === "anthropic" ? [e.event] : []));
  const run = (events: AnthropicStreamEvent[]) => runPolicy(gate, { request: anthropicRequest("go"), stream: events.map((event) => ({ format: "anthropic", event })) });
  const at = (events: AnthropicStreamEvent[], type: string): number => events.findIndex((e) => e.type === type);

  it("a tool_use block in message_start (the SDK starts from that message, past the hold)", async () => {
    const events = stream();
    const start = events[0] as Extract<AnthropicStreamEvent, { type: "message_start" }>;
    events[0] = { ...start, message: { ...start.message, content: [{ type: "tool_use", id: "t", name: "Bash", input: { command: "rm -rf /" }, caller: { type: "direct" } }] } };
    await expect(run(events)).rejects.toThrow(/message_start already carries a tool_use/);
  });

  it("input in the start and in deltas (the SDK keeps only the deltas')", async () => {
    const events = stream([{ name: "Bash", input: { command: "ls" } }]);
    const i = at(events, "content_block_start");
    const start = events[i] as Extract<AnthropicStreamEvent, { type: "content_block_start" }>;
    events[i] = { ...start, content_block: { ...(start.content_block as object), input: { command: "rm -rf /" } } as typeof start.content_block };
    await expect(run(events)).rejects.toThrow(/input both in its start and in input_json_delta/);
  });

  it("another delta kind inside a tool_use block, a delta after its stop, a start over an open tool_use", async () => {
    const text = stream();
    text.splice(at(text, "content_block_stop"), 0, { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x" } });
    await expect(run(text)).rejects.toThrow(/text_delta in tool_use block 0/);
    const late = stream();
    late.splice(at(late, "content_block_stop") + 1, 0, { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "{}" } });
    await expect(run(late)).rejects.toThrow(/after its stop/);
    const over = stream();
    over.splice(at(over, "content_block_stop"), 0, { type: "content_block_start", index: 0, content_block: { type: "text", text: "", citations: null } });
    await expect(run(over)).rejects.toThrow(/starts again while its tool_use block is open/);
  });

  it("two tool_use blocks with one id", async () => {
    await expect(
      run(
        stream([
          { name: "Bash", input: {}, id: "t" },
          { name: "Read", input: {}, id: "t" },
        ]),
      ),
    ).rejects.toThrow(/two tool_use blocks have the id "t"/);
  });

  it("decides a tool_use whose input came whole in its start, as the SDK reads it", async () => {
    const events = stream().filter((e) => !(e.type === "content_block_delta"));
    const i = at(events, "content_block_start");
    const start = events[i] as Extract<AnthropicStreamEvent, { type: "content_block_start" }>;
    events[i] = { ...start, content_block: { ...(start.content_block as object), input: { command: "rm -rf ~" } } as typeof start.content_block };
    const r = await run(events);
    expect(r.toolCalls).toEqual([]);
    expect(seen.map((c) => c.input)).toEqual([{ command: "rm -rf ~" }]);
  });
});

describe("createToolCallGate, Responses: arguments in the added item", () => {
  it("fails when the added item's arguments and the deltas do not join to the done item's (openai-node appends deltas to the added item)", async () => {
    const events = responsesStream({ toolCalls: [{ name: "Bash", input: { command: "ls" } }] }).map((e) => {
      if (e.format !== "responses" || e.event.type !== "response.output_item.added" || e.event.item.type !== "function_call") return e;
      return { ...e, event: { ...e.event, item: { ...e.event.item, arguments: '{"command":"rm -rf /"}' } } };
    });
    await expect(runPolicy(gate, { request: responsesRequest("go"), stream: events })).rejects.toThrow(/streamed other arguments/);
  });
});

/**
 * Class 2: arguments clients parse leniently. Generated from dangerous JSON: every truncation, and garbage, trailing
 * text, non-objects, duplicate and __proto__ keys. Property: a call survives only when its text is one complete JSON
 * object (then `decide` saw exactly `JSON.parse` of it), and no surviving call says `rm -rf`.
 */
describe("createToolCallGate, arguments that are not one complete JSON object (generated)", () => {
  const dangerous = [
    '{"command":"ls -la"}',
    '{"command":"rm -rf ~"}',
    '{"command": "rm -rf /", "description": "clean"}',
    '{"cmd":["sh","-c","rm -rf ~"],"opts":{"force":true}}',
    '{"a":{"b":[1,2,{"command":"rm -rf /home"}]}}',
  ];
  function variants(seed: number): string[] {
    const random = seededRandom(seed);
    const out = new Set<string>();
    for (const json of dangerous) {
      for (let i = 0; i < json.length; i++) out.add(json.slice(0, i));
      out.add(`${json} trailing`);
      out.add(`${json}}`);
      out.add(`${json},{}`);
      out.add(`[${json}]`);
      out.add(JSON.stringify(json));
      out.add(json.replace("{", '{"command":"ls",'));
      out.add(json.replace(/^\{/, '{"__proto__":{"command":"rm -rf ~"},'));
      for (let k = 0; k < 6; k++) {
        // Drop or duplicate one random character.
        const at = Math.floor(random() * json.length);
        out.add(json.slice(0, at) + json.slice(at + 1));
        out.add(json.slice(0, at) + (json[at] ?? "") + json.slice(at));
      }
    }
    return [...out];
  }
  const all = variants(20261125);

  it(`decides only complete objects, blocks the rest, never lets rm -rf through (${all.length} variants, every format)`, async () => {
    expect(all.length).toBeGreaterThan(200);
    let survived = 0;
    for (const text of all) {
      const parsed = parseToolArguments(text);
      const call = { name: "Bash", arguments: text, argumentChunks: randomPieces(seededRandom(text.length), text) };
      const runs = [
        await runPolicy(gate, { request: openAIRequest("go"), stream: openAIStream({ toolCalls: [call] }) }),
        await runPolicy(gate, { request: openAIRequest("go"), response: openAIResponse({ toolCalls: [call] }) }),
        await runPolicy(gate, { request: anthropicRequest("go"), stream: anthropicStream({ toolCalls: [call] }) }),
        await runPolicy(gate, { request: responsesRequest("go"), stream: responsesStream({ toolCalls: [call] }) }),
        await runPolicy(gate, { request: responsesRequest("go"), response: responsesResponse({ toolCalls: [call] }) }),
      ];
      for (const r of runs) {
        const kept = r.toolCalls;
        if (!parsed.ok || JSON.stringify(parsed.value).includes("rm -rf")) {
          expect([text, kept]).toEqual([text, []]);
          expect(r.text).toContain("BLOCKED");
        } else {
          survived++;
          expect([text, kept.map((c) => c.input)]).toEqual([text, [parsed.value]]);
        }
      }
      // `decide` never sees text, a list or a value other than what JSON.parse makes of it.
      for (const c of seen) expect([text, c.input]).toEqual([text, JSON.parse(text.trim() === "" ? "{}" : text)]);
      seen.length = 0;
    }
    // Complete objects without rm -rf survive, in every format: the safe one whole, and "" (read as {}).
    expect(survived).toBeGreaterThanOrEqual(10);
  });

  it("refuses blank-free non-objects, duplicate keys and __proto__, reads blank arguments as {}", () => {
    expect(parseToolArguments("")).toEqual({ ok: true, value: {} });
    expect(parseToolArguments(' {"a":1} ')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseToolArguments('{"command": "rm -rf ~"')).toMatchObject({ ok: false, why: expect.stringMatching(/not complete JSON/) });
    expect(parseToolArguments('"rm -rf ~"')).toMatchObject({ ok: false, why: expect.stringMatching(/not a JSON object/) });
    expect(parseToolArguments('{"command":"rm -rf ~","command":"ls"}')).toMatchObject({ ok: false, why: expect.stringMatching(/"command" twice/) });
    expect(parseToolArguments('{"a":{"x":1},"b":{"x":2}}')).toMatchObject({ ok: true });
    expect(parseToolArguments('{"k":"a\\"b","k2":["k","k"]}')).toMatchObject({ ok: true });
    expect(parseToolArguments('{"__proto__":{"command":"rm -rf ~"}}')).toMatchObject({ ok: false, why: expect.stringMatching(/__proto__/) });
  });

  it("blocks an Anthropic tool_use whose whole-message input is not an object", async () => {
    const response = anthropicResponse({ toolCalls: [{ name: "Bash", input: {} }] });
    const body = (response as { body: { content: { type: string; input?: unknown }[] } }).body;
    const content = body.content.map((b) => (b.type === "tool_use" ? { ...b, input: "rm -rf ~" } : b));
    const run = await runPolicy(gate, { request: anthropicRequest("go"), response: { ...response, body: { ...body, content } } as PolicyResponse });
    expect(run.toolCalls).toEqual([]);
    expect(seen).toEqual([]);
    expect(run.activity[0]?.data).toMatchObject({ reason: "the Bash call was refused: its input is not a JSON object" });
  });
});
