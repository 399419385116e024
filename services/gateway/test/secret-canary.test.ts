import { recordScenario, startStack, waitFor, type Stack } from "@luthien/testkit";
import { dribble, rawRequest } from "./raw-http";

/**
 * Credentials planted everywhere a run touches them. None may appear in any answer (body or header) the gateway
 * sends, or in anything the gateway or the engine prints, whatever path a call takes.
 */
const KEYS = {
  openai: "sk-proj-CANARYopenai7f3a9c1e5b2d8a0f",
  anthropic: "sk-ant-api03-CANARYanthropic4e8b2f6a1c9d",
  client1: "lgw-CANARYclient-one-93b1c7e2a5",
  client2: "lgw-CANARYclient-two-27d4f8b6c3",
  /** A key a client presents that the gateway does not know: still a credential, never echoed. */
  wrong: "lgw-CANARYwrong-5c2e9a7d1b",
};
/** Secret-looking text inside prompts: it may reach the provider and come back as content, but never the logs. */
const PROMPT_CANARY = "sk-ant-api03-PROMPTCANARYinuser-text-0000";

const LIMIT = 8192;

interface Seen {
  what: string;
  status: number;
  text: string;
}

describe("secret canaries over a whole run, error paths included", () => {
  let stack: Stack;
  const seen: Seen[] = [];

  beforeAll(async () => {
    stack = await startStack({
      policies: "policies:\n  - use: all-caps\n",
      gatewayEnv: {
        OPENAI_API_KEY: KEYS.openai,
        ANTHROPIC_API_KEY: KEYS.anthropic,
        GATEWAY_API_KEYS: `${KEYS.client1},${KEYS.client2}`,
        AUTH_MODE: "client_key",
        MAX_BODY_BYTES: String(LIMIT),
      },
    });
  });
  afterAll(() => stack.stop());

  /** Sends a call, reads the whole answer (streams included) and keeps it for the final check. */
  async function call(what: string, path: string, o: { body?: unknown; headers?: Record<string, string>; method?: string; signal?: AbortSignal; echoesInput?: boolean } = {}): Promise<Seen> {
    const res = await fetch(`${stack.gateway.url}${path}`, {
      method: o.method ?? "POST",
      headers: { "content-type": "application/json", ...o.headers },
      ...(o.body !== undefined ? { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    });
    const text = `${JSON.stringify([...res.headers])}\n${await res.text()}`;
    const entry = { what, status: res.status, text };
    // A provider echoing the client's own input (the model name) is content, like prompts: only logs are checked.
    if (o.echoesInput !== true) seen.push(entry);
    return entry;
  }
  const openai = (stream: boolean, extra: Record<string, unknown> = {}) => ({
    model: "gpt-4o-mini",
    stream,
    messages: [{ role: "user", content: `please keep ${PROMPT_CANARY} safe` }],
    ...extra,
  });
  const anthropic = (stream: boolean, extra: Record<string, unknown> = {}) => ({
    model: "claude-mock-sonnet",
    stream,
    max_tokens: 30,
    system: `the key is ${PROMPT_CANARY}`,
    messages: [{ role: "user", content: [{ type: "text", text: PROMPT_CANARY }] }],
    ...extra,
  });
  const responses = (stream: boolean, extra: Record<string, unknown> = {}) => ({
    model: "gpt-4o-mini",
    stream,
    instructions: `the key is ${PROMPT_CANARY}`,
    input: [{ role: "user", content: [{ type: "input_text", text: PROMPT_CANARY }] }],
    ...extra,
  });
  const as1 = { authorization: `Bearer ${KEYS.client1}` };
  const as2 = { "x-api-key": KEYS.client2, "anthropic-version": "2023-06-01" };

  it("successful calls: both endpoints, JSON and SSE, same and cross format, passthrough", async () => {
    for (const stream of [false, true]) {
      expect((await call(`openai ${stream}`, "/v1/chat/completions", { body: openai(stream), headers: as1 })).status).toBe(200);
      expect((await call(`openai→anthropic ${stream}`, "/v1/chat/completions", { body: openai(stream, { model: "claude-mock-haiku" }), headers: as1 })).status).toBe(200);
      expect((await call(`anthropic ${stream}`, "/v1/messages", { body: anthropic(stream), headers: as2 })).status).toBe(200);
      expect((await call(`anthropic→openai ${stream}`, "/v1/messages", { body: anthropic(stream, { model: "gpt-4o-mini" }), headers: as2 })).status).toBe(200);
      expect((await call(`responses ${stream}`, "/v1/responses", { body: responses(stream), headers: as1 })).status).toBe(200);
      expect((await call(`responses→anthropic ${stream}`, "/v1/responses", { body: responses(stream, { model: "claude-mock-haiku" }), headers: as1 })).status).toBe(200);
    }
    expect((await call("count_tokens", "/v1/messages/count_tokens", { body: anthropic(false), headers: as2 })).status).toBe(200);
    expect((await call("models", "/v1/models", { method: "GET", headers: as2 })).status).toBe(200);
    // The provider got the server's keys, never the clients'.
    const records = await stack.mockControl.requests();
    const upstreamAuth = records.map((r) => r.headers["x-api-key"] ?? r.headers["authorization"]);
    expect(upstreamAuth.every((a) => a === KEYS.anthropic || a === `Bearer ${KEYS.openai}`)).toBe(true);
  });

  it("401s: a wrong key, no key, a key in the wrong scheme", async () => {
    for (const headers of [
      { "x-api-key": KEYS.wrong },
      { authorization: `Bearer ${KEYS.wrong}` },
      {},
      { authorization: `Basic ${KEYS.client1}` },
      { authorization: `Bearer ${KEYS.openai}` },
    ]) {
      expect((await call("401 messages", "/v1/messages", { body: anthropic(false), headers })).status).toBe(401);
      expect((await call("401 chat", "/v1/chat/completions", { body: openai(true), headers })).status).toBe(401);
      expect((await call("401 passthrough", "/v1/models", { method: "GET", headers })).status).toBe(401);
    }
  });

  it("400s, 404s and 413s that carry keys in the body, the path or the model", async () => {
    expect((await call("bad json", "/v1/messages", { body: `{"api_key": "${KEYS.client2}", "model": `, headers: as2 })).status).toBe(400);
    expect((await call("no model", "/v1/chat/completions", { body: { api_key: KEYS.client1, messages: [] }, headers: as1 })).status).toBe(400);
    expect((await call("bad stream", "/v1/messages", { body: anthropic(false, { stream: KEYS.client2 }), headers: as2 })).status).toBe(400);
    expect((await call("413", "/v1/messages", { body: anthropic(false, { pad: `${KEYS.client2} `.repeat(LIMIT / 10) }), headers: as2 })).status).toBe(413);
    expect((await call("404 ours", `/nope/${KEYS.client1}`, { method: "GET", headers: as1 })).status).toBe(404);
    expect((await call("404 provider", `/v1/models/${KEYS.client2}`, { method: "GET", headers: as2 })).status).toBe(404);
    expect((await call("key as model", "/v1/chat/completions", { body: openai(false, { model: KEYS.client1 }), headers: as1, echoesInput: true })).status).toBe(200);
  });

  it("provider 4xx/5xx whose messages echo the server's keys, before the stream and without one", async () => {
    for (const status of [400, 401, 403, 429, 500, 529]) {
      for (const stream of [false, true]) {
        await stack.mockControl.script({ error: { status, message: `key ${KEYS.openai} / ${KEYS.anthropic} refused` } });
        expect((await call(`provider ${status}`, "/v1/chat/completions", { body: openai(stream), headers: as1 })).status).toBe(status);
        await stack.mockControl.script({ error: { status, type: `t_${KEYS.anthropic}`, message: `x-api-key ${KEYS.anthropic} refused` } });
        expect((await call(`provider ${status}`, "/v1/messages", { body: anthropic(stream), headers: as2 })).status).toBe(status);
        await stack.mockControl.script({ error: { status, message: `key ${KEYS.openai} refused` } });
        expect((await call(`provider ${status}`, "/v1/responses", { body: responses(stream), headers: as1 })).status).toBe(status);
        await stack.mockControl.script({ error: { status, message: `x-api-key ${KEYS.anthropic} refused` } });
        expect((await call(`provider ${status} cross`, "/v1/chat/completions", { body: openai(stream, { model: "claude-mock-haiku" }), headers: as1 })).status).toBe(status);
      }
    }
  });

  it("mid-stream failures and a client that leaves mid-stream", async () => {
    await stack.mockControl.script({ chunks: ["a", "b", "c"], failAfter: 1 }, { chunks: ["a", "b", "c"], failAfter: 2 }, { chunks: ["a", "b", "c"], failAfter: 1 });
    await call("fail mid-stream openai", "/v1/chat/completions", { body: openai(true), headers: as1 });
    await call("fail mid-stream anthropic", "/v1/messages", { body: anthropic(true), headers: as2 });
    await call("fail mid-stream responses", "/v1/responses", { body: responses(true), headers: as1 });
    await stack.mockControl.reset();
    await stack.mockControl.script({ chunks: ["a", "b", "c"], hangAfter: 1 });
    const abort = new AbortController();
    const res = await fetch(`${stack.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...as2 },
      body: JSON.stringify(anthropic(true)),
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    abort.abort();
    await waitFor(async () => (await stack.mockControl.requests())[0]?.clientClosed === true, { timeoutMs: 5000, what: "the provider to see the client leave" });
  });

  it("Node's own parser errors: oversized headers and a garbled request", async () => {
    const big = await rawRequest(stack.gateway.port, { path: "/v1/models", headers: { "x-api-key": KEYS.client1, "x-filler": "a".repeat(20000) } });
    seen.push({ what: "431", status: big.status, text: JSON.stringify(big) });
    expect(big.status).toBe(431);
    const garbled = await dribble(stack.gateway.port, {
      head: `GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEYS.client1}\r\nauthorization: Bearer ${KEYS.wrong}\r\na header line without a colon\r\n\r\n`,
      drip: () => "",
      everyMs: 1000,
      giveUpMs: 5000,
    });
    seen.push({ what: "garbled", status: 400, text: garbled.received });
    expect(garbled.received).toMatch(/^HTTP\/1\.1 400 /);
  });

  it("the engine down: 503 before the stream", async () => {
    stack.engine?.signal("SIGKILL");
    await waitFor(async () => (await fetch(`${stack.gateway.url}/ready`)).status === 503, { timeoutMs: 5000, what: "the engine to be gone" });
    for (const stream of [false, true]) {
      expect((await call("engine down chat", "/v1/chat/completions", { body: openai(stream), headers: as1 })).status).toBe(503);
      expect((await call("engine down messages", "/v1/messages", { body: anthropic(stream), headers: as2 })).status).toBe(503);
    }
  });

  it("no key canary in any answer, nor in the gateway's or the engine's output; no prompt canary in the output", () => {
    expect(seen.length).toBeGreaterThan(60);
    const outputs = { gateway: stack.gateway.output(), engine: stack.engine?.output() ?? "" };
    const hits =
      Object.values(KEYS).reduce((n, key) => n + seen.filter((s) => s.text.includes(key)).length + Object.values(outputs).filter((o) => o.includes(key)).length, 0) +
      Object.values(outputs).filter((o) => o.includes(PROMPT_CANARY)).length;
    recordScenario({ suite: "secret canary", scenario: "canaries over a whole run", failMode: "closed", passed: hits === 0, canaryHits: hits });
    // The run did log: a silent process would pass for the wrong reason.
    expect(outputs.gateway).toMatch(/call failed/);
    for (const [name, key] of Object.entries(KEYS)) {
      const leaks = seen.filter((s) => s.text.includes(key)).map((s) => s.what);
      expect([name, leaks]).toEqual([name, []]);
      for (const [proc, out] of Object.entries(outputs)) expect([name, proc, out.includes(key)]).toEqual([name, proc, false]);
    }
    for (const [proc, out] of Object.entries(outputs)) expect([proc, out.includes(PROMPT_CANARY)]).toEqual([proc, false]);
  });
});
