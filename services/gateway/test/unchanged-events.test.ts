import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type OpenAI from "openai";
import { startFakeEngine, startService, startStack, type FakeEngine, type RunningService, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

/**
 * FULL streams where the engine answers `unchanged` (protocol version 2): the gateway sends the event it asked about,
 * as it had it. Through the real engine, a chain that changes nothing delivers exactly the provider's bytes, and a
 * rewriting one the rewritten events; against a scripted engine, an `unchanged` that also carries events fails the
 * call closed.
 */

type Chunk = OpenAI.ChatCompletionChunk;
const base = { id: "chatcmpl-fixed", object: "chat.completion.chunk" as const, created: 1_700_000_000, model: "gpt-fixed" };
const chunkOf = (delta: Chunk["choices"][number]["delta"], finish: Chunk["choices"][number]["finish_reason"] = null, extra: Partial<Chunk> = {}): Chunk => ({
  ...base,
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  ...extra,
});
/** A provider's stream with text JSON escapes in several ways (quotes, a newline, non-ASCII, an emoji), and usage. */
const CHUNKS: Chunk[] = [
  chunkOf({ role: "assistant", content: "" }),
  chunkOf({ content: 'Say "caf\u00e9"' }),
  chunkOf({ content: " \u2014 then\n" }),
  chunkOf({ content: "\ud83d\ude00 </script> \\ done" }),
  chunkOf({}, "stop"),
  { ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } },
];
/** The events as the provider sends them (the OpenAI SDK's parse then the gateway's JSON.stringify give these back). */
const PROVIDER_DATA = CHUNKS.map((c) => JSON.stringify(c));

/** A provider that answers every chat completion with {@link CHUNKS}, and counts its calls. */
async function startFixedProvider(): Promise<{ url: string; calls(): number; close(): Promise<void> }> {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      calls++;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const d of PROVIDER_DATA) res.write(`data: ${d}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const ask = { model: "gpt-4o-mini", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user" as const, content: "hi" }] };

describe("FULL streams the engine answers unchanged", () => {
  let provider: Awaited<ReturnType<typeof startFixedProvider>>;
  let pass: Stack;
  let caps: Stack;
  beforeAll(async () => {
    provider = await startFixedProvider();
    const gatewayEnv = { OPENAI_UPSTREAM_URL: `${provider.url}/v1` };
    // dangerous-commands is FULL (a tool-call gate): every event waits for its verdict, plain text passes as it came.
    [pass, caps] = await Promise.all([
      startStack({ policies: "policies:\n  - use: dangerous-commands\n", gatewayEnv }),
      startStack({ policies: "policies:\n  - use: all-caps\n", gatewayEnv }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([pass?.stop(), caps?.stop()]);
    await provider?.close();
  });

  it("a chain that changes nothing delivers the provider's events byte for byte", async () => {
    const before = provider.calls();
    const res = await postRaw(`${pass.gateway.url}/v1/chat/completions`, ask);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toBe([...PROVIDER_DATA, "[DONE]"].map((d) => `data: ${d}\n\n`).join(""));
    expect(provider.calls()).toBe(before + 1);
  });

  it("a rewriting chain delivers the rewritten events, everything else as the provider sent it", async () => {
    const res = await postRaw(`${caps.gateway.url}/v1/chat/completions`, ask);
    expect(res.status).toBe(200);
    const { events } = await readEvents(res);
    expect(events.at(-1)?.data).toBe("[DONE]");
    const got = events.slice(0, -1).map((e) => JSON.parse(e.data) as Chunk);
    const text = got.map((c) => c.choices[0]?.delta.content ?? "").join("");
    const original = CHUNKS.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(original.toUpperCase());
    expect(text).not.toBe(original);
    expect(got.at(-1)?.usage).toEqual(CHUNKS.at(-1)?.usage);
    expect(got.find((c) => c.choices[0]?.finish_reason !== null && c.choices[0]?.finish_reason !== undefined)?.choices[0]?.finish_reason).toBe("stop");
  });
});

describe("an unchanged emit that carries events too", () => {
  let engine: FakeEngine;
  let mock: RunningService;
  let gateway: RunningService;
  beforeAll(async () => {
    // The 3rd chunk of every call is answered `unchanged` plus an event: a gateway must not pick either reading.
    engine = await startFakeEngine({ behave: ({ kind, chunkIndex }) => (kind === "chunk" && chunkIndex === 2 ? { do: "malformed", how: "empty" } : undefined) });
    mock = await startService("mock-llm");
    gateway = await startService("gateway", { env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, ANTHROPIC_UPSTREAM_URL: mock.url, POLICY_ENGINE_URL: engine.address } });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([gateway?.stop(), mock?.stop()]);
    await engine?.stop();
  });

  it("fails the stream closed at that chunk: the two before it delivered, then an error event, no [DONE]", async () => {
    const res = await postRaw(`${gateway.url}/v1/chat/completions`, { ...ask, stream_options: undefined });
    expect(res.status).toBe(200);
    const { events } = await readEvents(res);
    expect(events.some((e) => e.data === "[DONE]")).toBe(false);
    const last = JSON.parse(events.at(-1)?.data ?? "{}") as { error?: { type: string } };
    expect(last.error?.type).toBe("policy_unavailable");
    // The first two chunks were answered `unchanged` (the fake engine's default to a version-2 gateway) and went out.
    expect(events.slice(0, -1)).toHaveLength(2);
  });
});
