import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * The format matrix through the real stack with a FULL-mode chain (all-caps): every client API against every
 * provider format, streaming or not, for text, one tool call and two parallel tool calls — read with the SDKs'
 * strict accumulators.
 */
const SCRIPTS = {
  text: { chunks: ["Hello", " wor", "ld"], usage: { inputTokens: 11, outputTokens: 7 } },
  oneTool: {
    toolCalls: [{ name: "get_weather", arguments: '{"city":"Paris"}', argumentChunks: ['{"ci', 'ty":"Par', 'is"}'] }],
    usage: { inputTokens: 11, outputTokens: 7 },
  },
  twoTools: {
    chunks: ["Checking", " both."],
    toolCalls: [
      { name: "get_weather", arguments: '{"city":"Paris"}', argumentChunks: ['{"city":', '"Paris"}'] },
      { name: "get_time", arguments: '{"tz":"CET"}' },
    ],
    usage: { inputTokens: 11, outputTokens: 7 },
  },
} as const;

type Case = keyof typeof SCRIPTS;
const EXPECTED: Record<Case, { text: string; tools: [string, unknown][] }> = {
  text: { text: "HELLO WORLD", tools: [] },
  oneTool: { text: "", tools: [["get_weather", { city: "Paris" }]] },
  twoTools: {
    text: "CHECKING BOTH.",
    tools: [
      ["get_weather", { city: "Paris" }],
      ["get_time", { tz: "CET" }],
    ],
  },
};
const TOOLS = [
  { name: "get_weather", description: "weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } } } },
  { name: "get_time", description: "time", input_schema: { type: "object" as const, properties: { tz: { type: "string" } } } },
];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ policies: "policies:\n  - use: all-caps\n" });
});
afterAll(() => stack.stop());

const providers = [
  ["openai", "gpt-4o-mini"],
  ["anthropic", "claude-mock-sonnet"],
] as const;

describe.each(providers)("OpenAI client → %s provider", (_provider, model) => {
  const client = (): OpenAI => new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const request = {
    model,
    messages: [{ role: "user" as const, content: "weather?" }],
    tools: TOOLS.map((t) => ({ type: "function" as const, function: { name: t.name, description: t.description, parameters: t.input_schema } })),
  };
  const check = (c: OpenAI.ChatCompletion, kase: Case): void => {
    const choice = c.choices[0];
    expect(choice?.message.content ?? "").toBe(EXPECTED[kase].text);
    const calls = (choice?.message.tool_calls ?? []).map((t) => (t.type === "function" ? [t.function.name, JSON.parse(t.function.arguments)] : []));
    expect(calls).toEqual(EXPECTED[kase].tools);
    expect(choice?.finish_reason).toBe(EXPECTED[kase].tools.length > 0 ? "tool_calls" : "stop");
    expect(c.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
  };
  it.each(Object.keys(SCRIPTS) as Case[])("non-streaming %s", async (kase) => {
    await stack.mockControl.script(SCRIPTS[kase]);
    check(await client().chat.completions.create(request), kase);
  });
  it.each(Object.keys(SCRIPTS) as Case[])("streaming %s", async (kase) => {
    await stack.mockControl.script(SCRIPTS[kase]);
    const final = await client()
      .chat.completions.stream({ ...request, stream_options: { include_usage: true } })
      .finalChatCompletion();
    check(final, kase);
  });
});

describe.each(providers)("Anthropic client → %s provider", (_provider, model) => {
  const client = (): Anthropic => new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
  const request = { model, max_tokens: 100, messages: [{ role: "user" as const, content: "weather?" }], tools: TOOLS };
  const check = (m: Anthropic.Message, kase: Case): void => {
    const text = m.content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
    expect(text).toBe(EXPECTED[kase].text);
    const calls = m.content.flatMap((b) => (b.type === "tool_use" ? [[b.name, b.input]] : []));
    expect(calls).toEqual(EXPECTED[kase].tools);
    // Tool calls trail every other block.
    const firstTool = m.content.findIndex((b) => b.type === "tool_use");
    if (firstTool !== -1) expect(m.content.slice(firstTool).every((b) => b.type === "tool_use")).toBe(true);
    expect(m.stop_reason).toBe(EXPECTED[kase].tools.length > 0 ? "tool_use" : "end_turn");
    expect(m.usage).toMatchObject({ input_tokens: 11, output_tokens: 7 });
  };
  it.each(Object.keys(SCRIPTS) as Case[])("non-streaming %s", async (kase) => {
    await stack.mockControl.script(SCRIPTS[kase]);
    check(await client().messages.create(request), kase);
  });
  it.each(Object.keys(SCRIPTS) as Case[])("streaming %s", async (kase) => {
    await stack.mockControl.script(SCRIPTS[kase]);
    check(await client().messages.stream(request).finalMessage(), kase);
  });
});

describe("native Anthropic path", () => {
  const client = (): Anthropic => new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });

  it("keeps a thinking block and its signature byte-identical", async () => {
    const signature = "EqQBCkYIBxgCKkDsig+/==" + "x".repeat(40);
    await stack.mockControl.script({ thinking: { text: "let me think", signature, chunks: ["let me", " think"] }, chunks: ["ok"] });
    const m = await client()
      .messages.stream({ model: "claude-mock-sonnet", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "q" }] })
      .finalMessage();
    const thinking = m.content.find((b) => b.type === "thinking");
    expect(thinking).toEqual({ type: "thinking", thinking: "let me think", signature });
    expect(m.content.find((b) => b.type === "text")).toMatchObject({ text: "OK" });
  });
});
