import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createTestDatabase, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import OpenAI from "openai";
import { Pool } from "pg";
import { ADMIN_KEY, AUTH, getJson } from "./helpers";

// Secrets at rest: the secret-redaction policy keeps a key off the wire, and the monitor must not keep it in the
// original either. Gateway, control plane (with secret-redaction), mock-llm, NATS and three monitors, one per
// MONITOR_STORE_ORIGINALS mode, each with a durable consumer and a database of its own.

const ANTHROPIC_KEY = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98765";
const GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";

let nats: RunningNats;
let stack: Stack;
let dbRedacted: TestDatabase;
let dbFull: TestDatabase;
let liteDir: string;
const monitors = {} as Record<"redacted" | "full" | "none", RunningService>;
let client: OpenAI;

beforeAll(async () => {
  liteDir = mkdtempSync(path.join(tmpdir(), "luthien-monitor-originals-"));
  [nats, dbRedacted, dbFull] = await Promise.all([startNats({ jetstream: true }), createTestDatabase(), createTestDatabase()]);
  const env = (extra: Record<string, string>): Record<string, string> => ({ NATS_URL: nats.url, ADMIN_API_KEY: ADMIN_KEY, ...extra });
  [monitors.redacted, monitors.full, monitors.none, stack] = await Promise.all([
    // The default: no MONITOR_STORE_ORIGINALS.
    startService("monitor", { env: env({ DATABASE_URL: dbRedacted.url, MONITOR_CONSUMER: "originals-redacted" }) }),
    startService("monitor", { env: env({ DATABASE_URL: dbFull.url, MONITOR_CONSUMER: "originals-full", MONITOR_STORE_ORIGINALS: "full" }) }),
    startService("monitor", { env: env({ MONITOR_DATA_DIR: liteDir, MONITOR_CONSUMER: "originals-none", MONITOR_STORE_ORIGINALS: "none" }), startTimeoutMs: 60_000 }),
    startStack({ policies: "policies:\n  - use: secret-redaction\n", natsUrl: nats.url }),
  ]);
  client = new OpenAI({ apiKey: "anything", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
}, 90_000);

afterAll(async () => {
  await Promise.all([stack?.stop(), ...Object.values(monitors).map((m) => m.stop())]);
  await Promise.all([dbRedacted?.drop(), dbFull?.drop(), nats?.dispose()]);
  if (liteDir !== undefined) rmSync(liteDir, { recursive: true, force: true });
});

interface Detail {
  call: { endedAt: string | null } | null;
  request: { original: { messages: { content: string }[] } | null; final: { messages: { content: string }[] } | null };
  response: { original: { choices: { message: { content: string } }[] } | null; final: { choices: { message: { content: string } }[] } | null };
  originals: { request: string | null; response: string | null };
  events: { type: string; data: unknown }[];
}

/** A call through the gateway whose prompt carries a key and whose answer carries a token; its call id. */
async function callWithSecrets(stream: boolean): Promise<string> {
  await stack.mockControl.script(stream ? { chunks: ["here: ", GITHUB_TOKEN.slice(0, 9), GITHUB_TOKEN.slice(9), " done"] } : { text: `here: ${GITHUB_TOKEN} done` });
  const messages = [{ role: "user" as const, content: `my key is ${ANTHROPIC_KEY}, keep it safe` }];
  if (stream) {
    const { data, response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }).withResponse();
    let text = "";
    for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).not.toContain(GITHUB_TOKEN);
    return response.headers.get("x-luthien-call-id")!;
  }
  const { data, response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages }).withResponse();
  expect(data.choices[0]!.message.content).toBe("here: [REDACTED:github_token] done");
  return response.headers.get("x-luthien-call-id")!;
}

