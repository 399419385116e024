import {
  createTestDatabase,
  runScenario,
  startNats,
  startPostgres,
  startService,
  waitFor,
  type RunningNats,
  type RunningPostgres,
  type RunningService,
  type TestDatabase,
} from "@luthien/testkit";
import { Pool } from "pg";
import { ADMIN_KEY, AUTH, createPublishers, publishCall } from "./helpers";

// EVT-08: PostgreSQL restarted under traffic. A fast shutdown (what `pg_ctl restart` does) ends every session with
// 57P01 admin_shutdown, on idle and checked-out clients alike; the monitor must ride it out, say "not ready" while
// the database is away, and store every event exactly once afterwards (acks only after the commit, idempotent
// inserts).

let pg: RunningPostgres;
let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let pubs: ReturnType<typeof createPublishers>;

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats({ jetstream: true })]);
  db = await createTestDatabase({ adminUrl: pg.url });
  monitor = await startService("monitor", {
    env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_BATCH: "50" },
  });
  pubs = createPublishers(nats.url);
}, 60_000);

afterAll(async () => {
  await pubs?.close();
  await monitor?.stop();
  await db?.drop().catch(() => {});
  await pg?.dispose();
  await nats?.dispose();
});

const EVENTS_PER_CALL = 7;
const alive = (): boolean => monitor.process.exitCode === null && monitor.process.signalCode === null;
const expectAlive = (): void => {
  if (!alive()) throw new Error(`the monitor exited (${monitor.process.exitCode ?? monitor.process.signalCode}):\n${monitor.output().slice(-3000)}`);
};

let lastReady: unknown;
async function ready(): Promise<{ status: number; database?: string }> {
  try {
    const res = await fetch(`${monitor.url}/ready`);
    const r = { ...((await res.json()) as { database: string }), status: res.status };
    lastReady = r;
    return r;
  } catch (err) {
    lastReady = String(err);
    return { status: 0 };
  }
}

describe("monitor faults: PostgreSQL restarts", () => {
  it("EVT-08 stays up through 3 PostgreSQL restarts under traffic, is not ready meanwhile, and stores every event once", async () => {
    await runScenario({ suite: "monitor faults", scenario: "EVT-08 PostgreSQL restarted 3 times under traffic" }, async (result) => {
      let calls = 0;
      // Calls flow all along (~350 events/s), and the API is read as the UI would, so clients are checked out
      // for both ingest transactions and queries when the server goes down.
      const traffic = setInterval(() => {
        for (let i = 0; i < 5; i++) publishCall(pubs, { callId: `pgr-${calls++}`, answer: "fine", finalAnswer: "FINE" });
      }, 100);
      let reading = true;
      const apiStatuses = new Map<number, number>();
      const reader = (async () => {
        while (reading && alive()) {
          const status = await fetch(`${monitor.url}/api/calls?limit=20`, { headers: AUTH }).then(
            (r) => r.status,
            () => 0,
          );
          apiStatuses.set(status, (apiStatuses.get(status) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const recoveries: number[] = [];
      let sawNotReady = false;
      try {
        // Restarts with the server away for different lengths of time: at once, 1.5 s, 3 s.
        for (const downMs of [0, 1500, 3000]) {
          await new Promise((r) => setTimeout(r, 1500));
          await pg.stop("fast");
          const downAt = Date.now();
          while (Date.now() - downAt < downMs) {
            const r = await ready();
            if (r.status === 503 && r.database === "down") sawNotReady = true;
            await new Promise((res) => setTimeout(res, 100));
          }
          await pg.start();
          const upAt = Date.now();
          await waitFor(async () => !alive() || (await ready()).status === 200, { timeoutMs: 20_000, what: "the monitor ready again" }).catch((err: Error) => {
            throw new Error(`${err.message}; /ready: ${JSON.stringify(lastReady)}\n${monitor.output().slice(-3000)}`);
          });
          expectAlive();
          recoveries.push(Date.now() - upAt);
        }
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        clearInterval(traffic);
        reading = false;
        await reader;
      }
      expectAlive();
      // Nothing logged as an error (a lost connection is a warning), and the API said 503 while the database was
      // away, never 500.
      expect(monitor.output()).not.toMatch(/^\S+ monitor error /m);
      expect(sawNotReady).toBe(true);
      expect([...apiStatuses.keys()].sort()).toEqual([200, 503]);
      await pubs.flush();

      const expected = calls * EVENTS_PER_CALL;
      const pool = new Pool({ connectionString: db.url, max: 1 });
      try {
        const count = async (): Promise<number> => Number((await pool.query<{ n: string }>("select count(*) as n from events where call_id like 'pgr-%'")).rows[0]!.n);
        result.eventsExpected = expected;
        try {
          await waitFor(async () => (await count()) >= expected, { timeoutMs: 60_000, what: `${expected} events stored` });
        } finally {
          result.eventsStored = await count();
        }
        // Redeliveries were absorbed: nothing twice, and no call summary counted an event twice.
        const [row] = (
          await pool.query<{ ids: string; calls: string; summed: string; dead: string }>(
            "select (select count(distinct id) from events where call_id like 'pgr-%') as ids, count(*) as calls, sum(event_count) as summed, (select count(*) from dead_letters) as dead from calls where call_id like 'pgr-%'",
          )
        ).rows;
        expect(Number(row!.ids)).toBe(expected);
        expect(Number(row!.calls)).toBe(calls);
        expect(Number(row!.summed)).toBe(expected);
        // A dropped connection is not a poison message: no event became a dead letter.
        expect(Number(row!.dead)).toBe(0);
        const gaps = await pool.query(
          "select call_id, source from events where call_id like 'pgr-%' group by call_id, source having max(seq) <> count(*) or count(distinct seq) <> count(*)",
        );
        expect(gaps.rows).toEqual([]);
      } finally {
        await pool.end();
      }
      expect(result.eventsStored).toBe(expected);
      result.recoveryMs = Math.max(...recoveries);
      result.note = `${calls} calls, ${expected} events; ready again ${recoveries.join("/")} ms after each restart`;
    });
  }, 120_000);
});
