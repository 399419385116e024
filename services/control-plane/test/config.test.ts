import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import OpenAI from "openai";
import { startStack, waitFor, type Stack } from "@luthien/testkit";

const keyIdOf = (key: string): string => `key_${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
const ask = (model = "gpt-4o-mini") => ({ model, messages: [{ role: "user" as const, content: "hi" }] });

describe("chains and rules", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      policies: [
        "policies:",
        "  - use: noop",
        "chains:",
        "  shout:",
        "    - use: all-caps",
        "  polite:",
        "    - use: string-replace",
        '      with: { replacements: [["hello", "greetings"]] }',
        "    - use: all-caps",
        "rules:",
        `  - { keyId: ${keyIdOf("key-shout")}, chain: shout }`,
        '  - { model: "special-*", chain: polite }',
        "  - { route: /v1/messages, chain: shout }",
      ].join("\n"),
      gatewayEnv: { AUTH_MODE: "client_key", GATEWAY_API_KEYS: "key-shout,key-plain" },
    });
  });
  afterAll(() => stack.stop());
  const client = (key: string): OpenAI => new OpenAI({ apiKey: key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });

  it("picks the chain by key id, model glob and route, first match wins", async () => {
    await stack.mockControl.script({ text: "hello there" }, { text: "hello there" }, { text: "hello there" }, { text: "hello there" });
    expect((await client("key-shout").chat.completions.create(ask())).choices[0]?.message.content).toBe("HELLO THERE");
    expect((await client("key-plain").chat.completions.create(ask())).choices[0]?.message.content).toBe("hello there");
    expect((await client("key-plain").chat.completions.create(ask("special-1"))).choices[0]?.message.content).toBe("GREETINGS THERE");
    const res = await fetch(`${stack.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "key-plain" },
      body: JSON.stringify({ model: "claude-mock-sonnet", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
    });
    const body = (await res.json()) as { content: { text: string }[] };
    expect(body.content[0]?.text).toBe("HELLO THERE");
  });
});

describe("hot reload", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: "policies:\n  - use: noop\n" });
  });
  afterAll(() => stack.stop());
  const client = (): OpenAI => new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const reloads = (): number => (stack.engine?.output().match(/policy config reloaded/g) ?? []).length;
  const rejects = (): number => (stack.engine?.output().match(/policy config rejected/g) ?? []).length;

  it("applies a changed file to the next call, with no failed call during the reload", async () => {
    let stop = false;
    const results: string[] = [];
    const traffic = (async () => {
      while (!stop) {
        const r = await client().chat.completions.create(ask());
        results.push(r.choices[0]?.message.content ?? "");
      }
    })();
    await waitFor(() => results.length >= 5, { what: "traffic" });
    writeFileSync(stack.policyFile, "policies:\n  - use: all-caps\n");
    await waitFor(() => reloads() === 1, { timeoutMs: 5000, what: "reload" });
    await waitFor(() => results.at(-1) === results.at(-1)?.toUpperCase() && results.length > 10, { what: "calls after the reload" });
    stop = true;
    await traffic;
    const first = results.findIndex((t) => t === t.toUpperCase());
    expect(first).toBeGreaterThan(0);
    // Once a call saw the new config, every later one did too.
    expect(results.slice(first).every((t) => t === t.toUpperCase())).toBe(true);
  });

  it("rejects an invalid file and keeps the previous config", async () => {
    writeFileSync(stack.policyFile, "policies:\n  - use: all-caps\n    with: { loud: 1 }\n");
    await waitFor(() => rejects() === 1, { timeoutMs: 5000, what: "rejection" });
    expect(stack.engine?.output()).toMatch(/policy config rejected.*policies\[0\]\.with\.loud/);
    await stack.mockControl.script({ text: "still caps" });
    expect((await client().chat.completions.create(ask())).choices[0]?.message.content).toBe("STILL CAPS");
  });

  it("reloads on SIGHUP and loads custom policy modules relative to the file", async () => {
    const module = path.join(path.dirname(stack.policyFile), "deny-forbidden.js");
    writeFileSync(
      module,
      [
        "// A custom policy: refuses requests that mention a forbidden word.",
        "module.exports = (options) => ({",
        '  name: "deny-forbidden",',
        '  mode: "SKIP",',
        "  onRequest(request, ctx) {",
        "    const text = JSON.stringify(request.body.messages);",
        "    if (!text.includes(options.word)) return request;",
        '    ctx.emit("denied", { word: options.word });',
        '    return { decision: "deny", status: 403, type: "permission_error", message: `mentions ${options.word}` };',
        "  },",
        "});",
      ].join("\n"),
    );
    const before = reloads();
    writeFileSync(stack.policyFile, "policies:\n  - use: ./deny-forbidden.js\n    with: { word: banana }\n");
    stack.engine?.signal("SIGHUP");
    await waitFor(() => reloads() > before, { timeoutMs: 5000, what: "reload" });
    await stack.mockControl.reset();
    const err = await client()
      .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "a banana please" }] })
      .catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toContain("mentions banana");
    expect(await stack.mockControl.requests()).toHaveLength(0);
    await stack.mockControl.script({ text: "fine" });
    expect((await client().chat.completions.create(ask())).choices[0]?.message.content).toBe("fine");
  });
});
