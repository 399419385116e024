import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startService, startStack, type Stack } from "@luthien/testkit";

const dir = mkdtempSync(path.join(tmpdir(), "luthien-routing-"));
const write = (name: string, text: string): string => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe("GATEWAY_CONFIG routes model globs to named providers", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gatewayEnv: (mock) => ({
        AUTH_MODE: "client_key",
        GATEWAY_API_KEYS: "gw",
        LOCAL_KEY: "local-secret",
        GATEWAY_CONFIG: write(
          "gateway.yaml",
          [
            "providers:",
            `  - { name: local, format: openai, baseUrl: "${mock.url}/v1", apiKeyEnv: LOCAL_KEY }`,
            `  - { name: other-claude, format: anthropic, baseUrl: "${mock.url}" }`,
            "routes:",
            '  - { model: "llama*", provider: local }',
            '  - { model: "house-claude", provider: other-claude }',
          ].join("\n"),
        ),
      }),
    });
  });
  afterAll(() => stack.stop());

  it("sends an Anthropic client's llama call to the local OpenAI-compatible server, translated", async () => {
    await stack.mockControl.script({ text: "hi from llama" });
    const m = await new Anthropic({ apiKey: "gw", baseURL: stack.gateway.url, maxRetries: 0 }).messages.create({
      model: "llama3.1:8b",
      max_tokens: 50,
      system: "be brief",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(m.content.map((b) => (b.type === "text" ? b.text : b.type))).toEqual(["hi from llama"]);
    const [seen] = await stack.mockControl.requests();
    expect(seen?.path).toBe("/v1/chat/completions");
    expect(seen?.headers["authorization"]).toBe("Bearer local-secret");
    expect(seen?.body).toMatchObject({
      model: "llama3.1:8b",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello" },
      ],
    });
    await stack.mockControl.reset();
  });

  it("sends an OpenAI client's call for a named model to an Anthropic-format provider", async () => {
    await stack.mockControl.script({ text: "from claude" });
    const c = await new OpenAI({ apiKey: "gw", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions.create({
      model: "house-claude",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(c.choices[0]?.message.content).toBe("from claude");
    const [seen] = await stack.mockControl.requests();
    expect(seen?.path).toBe("/v1/messages");
    await stack.mockControl.reset();
  });
});

describe("a policy that switches the model", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: 'policies:\n  - use: model-router\n    with: { routes: [{ match: "gpt-*", model: "claude-mock-haiku" }] }\n' });
  });
  afterAll(() => stack.stop());

  it("sends the call to the provider of the new model", async () => {
    await stack.mockControl.script({ text: "routed" });
    const c = await new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(c.choices[0]?.message.content).toBe("routed");
    const [seen] = await stack.mockControl.requests();
    expect(seen?.path).toBe("/v1/messages");
    expect(seen?.body).toMatchObject({ model: "claude-mock-haiku" });
  });
});

it("a gateway with an invalid GATEWAY_CONFIG refuses to start and names the field", async () => {
  const err = await startService("gateway", {
    env: { GATEWAY_CONFIG: write("bad.yaml", "routes:\n  - { model: 'x*', provider: nowhere }\n") },
  }).then(
    async (s) => {
      await s.stop();
      return "started";
    },
    (e: Error) => e.message,
  );
  expect(err).toMatch(/routes\[0\]\.provider: unknown provider/);
});
