import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { decodeSseEvents } from "@luthien/wire";
import { startStack, waitFor, type MockRecord, type Stack } from "@luthien/testkit";
import { dribble, rawRequest } from "./raw-http";
import { postRaw, readEvents } from "./sse";

const CAPS = "policies:\n  - use: all-caps\n";
const openaiBody = (stream: boolean, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content: "hi" }], ...extra });
const anthropicBody = (stream: boolean, extra: Record<string, unknown> = {}) => ({
  model: "claude-mock-sonnet",
  stream,
  max_tokens: 50,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});
const APIS = [
  { name: "OpenAI", path: "/v1/chat/completions", body: openaiBody },
  { name: "Anthropic", path: "/v1/messages", body: anthropicBody },
] as const;

/** The gateway's log lines written since `from` (an offset into its output). */
const logSince = (stack: Stack, from: number): string => stack.gateway.output().slice(from);

/** Waits until the provider saw the client leave, and returns its record. */
async function providerSawClose(stack: Stack): Promise<MockRecord> {
  return waitFor(
    async () => {
      const [record] = await stack.mockControl.requests();
      return record?.clientClosed === true ? record : undefined;
    },
    { timeoutMs: 5000, what: "the provider to see the connection close" },
  );
}

describe("SSE heartbeats, headers and client disconnects", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: CAPS, gatewayEnv: { SSE_HEARTBEAT_MS: "200" } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it("Anthropic: ping events fill a long silence after message_start, and the SDK reads the stream", async () => {
    await stack.mockControl.script({ chunks: ["quiet ", "thinking"], pauseAfter: 3, pauseMs: 1200 });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(true));
    const { events } = await readEvents(res);
    expect(events[0]?.event).toBe("message_start");
    // The provider sends one ping of its own; the rest are the gateway's, at most one per 200 ms of the pause.
    expect(events.filter((e) => e.event === "ping").length).toBeGreaterThanOrEqual(3);
    expect(events.at(-1)?.event).toBe("message_stop");
    for (const e of events.filter((e) => e.event === "ping")) expect(JSON.parse(e.data)).toEqual({ type: "ping" });

    await stack.mockControl.script({ chunks: ["quiet ", "thinking"], pauseAfter: 3, pauseMs: 1200 });
    const client = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    const message = await client.messages.stream(anthropicBody(false) as Anthropic.MessageCreateParams).finalMessage();
    expect(message.content.map((b) => (b.type === "text" ? b.text : "")).join("")).toBe("QUIET THINKING");
    expect(stack.gateway.output()).not.toContain("stream.protocol_violation");
  });

  it("Anthropic: no ping before message_start, however long the provider is silent", async () => {
    await stack.mockControl.script({ chunks: ["a"], pauseAfter: 0, pauseMs: 1000 });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(true));
    const { events } = await readEvents(res);
    expect(events[0]?.event).toBe("message_start");
    expect(events.at(-1)?.event).toBe("message_stop");
  });

  it("OpenAI: `: ping` comment lines fill a silence, even before the first chunk, and the SDK reads the stream", async () => {
    await stack.mockControl.script({ chunks: ["a", "b"], pauseAfter: 0, pauseMs: 1000 });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(true));
    // As text: an SSE decoder drops comment lines.
    const text = await res.text();
    const beforeFirstChunk = text.slice(0, text.indexOf("data:"));
    expect(beforeFirstChunk.split(": ping\n\n").length - 1).toBeGreaterThanOrEqual(3);
    expect(beforeFirstChunk.replace(/: ping\n\n/g, "")).toBe("");
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);

    await stack.mockControl.script({ chunks: ["a", "b"], pauseAfter: 2, pauseMs: 1000 });
    const client = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const final = await client.chat.completions.stream(openaiBody(false) as OpenAI.ChatCompletionCreateParamsStreaming).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("AB");
    expect(stack.gateway.output()).not.toContain("stream.protocol_violation");
  });

  it.each(APIS)("$name: SSE goes out uncompressed and unbuffered", async ({ path, body }) => {
    const res = await postRaw(`${stack.gateway.url}${path}`, body(true), { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("content-encoding")).toBeNull();
    expect(res.headers.get("content-length")).toBeNull();
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("cache-control")).toContain("no-transform");
    await readEvents(res);
  });

  it("a request over the default 16 KiB of headers gets 431", async () => {
    const res = await rawRequest(stack.gateway.port, { path: "/v1/models", headers: { "x-filler": "a".repeat(17 * 1024) } });
    expect(res.status).toBe(431);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  describe.each(APIS)("$name: a client that disconnects cancels the provider call and the engine stream", ({ path, body }) => {
    /** Starts a call, lets `ready` decide when to leave, aborts, and checks what the provider and the gateway saw. */
    async function leave(o: { stream: boolean; script: object; ready: (res: Promise<Response>) => Promise<void> }): Promise<void> {
      await stack.mockControl.script(o.script);
      const from = stack.gateway.output().length;
      const abort = new AbortController();
      const pending = postRaw(`${stack.gateway.url}${path}`, body(o.stream), { signal: abort.signal });
      pending.catch(() => undefined);
      await o.ready(pending);
      const abortedAt = Date.now();
      abort.abort();
      const record = await providerSawClose(stack);
      expect(record.finished).toBe(false);
      expect((record.closedAt ?? Infinity) - abortedAt).toBeLessThan(1000);
      const logged = await waitFor(() => /call cancelled .*reason=client_closed/.exec(logSince(stack, from))?.[0], { timeoutMs: 5000, what: "the cancel log line" });
      expect(logged).toMatch(/callId=[0-9a-f-]{36}/);
    }
    const providerHasIt = async (): Promise<void> => {
      await waitFor(async () => (await stack.mockControl.requests()).length === 1, { timeoutMs: 5000, what: "the provider call" });
    };

    it("before the first byte of a stream (the provider is still silent)", async () => {
      await leave({ stream: true, script: { delayMs: 10000 }, ready: providerHasIt });
    });

    it("in the middle of a stream", async () => {
      await leave({
        stream: true,
        script: { chunks: Array.from({ length: 50 }, (_, i) => `w${i} `), chunkDelayMs: 100 },
        ready: async (pending) => {
          const res = await pending;
          const events = decodeSseEvents(res.body as unknown as AsyncIterable<Uint8Array>);
          let n = 0;
          for await (const _e of events) if (++n === 5) break;
        },
      });
    });

    it("during a non-streaming call", async () => {
      await leave({ stream: false, script: { delayMs: 10000 }, ready: providerHasIt });
    });
  });
});

