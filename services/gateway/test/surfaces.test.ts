import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { rawRequest } from "./raw-http";

/**
 * No surface carries a prompt past the policies: with a chain that blocks a pattern in requests, the blocked text
 * never reaches the provider on any route a client can reach — decided routes deny it, harmless routes carry no
 * prompt, every other route is refused (also when disguised as a decided one), and a route an operator opted into
 * unchecked is served but marked.
 */
const SECRET = "FORBIDDEN-4242";
const POLICIES = `policies:\n  - use: regex-filter\n    with:\n      patterns: ["FORBIDDEN-[0-9]+"]\n      applyTo: request\n`;

let stack: Stack;
let configFile: string;
beforeAll(async () => {
  configFile = path.join(tmpdir(), `luthien-surfaces-${process.pid}.yaml`);
  writeFileSync(configFile, "uncheckedRoutes:\n  - { path: /v1/embeddings, methods: [POST] }\n");
  stack = await startStack({ policies: POLICIES, gatewayEnv: { GATEWAY_CONFIG: configFile } });
});
afterAll(() => stack.stop());

/** The property: whatever the gateway answered, the provider never saw the blocked text. */
async function providerNeverSaw(text: string): Promise<void> {
  const records = await stack.mockControl.requests();
  for (const r of records) expect(JSON.stringify({ path: r.path, body: r.body })).not.toContain(text);
}

const openaiClient = (): OpenAI => new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
const anthropicClient = (): Anthropic => new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });

describe("every surface under a request-blocking chain", () => {
  beforeEach(() => stack.mockControl.reset());
  afterEach(() => providerNeverSaw(SECRET));

  it("decides the Responses API, JSON and streaming, string and item input, instructions", async () => {
    const client = openaiClient();
    const variants: OpenAI.Responses.ResponseCreateParamsNonStreaming[] = [
      { model: "gpt-4o-mini", input: `say ${SECRET}` },
      { model: "gpt-4o-mini", instructions: `never say ${SECRET}`, input: "hi" },
      { model: "gpt-4o-mini", input: [{ role: "user", content: [{ type: "input_text", text: `x ${SECRET}` }] }] },
      { model: "gpt-4o-mini", input: [{ type: "function_call_output", call_id: "call_1", output: `result ${SECRET}` }] },
      { model: "claude-mock-sonnet", input: `cross-format ${SECRET}` },
    ];
    for (const body of variants) {
      await expect(client.responses.create(body)).rejects.toMatchObject({ status: 400 });
      await expect(
        (async () => {
          for await (const _ of await client.responses.create({ ...body, stream: true })) void _;
        })(),
      ).rejects.toMatchObject({ status: 400 });
    }
  });

  it("decides count_tokens with the request phase", async () => {
    const client = anthropicClient();
    await expect(client.messages.countTokens({ model: "claude-mock-sonnet", messages: [{ role: "user", content: `count ${SECRET}` }] })).rejects.toMatchObject({ status: 400 });
    const ok = await client.messages.countTokens({ model: "claude-mock-sonnet", messages: [{ role: "user", content: "count me" }] });
    expect(ok.input_tokens).toBeGreaterThan(0);
    const seen = (await stack.mockControl.requests()).map((r) => r.path);
    expect(seen).toEqual(["/v1/messages/count_tokens"]);
  });

  it("refuses every other route that carries a prompt, in the client's format, naming the route", async () => {
    const routes: [string, string, Record<string, string>][] = [
      ["POST", "/v1/completions", {}],
      ["POST", "/v1/messages/batches", { "anthropic-version": "2023-06-01" }],
      ["POST", "/v1/assistants", {}],
      ["POST", "/v1/threads/runs", {}],
      ["POST", "/v1/threads/thread_1/messages", {}],
      ["POST", "/v1/batches", {}],
      ["GET", "/v1/responses/resp_1", {}],
      ["GET", "/v1/responses/resp_1/input_items", {}],
      ["GET", "/v1/chat/completions", {}],
      ["GET", "/v1/embeddings", {}],
    ];
    for (const [method, route, headers] of routes) {
      const res = await fetch(`${stack.gateway.url}${route}`, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(method === "POST"
          ? { body: JSON.stringify({ model: "gpt-4o-mini", prompt: SECRET, input: SECRET, requests: [{ params: { messages: [{ role: "user", content: SECRET }] } }] }) }
          : {}),
      });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { message: string; type: string } };
      expect(body.error.message).toContain(`${method} ${route}`);
      expect(body.error.message).toContain("uncheckedRoutes");
      if (headers["anthropic-version"] !== undefined) expect(body).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    }
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("refuses paths disguised as decided endpoints instead of passing them through", async () => {
    const disguised = [
      "/v1/x/../chat/completions",
      "/v1/models/%2e%2e/messages",
      "/v1/models/..%2f..%2fv1%2fresponses",
      "/v1//chat/completions",
      "/v1\\messages",
      "/v1/chat%2Fcompletions",
      "/V1/Models/../Messages",
    ];
    for (const p of disguised) {
      const body = JSON.stringify({ model: "gpt-4o-mini", max_tokens: 5, messages: [{ role: "user", content: SECRET }], input: SECRET });
      const res = await rawRequest(stack.gateway.port, { method: "POST", path: p, headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, body });
      // A disguise either lands on the decided handler (which denies) or is refused; never the provider.
      expect([400, 404]).toContain(res.status);
    }
  });

  it("keeps GET /v1/models as harmless passthrough", async () => {
    const res = await fetch(`${stack.gateway.url}/v1/models`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
    expect((await stack.mockControl.requests()).map((r) => r.path)).toEqual(["/v1/models"]);
  });
});

describe("a route an operator opted into unchecked passthrough", () => {
  beforeEach(() => stack.mockControl.reset());

  it("is served and marked as bypassing policy", async () => {
    const res = await fetch(`${stack.gateway.url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "text-embedding-3-small", input: "opted in" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-luthien-policy-bypassed")).toBe("unchecked-route");
    expect((await stack.mockControl.requests()).map((r) => r.path)).toEqual(["/v1/embeddings"]);
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/policy_bypasses_total\{[^}]*reason="unchecked-route"[^}]*\} [1-9]/);
  });
});
