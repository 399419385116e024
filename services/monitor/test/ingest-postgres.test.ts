import { publishActivityBytes } from "@luthien/events";
import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { Pool } from "pg";
import { ADMIN_KEY, createPublishers, getJson, GATEWAY_EVENTS_PER_CALL, publishCall, type Stats } from "./helpers";

let nats: RunningNats;
let db: TestDatabase;
let pool: Pool;
let monitor: RunningService;
let pubs: ReturnType<typeof createPublishers>;

const startMonitor = (): Promise<RunningService> =>
  // A short ack wait: what the killed monitor had received but not acked comes back after it.
  startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_ACK_WAIT_MS: "3000" } });

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  pool = new Pool({ connectionString: db.url, max: 2 });
  monitor = await startMonitor();
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await monitor?.stop();
  await pool?.end();
  await db?.drop();
  await nats?.dispose();
});

async function stats(): Promise<Stats> {
  return getJson<Stats>(`${monitor.url}/api/stats`);
}

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(sql, params)).rows as T[];
}

/** Checks that a set of calls is stored exactly: counts per type, seq 1..n per (call, source), no duplicates. */
async function expectCallsStored(prefix: string, calls: number, modified: number): Promise<void> {
  const like = `${prefix}%`;
  const perType = await rows<{ type: string; n: string }>("select type, count(*) as n from events where call_id like $1 group by type order by type", [like]);
  expect(Object.fromEntries(perType.map((r) => [r.type, Number(r.n)]))).toEqual({
    "call.ended": calls,
    "call.started": calls,
    "request.received": calls,
    "request.sent": calls,
    "response.received": calls,
    "response.sent": calls,
    ...(modified > 0 ? { "policy.all-caps.response_modified": modified } : {}),
  });
  const [dups] = await rows<{ total: string; distinct_ids: string }>("select count(*) as total, count(distinct id) as distinct_ids from events where call_id like $1", [like]);
  expect(Number(dups!.total)).toBe(Number(dups!.distinct_ids));
  // seq is complete when, per (call, source), max(seq) = count = count(distinct seq).
  const gaps = await rows("select call_id, source from events where call_id like $1 group by call_id, source having max(seq) <> count(*) or count(distinct seq) <> count(*)", [like]);
  expect(gaps).toEqual([]);
  const summary = await rows<{ n: string; events: string; ended: string }>("select count(*) as n, sum(event_count) as events, count(ended_at) as ended from calls where call_id like $1", [
    like,
  ]);
  expect(Number(summary[0]!.n)).toBe(calls);
  expect(Number(summary[0]!.ended)).toBe(calls);
  // A redelivered event is never counted twice in the summary.
  expect(Number(summary[0]!.events)).toBe(calls * GATEWAY_EVENTS_PER_CALL + modified);
}