describe("GATEWAY_MAX_CALL_MS caps a call's total duration", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policies: CAPS, gatewayEnv: { GATEWAY_MAX_CALL_MS: "1500" } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it("OpenAI stream: an error event (no [DONE]) past the cap, provider and engine stopped", async () => {
    await stack.mockControl.script({ chunks: ["a", "b", "c"], pauseAfter: 3, pauseMs: 20000 });
    const from = stack.gateway.output().length;
    const started = Date.now();
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(true));
    expect(res.status).toBe(200);
    const { events, closedAt } = await readEvents(res);
    expect(closedAt - started).toBeGreaterThanOrEqual(1400);
    expect(closedAt - started).toBeLessThan(10000);
    expect(events.some((e) => e.data === "[DONE]")).toBe(false);
    expect(JSON.parse(events.at(-1)?.data ?? "{}")).toMatchObject({ error: { type: "call_timeout" } });
    expect((await providerSawClose(stack)).finished).toBe(false);
    expect(logSince(stack, from)).toMatch(/call cancelled .*reason=max_call_ms/);
  });

  it("Anthropic stream: an error event after what was already sent", async () => {
    await stack.mockControl.script({ chunks: ["a", "b"], pauseAfter: 4, pauseMs: 20000 });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(true));
    const { events } = await readEvents(res);
    expect(events[0]?.event).toBe("message_start");
    expect(events.at(-1)?.event).toBe("error");
    expect(JSON.parse(events.at(-1)?.data ?? "{}")).toMatchObject({ type: "error", error: { type: "timeout_error" } });
    expect(events.some((e) => e.event === "message_stop")).toBe(false);
    await providerSawClose(stack);
  });

  it.each(APIS)("$name non-streaming: 504 before any byte, provider stopped", async ({ name, path, body }) => {
    await stack.mockControl.script({ delayMs: 20000 });
    const res = await postRaw(`${stack.gateway.url}${path}`, body(false));
    expect(res.status).toBe(504);
    const json = (await res.json()) as Record<string, unknown>;
    if (name === "OpenAI") expect(json).toMatchObject({ error: { type: "call_timeout" } });
    else expect(json).toMatchObject({ type: "error", error: { type: "timeout_error" } });
    await providerSawClose(stack);
  });
});

