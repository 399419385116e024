import fc from "fast-check";
import { createTestDatabase, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, AUTH, createPublishers, getJson } from "./helpers";
import { FAKE_AWS_KEY, makeOutcomeCalls, OUTCOME_POLICIES, type OutcomeCalls } from "./outcome-calls";

/**
 * Outcome first, through the real stack: calls made with the official SDKs through gateway, engine and mock are
 * stored by a real monitor, which must give each its verdict, the policy that decided it, a line saying what
 * changed, the engine/chain/config that decided it, the error body the client got, bodies in wire order — and list,
 * filter, sort, facet, chart and export them.
 */

interface Summary {
  callId: string;
  verdict: string;
  decidedBy: string | null;
  changeSummary: string | null;
  status: number | null;
  latencyMs: number | null;
  ttftMs: number | null;
  costUsd: number | null;
  engine: string | null;
  chain: string | null;
  configVersion: string | null;
  sessionId: string | null;
}
interface Page {
  calls: Summary[];
  nextCursor: string | null;
}
interface Detail {
  call: Summary;
  errorBody: unknown;
  request: { original: Record<string, unknown> };
}

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let stack: Stack;
let made: OutcomeCalls;
let pubs: ReturnType<typeof createPublishers>;
const SESSION = '=HYPERLINK("http://evil")';

const list = (query: string): Promise<Page> => getJson<Page>(`${monitor.url}/api/calls?${query}`);
const detail = (id: string): Promise<Detail> => getJson<Detail>(`${monitor.url}/api/calls/${id}`);

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  stack = await startStack({ natsUrl: nats.url, policies: OUTCOME_POLICIES, engineEnv: { ENGINE_NAME: "engine-west-1" } });
  made = await makeOutcomeCalls(stack, { sessionId: SESSION });
  // The verdicts no SDK call here produces: a call in flight, one held, one served without policy, one refused by
  // the gateway before it reached a provider.
  pubs = createPublishers(nats.url);
  const start = { stream: false, route: "/v1/chat/completions", format: "openai", model: "gpt-4o-mini", provider: "openai" };
  const ended = { outcome: "ok", latencyMs: 5, chunksIn: 0, chunksOut: 0, policyActions: [] };
  pubs.gateway.publish("syn-in-flight", "call.started", start);
  pubs.gateway.publish("syn-held", "call.started", start);
  pubs.engine.publish("syn-held", "policy.dangerous-commands.held", { tool: "Bash", id: "t1", reason: "rm -rf ~ deletes the home directory" });
  pubs.gateway.publish("syn-bypassed", "call.started", start);
  pubs.gateway.publish("syn-bypassed", "call.ended", { ...ended, status: 200, bypassed: "engine_unavailable" });
  pubs.gateway.publish("syn-refused", "call.started", { ...start, provider: "" });
  pubs.gateway.publish("syn-refused", "call.ended", { ...ended, status: 429, outcome: "error", error: { type: "rate_limit_error", message: "rate limit reached" } });
  await pubs.flush();
  const ids = [made.allowed, made.modified, made.blocked, made.denied, made.failed].map((c) => c.callId);
  await waitFor(
    async () => (await list("limit=200")).calls.filter((c) => ids.includes(c.callId) && c.verdict !== "in_progress").length === 5 && (await list("limit=200")).calls.length === 9,
    {
      timeoutMs: 20_000,
      what: "every call stored",
    },
  );
}, 90_000);