describe("monitor on PostgreSQL", () => {
  it("applied the committed migrations", async () => {
    const applied = await rows<{ n: string }>("select count(*) as n from drizzle.__drizzle_migrations");
    expect(Number(applied[0]!.n)).toBeGreaterThanOrEqual(1);
  });

  it("stores every event of N calls exactly once and summarises each call", async () => {
    const n = 40;
    for (let i = 0; i < n; i++) {
      publishCall(pubs, { callId: `batch-${i}`, model: i % 2 === 0 ? "gpt-4o-mini" : "claude-sonnet-4", answer: "hello", finalAnswer: i % 4 === 0 ? "HELLO" : "hello" });
    }
    await pubs.flush();
    await waitFor(async () => (await stats()).events >= n * GATEWAY_EVENTS_PER_CALL + n / 4, { timeoutMs: 20_000, what: "all events stored" });
    await expectCallsStored("batch-", n, n / 4);
    const [c] = await rows<Record<string, unknown>>("select * from calls where call_id = 'batch-0'");
    expect(c).toMatchObject({
      model: "gpt-4o-mini",
      key_id: "key-a",
      user_id: "user-1",
      format: "openai",
      provider: "openai",
      stream: false,
      status: 200,
      outcome: "ok",
      latency_ms: 42,
      ttft_ms: 7,
      input_tokens: 5,
      output_tokens: 3,
      policy_actions: ["all-caps.response_modified"],
    });
    expect(c!["request_received_id"]).not.toBeNull();
    expect(c!["response_sent_id"]).not.toBeNull();
  });

  it("loses nothing and duplicates nothing when the monitor is killed while calls flow", async () => {
    const total = 20;
    let published = 0;
    const timer = setInterval(() => {
      if (published < total) publishCall(pubs, { callId: `kill-${published++}`, answer: "x", finalAnswer: "X" });
    }, 40);
    try {
      await waitFor(() => published >= 5, { timeoutMs: 10_000, what: "first calls" });
      monitor.signal("SIGKILL");
      await waitFor(() => published >= 12, { timeoutMs: 10_000, what: "calls while the monitor is down" });
      monitor = await startMonitor();
      await waitFor(() => published >= total, { timeoutMs: 10_000, what: "all calls published" });
    } finally {
      clearInterval(timer);
    }
    await pubs.flush();
    await waitFor(async () => Number((await rows<{ n: string }>("select count(*) as n from events where call_id like 'kill-%'"))[0]!.n) >= total * 7, {
      timeoutMs: 30_000,
      what: "every event of the 20 calls",
    });
    await new Promise((r) => setTimeout(r, 500));
    await expectCallsStored("kill-", total, total);
  }, 60_000);

  it("stores text with \\u0000 and lone surrogates escaped instead of losing the event", async () => {
    const nasty = "nul:\u0000 lone-high:\ud800 lone-low:\udc00 pair:\ud83d\ude00 end";
    pubs.gateway.publish("nasty-1", "call.started", { model: "m\u0000", stream: false, route: "/v1/chat/completions", format: "openai", provider: "openai" });
    pubs.gateway.publish("nasty-1", "request.received", { body: { messages: [{ role: "user", content: nasty }], ["k\u0000ey"]: 1 } });
    await pubs.flush();
    await waitFor(async () => (await rows("select 1 from events where call_id = 'nasty-1'")).length === 2, { timeoutMs: 15_000, what: "the nasty events" });
    const [r] = await rows<{ content: string; keys: string[] }>(
      "select data->'body'->'messages'->0->>'content' as content, array(select json_object_keys(data->'body')) as keys from events where call_id = 'nasty-1' and type = 'request.received'",
    );
    expect(r!.content).toBe("nul:\\u0000 lone-high:\\ud800 lone-low:\\udc00 pair:\ud83d\ude00 end");
    expect(r!.keys.sort()).toEqual(["k\\u0000ey", "messages"]);
    const [c] = await rows<{ model: string; search_text: string }>("select model, search_text from calls where call_id = 'nasty-1'");
    expect(c!.model).toBe("m\\u0000");
    expect(c!.search_text).toContain("lone-high:\\ud800");
  });

  it("puts unparseable messages into dead_letters with their raw bytes, and keeps going", async () => {
    const garbage = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x00, 0x7d]);
    await publishActivityBytes({ url: nats.url, subject: "luthien.activity.garbage", payload: garbage });
    await publishActivityBytes({ url: nats.url, subject: "luthien.activity.call.started", payload: JSON.stringify({ id: "nope", callId: "x" }) });
    publishCall(pubs, { callId: "after-garbage" });
    await pubs.flush();
    await waitFor(
      async () => (await rows("select 1 from dead_letters")).length >= 2 && (await rows("select 1 from calls where call_id = 'after-garbage' and ended_at is not null")).length === 1,
      {
        timeoutMs: 15_000,
        what: "dead letters and the next call",
      },
    );
    const dead = await rows<{ subject: string; error: string; raw: Buffer }>("select subject, error, raw from dead_letters order by id");
    const g = dead.find((d) => d.subject === "luthien.activity.garbage")!;
    expect(Buffer.compare(g.raw, garbage)).toBe(0);
    expect(g.error).toMatch(/UTF-8/);
    expect(dead.find((d) => d.subject === "luthien.activity.call.started")!.error).toMatch(/^id:/);
    const list = await getJson<{ deadLetters: { raw: string }[] }>(`${monitor.url}/api/dead-letters`);
    expect(list.deadLetters.length).toBeGreaterThanOrEqual(2);
  });
});
