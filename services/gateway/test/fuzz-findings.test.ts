import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@luthien/runtime";
import { startStack, waitFor, type Stack } from "@luthien/testkit";
import { createGateway } from "../src/app";
import { readGatewayConfig } from "../src/config";
import { postRaw } from "./sse";

/** What the fuzzer found (each was a 500, or a 502 logged for a client that had left), kept as plain repros. */
describe("bodies the fuzzer found", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: "policies:\n  - use: all-caps\n" });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  const deep = (depth: number): string => "[".repeat(depth) + "1" + "]".repeat(depth);

  it.each([
    ["OpenAI → Anthropic provider, tools not a list", "/v1/chat/completions", '{"model":"claude-mock-sonnet","messages":[{"role":"user","content":"hi"}],"tools":""}', "`tools`"],
    [
      "OpenAI → Anthropic provider, content blocks that are not objects",
      "/v1/chat/completions",
      '{"model":"claude-x","messages":[{"role":"assistant","content":[false,1,null,"x"]}]}',
      "messages[0].content[0]",
    ],
    ["Anthropic → OpenAI provider, a null content block", "/v1/messages", '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[null]}]}', "messages[0].content[0]"],
    ["Anthropic, a system prompt that is a number", "/v1/messages", '{"model":"claude-mock-sonnet","max_tokens":5,"system":5,"messages":[]}', "`system`"],
    ["a message that is not an object", "/v1/chat/completions", '{"model":"gpt-4o-mini","messages":[-698361081]}', "messages[0]"],
    ["5,000 levels of nesting (was a stack overflow and a 500)", "/v1/chat/completions", `{"metadata":${deep(5000)},"model":"gpt-4o-mini","messages":[]}`, "nested more than 128 levels"],
    [
      "OpenAI → Anthropic provider, an image part without its URL",
      "/v1/chat/completions",
      '{"model":"claude-x","messages":[{"role":"user","content":[{"type":"image_url","image_url":null}]}]}',
      "",
    ],
  ])("%s → 400, provider never called", async (_what, path, body, says) => {
    const res = await postRaw(`${stack.gateway.url}${path}`, body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(says);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("nesting up to the limit still reaches the provider", async () => {
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, `{"metadata":${deep(120)},"model":"gpt-4o-mini","messages":[]}`);
    expect(res.status).toBe(200);
    expect(await stack.mockControl.requests()).toHaveLength(1);
  });

  it("leaves no internal error in the log", () => {
    expect(stack.gateway.output()).not.toMatch(/ error request failed/);
  });
});

describe("a passthrough client that leaves before the provider answers", () => {
  it("is logged as gone, not as a 502 from an unreachable provider", async () => {
    const lines: string[] = [];
    const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
    const logger: Logger = { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error"), notice: write("notice") };
    let providerCalled = false;
    let providerClosed = false;
    // A provider that never answers, and notices when the gateway gives up on it.
    const slow = http.createServer((req) => {
      providerCalled = true;
      req.socket.on("close", () => (providerClosed = true));
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", () => resolve()));
    const gateway = createGateway(
      readGatewayConfig({ AUTH_MODE: "off", OPENAI_UPSTREAM_URL: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v1`, POLICY_ENGINE_URL: "127.0.0.1:1" }),
      logger,
    );
    const server = gateway.app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    try {
      const abort = new AbortController();
      const pending = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models`, { signal: abort.signal });
      pending.catch(() => undefined);
      await waitFor(() => providerCalled, { timeoutMs: 5000, what: "the provider call" });
      abort.abort();
      await waitFor(() => providerClosed, { timeoutMs: 5000, what: "the provider call to be cancelled" });
      await new Promise((r) => setTimeout(r, 100));
      expect(lines.filter((l) => l.startsWith("error"))).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      gateway.close();
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});