afterAll(async () => {
  await pubs?.close();
  await stack?.stop();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

describe("outcome first", () => {
  it("gives each call its verdict and the policy that decided it", async () => {
    const byId = new Map((await list("limit=200")).calls.map((c) => [c.callId, c]));
    const verdictOf = (id: string) => ({ verdict: byId.get(id)?.verdict, decidedBy: byId.get(id)?.decidedBy });
    expect(verdictOf(made.allowed.callId)).toEqual({ verdict: "allowed", decidedBy: null });
    expect(verdictOf(made.modified.callId)).toEqual({ verdict: "modified", decidedBy: "secret-redaction" });
    // The client of the blocked call got a 200: the verdict says what the status does not.
    expect(made.blocked.status).toBe(200);
    expect(verdictOf(made.blocked.callId)).toEqual({ verdict: "blocked", decidedBy: "dangerous-commands" });
    expect(verdictOf(made.denied.callId)).toEqual({ verdict: "denied", decidedBy: "regex-filter" });
    expect(verdictOf(made.failed.callId)).toEqual({ verdict: "failed", decidedBy: null });
    expect(verdictOf("syn-in-flight")).toEqual({ verdict: "in_progress", decidedBy: null });
    expect(verdictOf("syn-held")).toEqual({ verdict: "held", decidedBy: "dangerous-commands" });
    expect(verdictOf("syn-bypassed")).toEqual({ verdict: "bypassed", decidedBy: null });
    expect(verdictOf("syn-refused")).toEqual({ verdict: "denied", decidedBy: "gateway" });
  });

  it("says in one line what the deciding policy did, in the list and the detail", async () => {
    const byId = new Map((await list("limit=200")).calls.map((c) => [c.callId, c]));
    expect(byId.get(made.blocked.callId)?.changeSummary).toMatch(/^tool call Bash blocked: .*rm -rf \//);
    expect(byId.get(made.modified.callId)?.changeSummary).toMatch(/redacted in the response/);
    expect(byId.get(made.denied.callId)?.changeSummary).toMatch(/^request blocked/);
    expect(byId.get("syn-held")?.changeSummary).toBe("tool call Bash held for approval: rm -rf ~ deletes the home directory");
    expect(byId.get(made.allowed.callId)?.changeSummary).toBeNull();
    expect((await detail(made.blocked.callId)).call.changeSummary).toBe(byId.get(made.blocked.callId)?.changeSummary);
  });

  it("names the engine replica, chain and config version that decided each call", async () => {
    for (const c of [made.allowed, made.modified, made.blocked, made.denied]) {
      const d = await detail(c.callId);
      expect({ engine: d.call.engine, chain: d.call.chain, configVersion: d.call.configVersion }).toEqual({ engine: "engine-west-1", chain: "default", configVersion: made.configVersion });
    }
  });

  it("shows the error body exactly as the client received it", async () => {
    for (const c of [made.denied, made.failed]) {
      expect(c.errorBody).toBeDefined();
      expect((await detail(c.callId)).errorBody).toEqual(c.errorBody);
    }
    expect((await detail(made.allowed.callId)).errorBody).toBeNull();
  });

  it("keeps a request's keys in the order they came on the wire", async () => {
    const d = await detail(made.allowed.callId);
    expect(Object.keys(d.request.original)).toEqual(Object.keys(JSON.parse(made.allowedRequestText) as object));
  });

  it("never shows the redacted key", async () => {
    const d = await fetch(`${monitor.url}/api/calls/${made.modified.callId}`, { headers: AUTH }).then((r) => r.text());
    expect(d).not.toContain(FAKE_AWS_KEY);
  });
});

describe("finding calls", () => {
  it("filters by verdicts and by policy", async () => {
    const ids = (p: Page) => p.calls.map((c) => c.callId).sort();
    expect(ids(await list("verdict=blocked,denied"))).toEqual([made.blocked.callId, made.denied.callId, "syn-refused"].sort());
    expect(ids(await list("policy=dangerous-commands"))).toEqual([made.blocked.callId, "syn-held"].sort());
    const bad = await fetch(`${monitor.url}/api/calls?verdict=blocked,nope`, { headers: AUTH });
    expect(bad.status).toBe(400);
  });

  it("offers the known values of every filter", async () => {
    const f = await getJson<Record<string, { value: string; count: number }[]>>(`${monitor.url}/api/facets`);
    const values = (k: string) => (f[k] ?? []).map((v) => v.value);
    expect(values("verdicts").sort()).toEqual(["allowed", "blocked", "bypassed", "denied", "failed", "held", "in_progress", "modified"]);
    expect(values("policies")).toEqual(expect.arrayContaining(["dangerous-commands", "regex-filter", "secret-redaction"]));
    expect(values("actions")).toEqual(expect.arrayContaining(["dangerous-commands.blocked", "regex-filter.blocked"]));
    expect(values("models")).toEqual(expect.arrayContaining(["gpt-4o-mini", "claude-mock-sonnet"]));
    expect(values("engines")).toEqual(["engine-west-1"]);
    expect(values("configVersions")).toEqual([made.configVersion]);
    expect(f["models"]?.find((m) => m.value === "gpt-4o-mini")?.count).toBe(8);
  });

  it("pages through every sort in both orders: each call exactly once, in order", async () => {
    const all = (await list("limit=200")).calls;
    const key = { latency: "latencyMs", ttft: "ttftMs", cost: "costUsd" } as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("latency", "ttft", "cost"), fc.constantFrom("asc", "desc"), fc.integer({ min: 1, max: 4 }), async (sort, order, limit) => {
        const seen: Summary[] = [];
        let cursor: string | null = null;
        do {
          const page: Page = await list(`sort=${sort}&order=${order}&limit=${limit}${cursor !== null ? `&cursor=${cursor}` : ""}`);
          seen.push(...page.calls);
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(seen.map((c) => c.callId).sort()).toEqual(all.map((c) => c.callId).sort());
        const values = seen.map((c) => c[key[sort]]);
        // Nulls last descending, first ascending; numbers in order.
        const nonNull = values.filter((v): v is number => v !== null);
        expect(nonNull).toEqual([...nonNull].sort((a, b) => (order === "asc" ? a - b : b - a)));
        const firstNull = values.indexOf(null);
        if (firstNull >= 0) {
          if (order === "desc") expect(values.slice(firstNull).every((v) => v === null)).toBe(true);
          else expect(values.slice(0, values.lastIndexOf(null) + 1).every((v) => v === null)).toBe(true);
        }
      }),
      { numRuns: 12, seed: 18 },
    );
    expect((await fetch(`${monitor.url}/api/calls?sort=latency&cursor=bogus`, { headers: AUTH })).status).toBe(400);
  });

  it("exports any filtered list as CSV (formula cells defused) and JSON", async () => {
    const csv = await fetch(`${monitor.url}/api/calls/export?format=csv&verdict=denied,failed,blocked`, { headers: AUTH });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toMatch(/^attachment; filename="luthien-calls-.*\.csv"$/);
    const lines = (await csv.text()).trimEnd().split("\r\n");
    expect(lines[0]?.startsWith("call_id,started_at,verdict,decided_by,change,")).toBe(true);
    expect(lines).toHaveLength(1 + 4);
    // The session id the client chose starts with `=`: it must not reach a spreadsheet as a formula.
    const denied = lines.find((l) => l.startsWith(made.denied.callId)) ?? "";
    expect(denied).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(denied).not.toMatch(/,=HYPERLINK/);
    const json = (await fetch(`${monitor.url}/api/calls/export?format=json&verdict=modified`, { headers: AUTH }).then((r) => r.json())) as {
      calls: Summary[];
      count: number;
      truncated: boolean;
    };
    expect(json.calls.map((c) => c.callId)).toEqual([made.modified.callId]);
    expect(json).toMatchObject({ count: 1, truncated: false });
    const cut = (await fetch(`${monitor.url}/api/calls/export?format=json&max=3`, { headers: AUTH }).then((r) => r.json())) as { count: number; truncated: boolean };
    expect(cut).toEqual(expect.objectContaining({ count: 3, truncated: true }));
  });

  it("charts the range: continuous buckets, totals, interventions per policy and the top groups", async () => {
    const to = new Date(Date.now() + 60_000);
    const from = new Date(to.getTime() - 3600_000);
    const d = await getJson<{
      series: { t: string; requests: number; interventions: number }[];
      totals: { requests: number; errors: number; interventions: number; latencyP50: number | null };
      verdicts: { value: string; count: number }[];
      interventions: { policy: string; action: string; count: number }[];
      top: { models: { value: string; calls: number }[]; sessions: { value: string; calls: number }[] };
      bucketMs: number;
    }>(`${monitor.url}/api/dashboard?from=${from.toISOString()}&to=${to.toISOString()}`);
    expect(d.bucketMs).toBe(60_000);
    expect(d.series).toHaveLength(60);
    for (let i = 1; i < d.series.length; i++) expect(Date.parse(d.series[i]?.t ?? "") - Date.parse(d.series[i - 1]?.t ?? "")).toBe(60_000);
    expect(d.series.reduce((n, b) => n + b.requests, 0)).toBe(9);
    expect(d.totals).toMatchObject({ requests: 9, errors: 1, interventions: 5 });
    expect(d.totals.latencyP50).not.toBeNull();
    expect(d.interventions).toEqual(expect.arrayContaining([{ policy: "dangerous-commands", action: "blocked", count: 1 }]));
    expect(d.top.models[0]).toMatchObject({ value: "gpt-4o-mini", calls: 8 });
    expect(d.top.sessions.find((s) => s.value === SESSION)?.calls).toBe(5);
    expect((await fetch(`${monitor.url}/api/dashboard?from=${to.toISOString()}&to=${from.toISOString()}`, { headers: AUTH })).status).toBe(400);
  });
});
