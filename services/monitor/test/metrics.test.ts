import { publishActivityBytes } from "@luthien/events";
import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, AUTH, GATEWAY_EVENTS_PER_CALL, createPublishers, publishCall } from "./helpers";

/** The samples of one metric whose labels include `labels`, summed; 0 when there are none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
});

afterAll(async () => {
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

const scrape = async (): Promise<string> => {
  // Public, like /health: a scraper needs no admin key.
  const res = await fetch(`${monitor.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

describe("monitor metrics", () => {
  it("counts stored events, dead letters and batches, and reports the consumer's lag", async () => {
    const pubs = createPublishers(nats.url);
    try {
      publishCall(pubs, { callId: "metrics-1" });
      publishCall(pubs, { callId: "metrics-2" });
      await pubs.flush();
      await publishActivityBytes({ url: nats.url, subject: "luthien.activity.garbage", payload: "not json" });
    } finally {
      await pubs.close();
    }
    const text = await waitFor(
      async () => {
        const t = await scrape();
        return sample(t, "luthien_monitor_events_stored_total") === 2 * GATEWAY_EVENTS_PER_CALL && sample(t, "luthien_monitor_dead_letters_total") === 1 ? t : undefined;
      },
      { timeoutMs: 15_000, what: "two calls and a dead letter stored" },
    );
    expect(sample(text, "luthien_monitor_ingest_batch_duration_seconds_count", { service: "monitor" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "luthien_monitor_ingest_failures_total")).toBe(0);
    // Everything was delivered and acked: nothing is waiting in JetStream.
    expect(text).toMatch(/^luthien_monitor_consumer_pending\{service="monitor"\} 0$/m);
    expect(text).toMatch(/^luthien_monitor_consumer_ack_pending\{service="monitor"\} 0$/m);
    expect(sample(text, "process_resident_memory_bytes", { service: "monitor" })).toBeGreaterThan(0);
  });

  it("labels HTTP requests by route pattern, leaves /api behind the key, and shows no key or id", async () => {
    expect((await fetch(`${monitor.url}/api/calls/metrics-1`, { headers: AUTH })).status).toBe(200);
    expect((await fetch(`${monitor.url}/api/calls/metrics-1`)).status).toBe(401);
    expect((await fetch(`${monitor.url}/nothing-here-98765`)).status).toBe(404);
    const text = await scrape();
    expect(sample(text, "luthien_monitor_http_requests_total", { method: "GET", route: "/api/calls/:id", status: "200" })).toBe(1);
    expect(sample(text, "luthien_monitor_http_requests_total", { route: "unmatched", status: "404" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "luthien_monitor_http_request_duration_seconds_count", { route: "/metrics" })).toBeGreaterThanOrEqual(1);
    for (const s of [ADMIN_KEY, "metrics-1", "nothing-here-98765", "key-a"]) expect(text).not.toContain(s);
  });

  it("reports the lag as NaN, not 0, while NATS is away", async () => {
    await nats.stop();
    const text = await waitFor(
      async () => {
        const t = await scrape();
        return /^luthien_monitor_consumer_pending\{service="monitor"\} NaN$/im.test(t) ? t : undefined;
      },
      { what: "an unknown lag" },
    );
    expect(text).toMatch(/^luthien_monitor_consumer_ack_pending\{service="monitor"\} NaN$/im);
    await nats.restart();
  });
});
