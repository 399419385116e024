import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startNats, startService, waitFor, type RunningNats, type RunningService } from "@luthien/testkit";
import { ADMIN_KEY, createPublishers, getJson, GATEWAY_EVENTS_PER_CALL, publishCall, type Stats } from "./helpers";

// The monitor as an operator runs it (no DATABASE_URL: embedded PGlite, every other setting its default), measured
// the way `pnpm bench` does: VmRSS of the process and its descendants after it has sat idle.

/** The idle budget: the monitor's share of a small host running the whole stack. */
const IDLE_RSS_LIMIT_MIB = 150;
/** Longer than the bench's settle time (3 s), so start-up work that finishes late is counted. */
const SETTLE_MS = 5000;

let nats: RunningNats;
let dataDir: string;
let monitor: RunningService | undefined;
let pubs: ReturnType<typeof createPublishers>;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  dataDir = mkdtempSync(path.join(tmpdir(), "luthien-monitor-memory-"));
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await monitor?.stop();
  await nats?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

/** VmRSS of one process in MiB; undefined once it is gone. */
function rssMib(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** RSS of `pid` and every live descendant (a child still running initdb counts), in MiB. */
function treeRssMib(pid: number): number {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  const own = rssMib(pid);
  if (own === undefined) throw new Error(`process ${pid} is gone`);
  return tree.slice(1).reduce((sum, p) => sum + (rssMib(p) ?? 0), own);
}

async function startIdleMonitor(): Promise<{ monitor: RunningService; idleMib: number }> {
  const m = await startService("monitor", { env: { NATS_URL: nats.url, MONITOR_DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY }, startTimeoutMs: 60_000 });
  expect(m.output()).toMatch(/listening .*database=pglite/);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return { monitor: m, idleMib: treeRssMib(m.process.pid as number) };
}

interface Page {
  calls: { callId: string; model: string | null }[];
  nextCursor: string | null;
}

describe("monitor memory on embedded PGlite", () => {
  it(`idles within ${IDLE_RSS_LIMIT_MIB} MiB after creating its database and after reopening it, and still stores and finds calls`, async () => {
    const first = await startIdleMonitor();
    monitor = first.monitor;
    expect(first.idleMib).toBeLessThanOrEqual(IDLE_RSS_LIMIT_MIB);

    const n = 200;
    for (let i = 0; i < n; i++) {
      publishCall(pubs, { callId: `mem-${i}`, model: i % 4 === 0 ? "claude-sonnet-4" : "gpt-4o-mini", prompt: i === 123 ? "find the heron in the reeds" : `prompt ${i}` });
    }
    await pubs.flush();
    const expected = n * GATEWAY_EVENTS_PER_CALL;
    await waitFor(async () => (await getJson<Stats>(`${monitor!.url}/api/stats`)).events === expected, { timeoutMs: 60_000, what: `${expected} events` });
    const search = await getJson<Page>(`${monitor.url}/api/calls?q=${encodeURIComponent("HERON in the")}`);
    expect(search.calls.map((c) => c.callId)).toEqual(["mem-123"]);
    const claude = await getJson<Page>(`${monitor.url}/api/calls?model=claude-sonnet-4&limit=200`);
    expect(claude.calls).toHaveLength(n / 4);
    expect(claude.calls.every((c) => c.model === "claude-sonnet-4")).toBe(true);
    const detail = await getJson<{ events: unknown[]; request: { original: { messages: { content: string }[] } } }>(`${monitor.url}/api/calls/mem-123`);
    expect(detail.events).toHaveLength(GATEWAY_EVENTS_PER_CALL);
    expect(detail.request.original.messages[0]!.content).toBe("find the heron in the reeds");
    await monitor.stop();
    monitor = undefined;

    // An existing database: what every start after the first one opens.
    const second = await startIdleMonitor();
    monitor = second.monitor;
    expect(second.idleMib).toBeLessThanOrEqual(IDLE_RSS_LIMIT_MIB);
    expect(await getJson<Stats>(`${monitor.url}/api/stats`)).toMatchObject({ events: expected, calls: n });
  }, 180_000);
});
