import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { Pool } from "pg";
import { MIGRATIONS_FOLDER } from "../src/index";
import { ADMIN_KEY, AUTH, createPublishers, getJson, publishCall } from "./helpers";

// Policy config changes are no call: a real control plane reloads (and refuses) its POLICY_CONFIG, and the monitor
// lists those changes under GET /api/config-events, never as a call "in progress" in the call list.

interface ConfigEvent {
  id: string;
  type: string;
  source: string;
  time: string;
  data: { file?: string; trigger?: string; chains?: string[]; error?: string };
}
interface CallRow {
  callId: string;
}

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let engine: RunningService | undefined;
let dir: string;
let pubs: ReturnType<typeof createPublishers>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "luthien-config-events-"));
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await engine?.stop();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const configEvents = async (url = monitor.url): Promise<ConfigEvent[]> => (await getJson<{ configEvents: ConfigEvent[] }>(`${url}/api/config-events`)).configEvents;

describe("monitor config events", () => {
  it("keeps the control plane's reloads and rejections out of the call list, in GET /api/config-events", async () => {
    const file = path.join(dir, "policies.yaml");
    writeFileSync(file, "policies:\n  - use: noop\n");
    engine = await startService("control-plane", { env: { POLICY_CONFIG: file, NATS_URL: nats.url } });
    publishCall(pubs, { callId: "cfg-call-1" });
    await pubs.flush();

    engine.signal("SIGHUP");
    await waitFor(async () => (await configEvents()).length === 1, { timeoutMs: 15_000, what: "the reload stored" });
    writeFileSync(file, "policies:\n  - use: no-such-policy\n");
    engine.signal("SIGHUP");
    await waitFor(async () => (await configEvents()).length === 2, { timeoutMs: 15_000, what: "the rejection stored" });

    const [rejected, reloaded] = await configEvents();
    expect(rejected).toMatchObject({ type: "policy.config.rejected", source: "control-plane", data: { file, trigger: "SIGHUP" } });
    expect(rejected!.data.error).toMatch(/no-such-policy/);
    expect(reloaded).toMatchObject({ type: "policy.config.reloaded", source: "control-plane", data: { file, trigger: "SIGHUP" } });

    await waitFor(async () => (await getJson<{ calls: CallRow[] }>(`${monitor.url}/api/calls`)).calls.length === 1, { timeoutMs: 10_000, what: "the call" });
    expect((await getJson<{ calls: CallRow[] }>(`${monitor.url}/api/calls?limit=200`)).calls.map((c) => c.callId)).toEqual(["cfg-call-1"]);
    // Not a call of its own either, whatever pseudo call id the control plane publishes them under.
    expect((await fetch(`${monitor.url}/api/calls/control-plane-config`, { headers: AUTH })).status).toBe(404);
    expect(await getJson(`${monitor.url}/api/stats`)).toMatchObject({ calls: 1, events: 6, configEvents: 2 });
    expect((await fetch(`${monitor.url}/api/config-events`)).status).toBe(401);
  }, 60_000);

  it("moves config events an older monitor stored as a call into config_events when it migrates", async () => {
    // A database as the previous release left it: only the first migration, a config change stored as an event
    // of the pseudo call, and that call's summary row.
    const old = await createTestDatabase();
    const oldMigrations = path.join(dir, "drizzle-0000");
    mkdirSync(path.join(oldMigrations, "meta"), { recursive: true });
    copyFileSync(path.join(MIGRATIONS_FOLDER, "0000_init.sql"), path.join(oldMigrations, "0000_init.sql"));
    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as { entries: { tag: string }[] };
    writeFileSync(path.join(oldMigrations, "meta", "_journal.json"), JSON.stringify({ ...journal, entries: journal.entries.filter((e) => e.tag === "0000_init") }));
    const pool = new Pool({ connectionString: old.url, max: 1 });
    let upgraded: RunningService | undefined;
    try {
      await migrate(drizzle({ client: pool }), { migrationsFolder: oldMigrations });
      await pool.query(
        `insert into events (id, call_id, seq, type, source, time, data) values
          ('0190a0a0-0000-7000-8000-000000000001', 'control-plane-config', 1, 'policy.config.reloaded', 'control-plane', now(), '{"file":"/etc/p.yaml","trigger":"file","chains":[]}'),
          ('0190a0a0-0000-7000-8000-000000000002', 'real-call', 1, 'call.started', 'gateway', now(), '{"model":"m"}')`,
      );
      await pool.query("insert into calls (call_id, started_at, last_event_at, event_count) values ('control-plane-config', now(), now(), 1), ('real-call', now(), now(), 1)");

      upgraded = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: old.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_CONSUMER: "cfg-upgrade" } });
      const moved = await configEvents(upgraded.url);
      expect(moved.map((e) => [e.id, e.type, e.data.file])).toEqual([["0190a0a0-0000-7000-8000-000000000001", "policy.config.reloaded", "/etc/p.yaml"]]);
      const left = await pool.query<{ call_id: string }>("select call_id from calls order by call_id");
      expect(left.rows.map((r) => r.call_id)).toEqual(["real-call"]);
      const events = await pool.query<{ n: string }>("select count(*) as n from events where type like 'policy.config.%'");
      expect(Number(events.rows[0]!.n)).toBe(0);
    } finally {
      await upgraded?.stop();
      await pool.end();
      await old.drop();
    }
  }, 60_000);
});