describe("MAX_BODY_BYTES: 413 at the limit plus one byte", () => {
  const LIMIT = 4096;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { MAX_BODY_BYTES: String(LIMIT) } });
  });
  afterAll(() => stack.stop());

  /** A valid request padded with trailing spaces (still valid JSON) to exactly `size` bytes. */
  const padded = (api: (typeof APIS)[number], size: number): string => {
    const json = JSON.stringify(api.body(false));
    return json + " ".repeat(size - Buffer.byteLength(json));
  };

  it.each(APIS)("$name: exactly the limit passes, one byte more is 413 (Content-Length and chunked)", async (api) => {
    expect((await postRaw(`${stack.gateway.url}${api.path}`, padded(api, LIMIT))).status).toBe(200);
    const over = await postRaw(`${stack.gateway.url}${api.path}`, padded(api, LIMIT + 1));
    expect(over.status).toBe(413);
    expect(JSON.stringify(await over.json())).toContain("request_too_large");
    // Without a Content-Length the limit stops the upload while it is read.
    const bytes = Buffer.from(padded(api, LIMIT + 1));
    const chunked = await fetch(`${stack.gateway.url}${api.path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          c.enqueue(bytes.subarray(0, 1000));
          c.enqueue(bytes.subarray(1000));
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });
});

/**
 * These settings reach the HTTP server through `configureServer`, which `main.ts` must call: they fail when it
 * does not.
 */
describe("HTTP server limits (GATEWAY_MAX_HEADER_BYTES, *_TIMEOUT_MS via configureServer)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gatewayEnv: {
        GATEWAY_MAX_HEADER_BYTES: "4096",
        GATEWAY_HEADERS_TIMEOUT_MS: "500",
        GATEWAY_REQUEST_TIMEOUT_MS: "1500",
        GATEWAY_KEEPALIVE_TIMEOUT_MS: "500",
      },
    });
  });
  afterAll(() => stack.stop());

  it("headers over GATEWAY_MAX_HEADER_BYTES get 431 with an error body both SDKs read", async () => {
    const ok = await rawRequest(stack.gateway.port, { path: "/health", headers: { "x-filler": "a".repeat(3000) } });
    expect(ok.status).toBe(200);
    const res = await rawRequest(stack.gateway.port, { path: "/v1/chat/completions", method: "POST", headers: { "x-filler": "a".repeat(6000) }, body: "{}" });
    expect(res.status).toBe(431);
    expect(res.headers["x-luthien-call-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(res.body)).toMatchObject({ type: "error", error: { type: "request_headers_too_large", message: expect.any(String) } });
  });

  it("slowloris: connections dribbling headers are answered 408 and closed at the headers timeout; others are served", async () => {
    const slow = Array.from({ length: 20 }, (_, i) =>
      dribble(stack.gateway.port, { head: "GET /health HTTP/1.1\r\nHost: x\r\n", drip: () => `x-drip-${i}: y\r\n`, everyMs: 100, giveUpMs: 10000 }),
    );
    const started = Date.now();
    const health = await fetch(`${stack.gateway.url}/health`);
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    for (const closed of await Promise.all(slow)) {
      expect(closed.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(closed.openMs).toBeLessThan(5000);
    }
  });

  it("a body dribbled byte by byte is cut at the request timeout", async () => {
    const closed = await dribble(stack.gateway.port, {
      head: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
      drip: () => " ",
      everyMs: 100,
      giveUpMs: 15000,
    });
    expect(closed.openMs).toBeGreaterThanOrEqual(1000);
    expect(closed.openMs).toBeLessThan(8000);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("an idle keep-alive connection is closed after GATEWAY_KEEPALIVE_TIMEOUT_MS", async () => {
    const closed = await dribble(stack.gateway.port, { head: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", drip: () => "", everyMs: 1000, giveUpMs: 10000 });
    expect(closed.received).toMatch(/^HTTP\/1\.1 200 /);
    // Node's default is 5 s.
    expect(closed.openMs).toBeLessThan(3000);
  });
});
