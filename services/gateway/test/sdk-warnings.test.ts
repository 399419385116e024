import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * The Anthropic SDK inside the gateway warns with `console.warn` when a call names a deprecated model (or uses
 * `thinking.type=enabled` where adaptive thinking exists) — on every call, unlabelled, on stderr: under Claude Code
 * that is a line per turn. The gateway's logger gets them instead, labelled, once per model and warning.
 */

const DEPRECATED = ["claude-sonnet-4-5", "claude-opus-4-5"];

/** A line the gateway's logger wrote: `12:00:01.234 gateway warn ...`. */
const LOGGER_LINE = /^\d\d:\d\d:\d\d\.\d{3} gateway (debug|info|notice|warn|error) /;

describe("provider SDK warnings in the gateway", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());
  afterEach(() => jest.restoreAllMocks());

  it("go through the gateway's logger, once per model, never as bare stderr lines", async () => {
    // This test's own Anthropic client warns too, in the jest process: that is the client's business, not checked here.
    jest.spyOn(console, "warn").mockImplementation(() => undefined);
    const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    for (let turn = 0; turn < 3; turn++) {
      for (const model of DEPRECATED) {
        await anthropic.messages.create({ model, max_tokens: 20, messages: [{ role: "user", content: "hi" }] });
        const stream = await anthropic.messages.create({ model, max_tokens: 20, stream: true, messages: [{ role: "user", content: "hi" }] });
        for await (const _event of stream) void _event;
        // An OpenAI client on a Claude model: the call goes upstream through the same Anthropic SDK.
        await openai.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
      }
      await anthropic.messages.create({ model: "claude-opus-4-6", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "hi" }] });
    }
    const lines = stack.gateway.output().split("\n");
    const warned = lines.filter((l) => /deprecated/.test(l));
    // No bare `The model '...' is deprecated` or `Using Claude with ...` line: each is one of the logger's.
    expect(warned.filter((l) => !LOGGER_LINE.test(l))).toEqual([]);
    expect(lines.filter((l) => /^(The model|Please migrate|Using Claude with)/.test(l))).toEqual([]);
    for (const model of DEPRECATED) {
      const mine = warned.filter((l) => l.includes(`model=${model} `));
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatch(new RegExp(`gateway warn provider sdk warning sdk=anthropic model=${model} warning="The model '${model}' is deprecated`));
    }
    expect(warned.filter((l) => l.includes("model=claude-opus-4-6 ") && l.includes("thinking.type=enabled"))).toHaveLength(1);
  });
});