async function detail(monitor: RunningService, callId: string): Promise<Detail> {
  return waitFor(
    async () => {
      const res = await fetch(`${monitor.url}/api/calls/${encodeURIComponent(callId)}`, { headers: AUTH });
      if (res.status !== 200) return undefined;
      const d = (await res.json()) as Detail;
      return d.call?.endedAt !== null && d.call?.endedAt !== undefined && d.response.final !== null ? d : undefined;
    },
    { timeoutMs: 20_000, what: `call ${callId} stored by the monitor on :${monitor.port}` },
  );
}

/** Every byte of text the monitor keeps about calls in PostgreSQL. */
async function everythingStored(url: string): Promise<string> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const r = await pool.query<{ t: string }>(
      "select coalesce((select string_agg(data::text, ' ') from events), '') || ' ' || coalesce((select string_agg(row_to_json(calls)::text, ' ') from calls), '') as t",
    );
    return r.rows[0]!.t;
  } finally {
    await pool.end();
  }
}

describe("originals at rest (MONITOR_STORE_ORIGINALS)", () => {
  let plain: string;
  let streamed: string;

  beforeAll(async () => {
    plain = await callWithSecrets(false);
    streamed = await callWithSecrets(true);
  }, 30_000);

  it("by default stores originals with the secret-redaction detectors' secrets replaced, and says so", async () => {
    for (const callId of [plain, streamed]) {
      const d = await detail(monitors.redacted, callId);
      expect(d.originals).toEqual({ request: "redacted", response: "redacted" });
      expect(d.request.original!.messages[0]!.content).toBe("my key is [MONITOR-REDACTED:anthropic_key], keep it safe");
      // The final is what went upstream: the policy's own marker.
      expect(d.request.final!.messages[0]!.content).toBe("my key is [REDACTED:anthropic_key], keep it safe");
      expect(d.response.original!.choices[0]!.message.content).toBe("here: [MONITOR-REDACTED:github_token] done");
      expect(d.response.final!.choices[0]!.message.content).toBe("here: [REDACTED:github_token] done");
    }
    // Nowhere in the database: not in any event (bodies, the per-event timeline), not in the call summaries.
    const stored = await everythingStored(dbRedacted.url);
    expect(stored).toContain("MONITOR-REDACTED");
    expect(stored).not.toContain(ANTHROPIC_KEY);
    expect(stored).not.toContain(GITHUB_TOKEN);
    expect(stored).not.toContain(ANTHROPIC_KEY.slice(0, 24));
    const session = await getJson<{ storeOriginals: string }>(`${monitors.redacted.url}/api/session`);
    expect(session.storeOriginals).toBe("redacted");
  });

  it("=full stores originals as they came, secrets included", async () => {
    const d = await detail(monitors.full, plain);
    expect(d.originals).toEqual({ request: "full", response: "full" });
    expect(d.request.original!.messages[0]!.content).toContain(ANTHROPIC_KEY);
    expect(d.response.original!.choices[0]!.message.content).toContain(GITHUB_TOKEN);
    expect(monitors.full.output()).toMatch(/warn MONITOR_STORE_ORIGINALS=full/);
  });

  it("=none keeps the original events but not their bodies (PGlite)", async () => {
    for (const callId of [plain, streamed]) {
      const d = await detail(monitors.none, callId);
      expect(d.originals).toEqual({ request: "none", response: "none" });
      expect(d.request.original).toBeNull();
      expect(d.response.original).toBeNull();
      expect(d.request.final!.messages[0]!.content).toBe("my key is [REDACTED:anthropic_key], keep it safe");
      expect(d.events.map((e) => e.type)).toEqual(expect.arrayContaining(["request.received", "response.received"]));
      expect(JSON.stringify(d.events)).not.toContain(ANTHROPIC_KEY);
    }
  });

  it("refuses an unknown mode at start", async () => {
    await expect(startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: dbFull.url, MONITOR_STORE_ORIGINALS: "sometimes" } })).rejects.toThrow(
      /MONITOR_STORE_ORIGINALS must be one of redacted\|full\|none/,
    );
  });
});
