import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, createPublishers, getJson, GATEWAY_EVENTS_PER_CALL, publishCall, type Stats } from "./helpers";

// Two checkouts, one NATS: each monitor has a database of its own, so each needs every event — a durable of its
// own (MONITOR_CONSUMER). Monitors sharing a durable split the events between them.

let nats: RunningNats;
let dbs: TestDatabase[] = [];
const started: RunningService[] = [];
let pubs: ReturnType<typeof createPublishers>;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  dbs = await Promise.all([createTestDatabase(), createTestDatabase()]);
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await Promise.all(started.map((m) => m.stop()));
  await Promise.all(dbs.map((d) => d.drop()));
  await nats?.dispose();
});

async function monitor(db: TestDatabase, extra: Record<string, string> = {}): Promise<RunningService> {
  const m = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY, ...extra } });
  started.push(m);
  return m;
}

const stats = (m: RunningService): Promise<Stats> => getJson<Stats>(`${m.url}/api/stats`);

describe("monitor durable consumer (MONITOR_CONSUMER)", () => {
  it("gives a second checkout's monitor every event under a name of its own, and each logs which it uses", async () => {
    const first = await monitor(dbs[0]!);
    // Which stream and durable a monitor reads is printed at start, whatever LOG_LEVEL says.
    expect(first.output()).toMatch(/notice consuming activity stream=LUTHIEN_ACTIVITY consumer=luthien-monitor subjects=luthien\.activity\.>/);
    for (let i = 0; i < 10; i++) publishCall(pubs, { callId: `two-${i}` });
    await pubs.flush();

    // Started later, on a new durable: it begins at the start of the stream, so it gets the first 10 calls too.
    const second = await monitor(dbs[1]!, { MONITOR_CONSUMER: "luthien-monitor-checkout-b" });
    expect(second.output()).toMatch(/notice consuming activity stream=LUTHIEN_ACTIVITY consumer=luthien-monitor-checkout-b /);
    for (let i = 10; i < 20; i++) publishCall(pubs, { callId: `two-${i}` });
    await pubs.flush();

    const expected = 20 * GATEWAY_EVENTS_PER_CALL;
    for (const m of [first, second]) {
      await waitFor(async () => (await stats(m)).events >= expected, { timeoutMs: 20_000, what: `${expected} events on :${m.port}` });
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(await stats(first)).toMatchObject({ events: expected, calls: 20 });
    expect(await stats(second)).toMatchObject({ events: expected, calls: 20 });
  });

  it("refuses a name JetStream would not take, naming the variable", async () => {
    await expect(monitor(dbs[1]!, { MONITOR_CONSUMER: "checkout.b" })).rejects.toThrow(
      /failed to start error="MONITOR_CONSUMER: not a valid JetStream durable name: checkout\.b \(use 1 to 128 characters/,
    );
  });
});
