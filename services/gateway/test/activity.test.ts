import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createTestDatabase, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";

/**
 * Activity end to end: gateway and control plane publish to a NATS of the test's own, the monitor stores what
 * arrives in PostgreSQL, and the monitor's API shows every call with exactly its events.
 */
const ADMIN = "admin-key-for-tests";
const LIFECYCLE = ["call.started", "request.received", "request.sent", "response.received", "response.sent", "call.ended"];

interface StoredEvent {
  id: string;
  callId: string;
  seq: number;
  type: string;
  source: string;
  data: Record<string, unknown>;
}

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let stack: Stack;

beforeAll(async () => {
  nats = await startNats();
  db = await createTestDatabase();
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN } });
  stack = await startStack({ natsUrl: nats.url, policies: "policies:\n  - use: all-caps\n" });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await monitor?.stop();
  await nats?.dispose();
  await db?.drop();
});

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${monitor.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function eventsOf(callId: string): Promise<StoredEvent[]> {
  const detail = await api<{ events: StoredEvent[] }>(`/api/calls/${callId}`).catch(() => ({ events: [] }));
  return detail.events;
}

/** Waits until the call's `call.ended` is stored, then returns all its events. */
async function storedCall(callId: string, timeoutMs = 20_000): Promise<StoredEvent[]> {
  await waitFor(async () => (await eventsOf(callId)).some((e) => e.type === "call.ended"), { timeoutMs, what: `events of ${callId}` });
  // Policy events come from the other process; give them a moment to land too.
  await new Promise((r) => setTimeout(r, 300));
  return eventsOf(callId);
}

function checkComplete(events: StoredEvent[]): void {
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  for (const source of ["gateway", "control-plane"]) {
    const seqs = events
      .filter((e) => e.source === source)
      .map((e) => e.seq)
      .sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  }
  const gatewayTypes = events.filter((e) => e.source === "gateway").map((e) => e.type);
  expect(gatewayTypes).toEqual(expect.arrayContaining(LIFECYCLE));
  for (const t of LIFECYCLE) expect(gatewayTypes.filter((x) => x === t)).toHaveLength(1);
}

describe("activity events from gateway and control plane reach the monitor", () => {
  it("stores every call's lifecycle and policy events exactly once, streams included", async () => {
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    await stack.mockControl.script({ text: "hello one" }, { chunks: ["hello", " two"] }, { chunks: ["hello", " three"] });
    const ids: string[] = [];
    const json = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "a" }] }).withResponse();
    ids.push(json.response.headers.get("x-luthien-call-id") ?? "");
    const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "b" }] }).withResponse();
    for await (const _ of stream.data) void _;
    ids.push(stream.response.headers.get("x-luthien-call-id") ?? "");
    const msg = anthropic.messages.stream({ model: "claude-mock-sonnet", max_tokens: 20, messages: [{ role: "user", content: "c" }] });
    await msg.finalMessage();
    ids.push((await msg.withResponse()).response.headers.get("x-luthien-call-id") ?? "");

    for (const id of ids) {
      const events = await storedCall(id);
      checkComplete(events);
      expect(events.some((e) => e.source === "control-plane" && e.type === "policy.all-caps.response_modified")).toBe(true);
      const ended = events.find((e) => e.type === "call.ended");
      expect(ended?.data).toMatchObject({ status: 200, outcome: "ok" });
    }
    // For streams, original and final are the assembled messages: the policy's change shows in the diff.
    const detail = await api<{ response: { original: unknown; final: unknown } }>(`/api/calls/${ids[1]}`);
    expect(JSON.stringify(detail.response.original)).toContain("hello two");
    expect(JSON.stringify(detail.response.final)).toContain("HELLO TWO");
  });

  it("shows calls refused before they started (400, 401) with the error the client got", async () => {
    const guarded = await startService("gateway", {
      env: { NATS_URL: nats.url, OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, POLICY_ENGINE_URL: stack.engine?.address ?? "", GATEWAY_API_KEYS: "the-key", AUTH_MODE: "client_key" },
    });
    try {
      const post = (url: string, body: unknown, key: string): Promise<Response> =>
        fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
      const bad = await post(guarded.url, { model: "gpt-4o-mini", messages: "not a list" }, "the-key");
      const unauthorized = await post(guarded.url, { model: "gpt-4o-mini", messages: [] }, "wrong-key-value");
      expect([bad.status, unauthorized.status]).toEqual([400, 401]);
      // Auth runs before the body is read, so a 401 knows no model.
      for (const [res, status, type, model] of [
        [bad, 400, "invalid_request_error", "gpt-4o-mini"],
        [unauthorized, 401, "authentication_error", ""],
      ] as const) {
        const events = await storedCall(res.headers.get("x-luthien-call-id") ?? "");
        expect(events.map((e) => e.type)).toEqual(["call.started", "call.ended"]);
        expect(events[0]?.data).toMatchObject({ model, route: "/v1/chat/completions", format: "openai" });
        expect(events[1]?.data).toMatchObject({ status, outcome: "error", error: { type } });
        expect(JSON.stringify(events)).not.toContain("wrong-key-value");
      }
    } finally {
      await guarded.stop();
    }
  });

  it("serves every call while NATS is away, and stores every event once it is back", async () => {
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    await nats.stop();
    const ids: string[] = [];
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }).withResponse();
      expect(r.data.choices[0]?.message.content).toBe("HELLO FROM THE LUTHIEN MOCK MODEL.");
      ids.push(r.response.headers.get("x-luthien-call-id") ?? "");
      await new Promise((res) => setTimeout(res, 500));
    }
    await nats.restart();
    for (const id of ids) checkComplete(await storedCall(id, 60_000));
  }, 120_000);
});
