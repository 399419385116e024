import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

/**
 * The OpenAI Responses API as a native client format, through the real stack with the official SDK as client:
 * both provider formats (native OpenAI, cross-format to an Anthropic-format provider), JSON and streams, text and
 * function calls, and the built-in policies applied unchanged.
 */
const PROVIDERS = [
  ["openai", "gpt-4o-mini", "/v1/responses"],
  ["anthropic", "claude-mock-sonnet", "/v1/messages"],
] as const;

const TOOLS: OpenAI.Responses.Tool[] = [
  { type: "function", name: "shell", description: "run a shell command", parameters: { type: "object", properties: { command: { type: "string" } }, required: ["command"] }, strict: false },
];

const client = (stack: Stack): OpenAI => new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });

function textOf(r: OpenAI.Responses.Response): string {
  return r.output.flatMap((i) => (i.type === "message" ? i.content.flatMap((c) => (c.type === "output_text" ? [c.text] : [])) : [])).join("");
}
function callsOf(r: OpenAI.Responses.Response): { name: string; args: unknown }[] {
  return r.output.flatMap((i) => (i.type === "function_call" ? [{ name: i.name, args: JSON.parse(i.arguments) as unknown }] : []));
}

describe.each(PROVIDERS)("Responses client → %s provider", (_provider, model, upstreamPath) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: "policies:\n  - use: all-caps\n" });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it("answers JSON through the response policies", async () => {
    await stack.mockControl.script({ chunks: ["Hello", " world"], usage: { inputTokens: 11, outputTokens: 7 } });
    const r = await client(stack).responses.create({ model, input: "hi", instructions: "be brief" });
    expect(r.object).toBe("response");
    expect(r.status).toBe("completed");
    expect(textOf(r)).toBe("HELLO WORLD");
    expect(r.usage).toMatchObject({ input_tokens: 11, output_tokens: 7 });
    const [seen] = await stack.mockControl.requests();
    expect(seen?.path).toBe(upstreamPath);
  });

  it("streams through the response policies; the SDK's accumulator and the final event agree", async () => {
    await stack.mockControl.script({ chunks: ["Hel", "lo ", "wor", "ld"] });
    const stream = client(stack).responses.stream({ model, input: "hi" });
    let deltas = "";
    for await (const e of stream) if (e.type === "response.output_text.delta") deltas += e.delta;
    const final = await stream.finalResponse();
    expect(deltas).toBe("HELLO WORLD");
    expect(textOf(final)).toBe("HELLO WORLD");
  });

  it("carries function calls, JSON and streamed", async () => {
    const script = { toolCalls: [{ name: "shell", arguments: '{"command":"ls -la"}', argumentChunks: ['{"comm', 'and":"ls', ' -la"}'] }] };
    await stack.mockControl.script(script, script);
    const r = await client(stack).responses.create({ model, input: "list", tools: TOOLS });
    expect(callsOf(r)).toEqual([{ name: "shell", args: { command: "ls -la" } }]);
    const final = await client(stack).responses.stream({ model, input: "list", tools: TOOLS }).finalResponse();
    expect(callsOf(final)).toEqual([{ name: "shell", args: { command: "ls -la" } }]);
  });

  it("refuses stateful requests with a 400 that says why", async () => {
    for (const extra of [{ previous_response_id: "resp_1" }, { background: true }, { conversation: "conv_1" }]) {
      const err = (await client(stack)
        .responses.create({ model, input: "hi", ...extra })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.message).toMatch(/not supported by this gateway/);
    }
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("keeps every client stream valid: sequence numbers rise, one created first, one terminal last", async () => {
    await stack.mockControl.script({ chunks: ["a", "b"], toolCalls: [{ name: "shell", arguments: '{"command":"pwd"}' }] });
    const res = await postRaw(`${stack.gateway.url}/v1/responses`, { model, input: "x", tools: TOOLS, stream: true });
    const { events } = await readEvents(res);
    const data = events.map((e) => JSON.parse(e.data) as { type: string; sequence_number: number });
    expect(data[0]?.type).toBe("response.created");
    expect(data.at(-1)?.type).toBe("response.completed");
    expect(data.filter((d) => d.type === "response.completed")).toHaveLength(1);
    for (const [i, d] of data.entries()) {
      expect(events[i]?.event).toBe(d.type);
      if (i > 0) expect(d.sequence_number).toBeGreaterThan((data[i - 1] as { sequence_number: number }).sequence_number);
    }
  });
});

describe.each(PROVIDERS)("built-in policies on the Responses format (%s provider)", (_provider, model) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      policies: ["policies:", "  - use: dangerous-commands", "  - use: secret-redaction", "  - use: max-tokens", "    with: { limit: 50 }", ""].join("\n"),
    });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  const rmrf = { toolCalls: [{ name: "shell", arguments: '{"command":"rm -rf /"}', argumentChunks: ['{"command":"rm', " -rf", ' /"}'] }] };

  it("dangerous-commands removes a destructive function call from JSON and streams", async () => {
    await stack.mockControl.script(rmrf, rmrf, rmrf);
    const r = await client(stack).responses.create({ model, input: "clean up", tools: TOOLS });
    expect(callsOf(r)).toEqual([]);
    expect(textOf(r)).toMatch(/BLOCKED by dangerous-commands/);
    const final = await client(stack).responses.stream({ model, input: "clean up", tools: TOOLS }).finalResponse();
    expect(callsOf(final)).toEqual([]);
    // No event the client received carries the call or its arguments (the notice only names the command).
    const raw = await postRaw(`${stack.gateway.url}/v1/responses`, { model, input: "clean up", tools: TOOLS, stream: true });
    const { events } = await readEvents(raw);
    expect(events.map((e) => e.event).filter((t) => t?.includes("function_call") === true)).toEqual([]);
    expect(events.map((e) => e.data).join("\n")).not.toMatch(/"type":"function_call"|"arguments"/);
  });

  it("lets a harmless call through", async () => {
    await stack.mockControl.script({ toolCalls: [{ name: "shell", arguments: '{"command":"rm -rf ./build"}' }] });
    const final = await client(stack).responses.stream({ model, input: "clean build", tools: TOOLS }).finalResponse();
    expect(callsOf(final)).toEqual([{ name: "shell", args: { command: "rm -rf ./build" } }]);
  });

  it("secret-redaction redacts output_text split across deltas, in every event", async () => {
    const key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6";
    const script = { chunks: ["your key is ", key.slice(0, 10), key.slice(10), " ok"] };
    await stack.mockControl.script(script, script);
    const r = await client(stack).responses.create({ model, input: "key?" });
    expect(JSON.stringify(r)).not.toContain(key.slice(8));
    const raw = await postRaw(`${stack.gateway.url}/v1/responses`, { model, input: "key?", stream: true });
    const text = (await readEvents(raw)).events.map((e) => e.data).join("\n");
    expect(text).not.toContain(key.slice(8));
    expect(text).toContain("REDACTED");
  });

  it("max-tokens clamps max_output_tokens", async () => {
    await client(stack).responses.create({ model, input: "long", max_output_tokens: 4000 });
    const [seen] = await stack.mockControl.requests();
    const body = seen?.body as { max_output_tokens?: number; max_tokens?: number };
    expect(body.max_output_tokens ?? body.max_tokens).toBe(50);
  });
});
