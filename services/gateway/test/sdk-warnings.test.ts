import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * The Anthropic SDK warns with `console.warn` when a call names a deprecated model (or uses `thinking.type=enabled`
 * where adaptive thinking exists) — on every call, unlabelled, on stderr: under Claude Code that would be a line per
 * turn. The gateway calls providers over plain HTTP, so no SDK sits on its request path to print them.
 */

const DEPRECATED = ["claude-sonnet-4-5", "claude-opus-4-5"];

/** A line the gateway's logger wrote: `12:00:01.234 gateway warn ...`. */
const LOGGER_LINE = /^\d\d:\d\d:\d\d\.\d{3} gateway (debug|info|notice|warn|error) /;

describe("provider SDK warnings", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());
  afterEach(() => jest.restoreAllMocks());

  it("never reach the gateway's output as bare stderr lines", async () => {
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
    const lines = stack.gateway
      .output()
      .split("\n")
      .filter((l) => l !== "");
    // Every line is one of the logger's; no `The model '...' is deprecated` or `Using Claude with ...`.
    expect(lines.filter((l) => !LOGGER_LINE.test(l))).toEqual([]);
    expect(lines.filter((l) => /deprecated|Please migrate|Using Claude with/.test(l))).toEqual([]);
  });
});
