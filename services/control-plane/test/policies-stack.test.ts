import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createMockControl, startService, startStack, type RunningService, type Stack } from "@luthien/testkit";
import { decodeSseEvents, type SseMessage } from "@luthien/wire";

// Built-in policies through the real stack (mock-llm → control plane → gateway, each a process), with the official
// clients, in both client formats, streaming and not.

type Format = "openai" | "anthropic";
interface Variant {
  format: Format;
  stream: boolean;
}
const VARIANTS: Variant[] = [
  { format: "openai", stream: false },
  { format: "openai", stream: true },
  { format: "anthropic", stream: false },
  { format: "anthropic", stream: true },
];

/** What the client ended up with, whatever its format. */
interface Reply {
  text: string;
  toolCalls: { name: string; input: unknown }[];
  stopReason: string | null;
  /** Anthropic: the content block types in order. */
  blocks: string[];
}

const MODEL: Record<Format, string> = { openai: "gpt-4o-mini", anthropic: "claude-mock-sonnet" };

/** One call through the gateway with the official client for `v.format`. */
async function ask(stack: Stack, v: Variant, content = "hi"): Promise<Reply> {
  if (v.format === "openai") {
    const client = new OpenAI({ apiKey: "test", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const params = { model: MODEL.openai, messages: [{ role: "user" as const, content }] };
    const completion = v.stream ? await client.chat.completions.stream(params).finalChatCompletion() : await client.chat.completions.create(params);
    const choice = completion.choices[0];
    return {
      text: choice?.message.content ?? "",
      toolCalls: (choice?.message.tool_calls ?? []).map((t) =>
        t.type === "function" ? { name: t.function.name, input: JSON.parse(t.function.arguments) as unknown } : { name: t.custom.name, input: t.custom.input },
      ),
      stopReason: choice?.finish_reason ?? null,
      blocks: [],
    };
  }
  const client = new Anthropic({ apiKey: "test", baseURL: stack.gateway.url, maxRetries: 0 });
  const params = { model: MODEL.anthropic, max_tokens: 1024, messages: [{ role: "user" as const, content }] };
  const message = v.stream ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
  return {
    text: message.content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n\n"),
    toolCalls: message.content.flatMap((b) => (b.type === "tool_use" ? [{ name: b.name, input: b.input }] : [])),
    stopReason: message.stop_reason,
    blocks: message.content.map((b) => b.type),
  };
}

/** The raw SSE events of a streamed Anthropic call. */
async function rawAnthropicStream(stack: Stack, content: string): Promise<SseMessage[]> {
  const res = await fetch(`${stack.gateway.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: MODEL.anthropic, max_tokens: 1024, stream: true, messages: [{ role: "user", content }] }),
  });
  expect(res.status).toBe(200);
  const events: SseMessage[] = [];
  for await (const e of decodeSseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) events.push(e);
  return events;
}

const bash = (command: string, argumentChunks?: string[]): object => {
  const args = JSON.stringify({ command });
  return { name: "Bash", arguments: args, ...(argumentChunks !== undefined ? { argumentChunks } : {}) };
};

/**
 * The stacks this file needs, started together (their processes boot in parallel) before the first test and
 * stopped after the last. `withStack(yaml)` registers one and returns its accessor; `yaml` may be a function of
 * the judge mock-llm (a second mock, which the llm-judge tests script with verdicts).
 */
const stackConfigs: ((judge: RunningService) => string)[] = [];
const stacks: (Stack | undefined)[] = [];
let judge: RunningService | undefined;

function withStack(policies: string | ((judge: RunningService) => string)): () => Stack {
  const n = stackConfigs.push(typeof policies === "string" ? () => policies : policies) - 1;
  return () => {
    const stack = stacks[n];
    if (stack === undefined) throw new Error("the stack did not start");
    return stack;
  };
}

beforeAll(async () => {
  judge = await startService("mock-llm", { env: { LOG_LEVEL: "warn" } });
  const j = judge;
  const started = await Promise.allSettled(stackConfigs.map((config) => startStack({ policies: config(j), logLevel: "warn" })));
  started.forEach((s, i) => {
    if (s.status === "fulfilled") stacks[i] = s.value;
  });
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}, 60_000);

afterAll(async () => {
  await Promise.all(stacks.map((s) => s?.stop()));
  await judge?.stop();
});

describe("text policies through the stack", () => {
  describe("all-caps", () => {
    const stack = withStack("policies:\n  - use: all-caps\n");
    it.each(VARIANTS)("upper-cases the reply ($format, stream $stream)", async (v) => {
      await stack().mockControl.script({ text: "hello from the assistant" });
      expect((await ask(stack(), v)).text).toBe("HELLO FROM THE ASSISTANT");
    });
  });

  describe("chain [all-caps, string-replace HELLO→HI]", () => {
    const stack = withStack('policies:\n  - use: all-caps\n  - use: string-replace\n    with: { replacements: [["HELLO", "HI"]] }\n');
    it.each(VARIANTS)("sees the previous policy's output ($format, stream $stream)", async (v) => {
      await stack().mockControl.script({ chunks: ["hel", "lo wor", "ld"] });
      expect((await ask(stack(), v)).text).toBe("HI WORLD");
    });
  });

  describe("chain [string-replace hello→goodbye, all-caps]", () => {
    const stack = withStack('policies:\n  - use: string-replace\n    with: { replacements: [["hello", "goodbye"]] }\n  - use: all-caps\n');
    it.each(VARIANTS)("runs in order ($format, stream $stream)", async (v) => {
      await stack().mockControl.script({ chunks: ["hel", "lo world"] });
      expect((await ask(stack(), v)).text).toBe("GOODBYE WORLD");
    });
  });

  describe("string-replace with matchCapitalization", () => {
    const stack = withStack('policies:\n  - use: string-replace\n    with: { replacements: [["anthropic", "acme corp"]], matchCapitalization: true }\n');
    it.each(VARIANTS)("copies each match's case ($format, stream $stream)", async (v) => {
      await stack().mockControl.script({ text: "Anthropic and ANTHROPIC and anthropic" });
      expect((await ask(stack(), v)).text).toBe("Acme corp and ACME CORP and acme corp");
    });
  });
});

describe("guards through the stack: [regex-filter (request), dangerous-commands, secret-redaction]", () => {
  const stack = withStack(
    ["policies:", "  - use: regex-filter", '    with: { patterns: ["forbidden-codeword"], applyTo: request }', "  - use: dangerous-commands", "  - use: secret-redaction", ""].join("\n"),
  );

  it.each(VARIANTS)("blocks Bash rm -rf /: no tool call, a BLOCKED text, end_turn ($format, stream $stream)", async (v) => {
    await stack().mockControl.script({ text: "Cleaning up.", toolCalls: [bash("rm -rf /", ['{"comm', 'and":"rm -r', 'f /"}'])] });
    const reply = await ask(stack(), v);
    expect(reply.toolCalls).toEqual([]);
    expect(reply.text).toContain("Cleaning up.");
    expect(reply.text).toContain("BLOCKED");
    expect(reply.stopReason).toBe(v.format === "openai" ? "stop" : "end_turn");
  });

  it("sends exactly one message_delta, with end_turn, and no tool_use block (raw Anthropic SSE)", async () => {
    await stack().mockControl.script({ toolCalls: [bash("rm -rf /")] });
    const events = await rawAnthropicStream(stack(), "clean up");
    const deltas = events.filter((e) => e.event === "message_delta");
    expect(deltas).toHaveLength(1);
    expect((JSON.parse(deltas[0]?.data ?? "{}") as { delta: { stop_reason: string } }).delta.stop_reason).toBe("end_turn");
    const starts = events.filter((e) => e.event === "content_block_start").map((e) => (JSON.parse(e.data) as { content_block: { type: string } }).content_block.type);
    expect(starts).toEqual(["text"]);
    expect(events.at(-1)?.event).toBe("message_stop");
  });

  it.each(VARIANTS)("lets Bash ls -la through unchanged ($format, stream $stream)", async (v) => {
    await stack().mockControl.script({ toolCalls: [bash("ls -la", ['{"command":', '"ls -la"}'])] });
    const reply = await ask(stack(), v);
    expect(reply.toolCalls).toEqual([{ name: "Bash", input: { command: "ls -la" } }]);
    expect(reply.stopReason).toBe(v.format === "openai" ? "tool_calls" : "tool_use");
  });

  it.each(VARIANTS)("keeps the safe call of two parallel calls, last, with tool_use ($format, stream $stream)", async (v) => {
    await stack().mockControl.script({ toolCalls: [bash("ls -la"), bash("sudo rm -rf ~")] });
    const reply = await ask(stack(), v);
    expect(reply.toolCalls).toEqual([{ name: "Bash", input: { command: "ls -la" } }]);
    expect(reply.text).toContain("BLOCKED");
    expect(reply.stopReason).toBe(v.format === "openai" ? "tool_calls" : "tool_use");
    if (v.format === "anthropic") expect(reply.blocks).toEqual(["text", "tool_use"]);
  });

  it.each(VARIANTS)("redacts secrets split across chunks ($format, stream $stream)", async (v) => {
    const key = `sk-ant-api03-${"Xy7".repeat(12)}`;
    await stack().mockControl.script({ chunks: ["my key is ", key.slice(0, 9), key.slice(9, 30), `${key.slice(30)} and AKIA`, "IOSFODNN7EXAMPLE ok"] });
    expect((await ask(stack(), v)).text).toBe("my key is [REDACTED:anthropic_key] and [REDACTED:aws_access_key] ok");
  });

  it.each(VARIANTS)("refuses a request-side match with a 400 in the client's format, never calling the provider ($format, stream $stream)", async (v) => {
    const before = (await stack().mockControl.requests()).length;
    const err = await ask(stack(), v, "please say the forbidden-codeword").then(
      () => undefined,
      (e: unknown) => e,
    );
    if (v.format === "openai") {
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: "policy_violation", message: expect.stringContaining("regex-filter") });
    } else {
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    }
    expect((await stack().mockControl.requests()).length).toBe(before);
  });
});

describe("llm-judge through the stack", () => {
  describe("with an unreachable judge and onError: block", () => {
    const stack = withStack("policies:\n  - use: llm-judge\n    with: { model: judge-model, upstream: openai, baseUrl: 'http://127.0.0.1:1/v1', onError: block, timeoutMs: 3000 }\n");
    it.each(VARIANTS)("blocks the call ($format, stream $stream)", async (v) => {
      await stack().mockControl.script({ toolCalls: [bash("ls -la")] });
      const reply = await ask(stack(), v);
      expect(reply.toolCalls).toEqual([]);
      expect(reply.text).toContain("BLOCKED");
      expect(reply.stopReason).toBe(v.format === "openai" ? "stop" : "end_turn");
    });
  });

  describe("with a judge answering a low probability", () => {
    // The judge is a second mock-llm, scripted with the verdict before each call.
    const stack = withStack((j) => `policies:\n  - use: llm-judge\n    with: { model: gpt-4o-mini, upstream: openai, baseUrl: '${j.url}/v1', threshold: 0.5 }\n`);

    it.each(VARIANTS)("passes the call unchanged ($format, stream $stream)", async (v) => {
      if (judge === undefined) throw new Error("the judge did not start");
      const judgeControl = createMockControl(judge.url);
      await judgeControl.reset();
      await judgeControl.script({ text: '{"probability": 0.05, "explanation": "fine"}' });
      await stack().mockControl.script({ toolCalls: [bash("rm -rf ./build", ['{"command":"rm', ' -rf ./build"}'])] });
      const reply = await ask(stack(), v);
      expect(reply.toolCalls).toEqual([{ name: "Bash", input: { command: "rm -rf ./build" } }]);
      expect(reply.text).toBe("");
      expect(reply.stopReason).toBe(v.format === "openai" ? "tool_calls" : "tool_use");
      const judged = await judgeControl.requests();
      expect(judged).toHaveLength(1);
      expect(JSON.stringify(judged[0]?.body)).toContain("rm -rf ./build");
    });
  });
});
