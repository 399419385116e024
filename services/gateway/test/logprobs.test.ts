import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * Logprobs spell out the tokens the model produced: a client must never get them for text a policy changed (they
 * would give the original back), in JSON or streams, Chat Completions or Responses; unchanged text keeps them (a FULL chain that changes nothing).
 */
const TEXT = { chunks: ["the ", "secret ", "word"] };
const tokens = (lp: { content?: { token: string }[] | null } | null | undefined): string[] => (lp?.content ?? []).map((t) => t.token);

describe.each([
  ["all-caps", true],
  ["dangerous-commands", false],
] as const)("logprobs through a %s chain", (policy, changes) => {
  let stack: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startStack({ policies: `policies:\n  - use: ${policy}\n` });
    client = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  });
  afterAll(() => stack.stop());

  it("chat completions, JSON", async () => {
    await stack.mockControl.script(TEXT);
    const r = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }], logprobs: true, top_logprobs: 2 });
    const choice = r.choices[0];
    if (changes) {
      expect(choice?.message.content).toBe("THE SECRET WORD");
      expect(choice?.logprobs ?? null).toBeNull();
    } else {
      expect(tokens(choice?.logprobs).join("")).toBe("the secret word");
    }
  });

  it("chat completions, streamed", async () => {
    await stack.mockControl.script(TEXT);
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }], logprobs: true, stream: true });
    const seen: string[] = [];
    for await (const c of stream) for (const ch of c.choices) seen.push(...tokens(ch.logprobs));
    expect(seen.join("")).toBe(changes ? "" : "the secret word");
  });

  it("the Responses API, JSON and streamed", async () => {
    const request = { model: "gpt-4o-mini", input: "x", include: ["message.output_text.logprobs" as const] };
    await stack.mockControl.script(TEXT, TEXT);
    const r = await client.responses.create(request);
    const partTokens = r.output.flatMap((i) => (i.type === "message" ? i.content.flatMap((c) => (c.type === "output_text" ? (c.logprobs ?? []).map((l) => l.token) : [])) : []));
    expect(partTokens.join("")).toBe(changes ? "" : "the secret word");
    const seen: string[] = [];
    for await (const e of await client.responses.create({ ...request, stream: true })) {
      if (e.type === "response.output_text.delta" || e.type === "response.output_text.done") seen.push(...e.logprobs.map((l) => l.token));
    }
    if (changes) expect(seen).toEqual([]);
    else expect(seen.join("")).toContain("the secret word");
  });
});
