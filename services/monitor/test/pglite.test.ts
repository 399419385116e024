import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { startNats, startService, waitFor, type RunningNats, type RunningService } from "@luthien/testkit";
import { ADMIN_KEY, createPublishers, getJson, GATEWAY_EVENTS_PER_CALL, publishCall, type Stats } from "./helpers";

let nats: RunningNats;
let dataDir: string;
let monitor: RunningService | undefined;
let pubs: ReturnType<typeof createPublishers>;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  dataDir = mkdtempSync(path.join(tmpdir(), "luthien-monitor-pglite-"));
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await monitor?.stop();
  await nats?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("monitor on embedded PGlite", () => {
  it("migrates, stores every event exactly once, and leaves a database PGlite can reopen", async () => {
    // No DATABASE_URL: the monitor embeds PGlite in MONITOR_DATA_DIR.
    monitor = await startService("monitor", { env: { NATS_URL: nats.url, MONITOR_DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY }, startTimeoutMs: 30_000 });
    expect(monitor.output()).toMatch(/listening .*database=pglite/);
    const n = 30;
    for (let i = 0; i < n; i++) publishCall(pubs, { callId: `lite-${i}`, answer: "ok", finalAnswer: i % 2 === 0 ? "OK" : "ok", prompt: i === 0 ? "nul \u0000 and \udfff" : "hi" });
    await pubs.flush();
    const expected = n * GATEWAY_EVENTS_PER_CALL + n / 2;
    await waitFor(async () => (await getJson<Stats>(`${monitor!.url}/api/stats`)).events === expected, { timeoutMs: 30_000, what: `${expected} events` });
    const stats = await getJson<Stats>(`${monitor.url}/api/stats`);
    expect(stats).toMatchObject({ events: expected, calls: n, deadLetters: 0 });
    const detail = await getJson<{ request: { original: { messages: { content: string }[] } } }>(`${monitor.url}/api/calls/lite-0`);
    expect(detail.request.original.messages[0]!.content).toBe("nul \\u0000 and \\udfff");
    await monitor.stop();
    monitor = undefined;

    // The monitor is gone; open its files directly and check the rows.
    const db = await PGlite.create({ dataDir });
    try {
      const migrations = await db.query<{ n: number }>("select count(*)::int as n from drizzle.__drizzle_migrations");
      expect(migrations.rows[0]!.n).toBeGreaterThanOrEqual(1);
      const perType = await db.query<{ type: string; n: number }>("select type, count(*)::int as n from events group by type order by type");
      expect(Object.fromEntries(perType.rows.map((r) => [r.type, r.n]))).toEqual({
        "call.ended": n,
        "call.started": n,
        "policy.all-caps.response_modified": n / 2,
        "request.received": n,
        "request.sent": n,
        "response.received": n,
        "response.sent": n,
      });
      const gaps = await db.query("select call_id, source from events group by call_id, source having max(seq) <> count(*) or count(distinct seq) <> count(*)");
      expect(gaps.rows).toEqual([]);
      const dups = await db.query<{ total: number; ids: number }>("select count(*)::int as total, count(distinct id)::int as ids from events");
      expect(dups.rows[0]!.total).toBe(dups.rows[0]!.ids);
      const summary = await db.query<{ events: number; actions: number }>(
        "select sum(event_count)::int as events, count(*) filter (where 'all-caps.response_modified' = any(policy_actions))::int as actions from calls",
      );
      expect(summary.rows[0]).toEqual({ events: expected, actions: n / 2 });
    } finally {
      await db.close();
    }
  }, 90_000);
});
