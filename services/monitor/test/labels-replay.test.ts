import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createTestDatabase, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import OpenAI from "openai";
import { ADMIN_KEY, AUTH, createPublishers, getJson, publishCall } from "./helpers";

// Labels, the replay input and replay reports, on PostgreSQL and on embedded PGlite. Calls come from a real stack
// (the official SDK, a gateway publishing every stream chunk, an engine with a shadow policy) and from the
// publishers directly; both monitors store all of them (a durable each).

interface Label {
  label: string;
  note: string;
  labeledAt?: string;
}
interface CallRow {
  callId: string;
  label: Label | null;
  policyActions: string[];
}
interface ReplayCall {
  callId: string;
  startedAt: string;
  format: string;
  stream: boolean;
  model: string;
  keyId: string;
  route: string;
  status: number;
  outcome: string;
  policyActions: string[];
  label: { label: string; note: string } | null;
  request: { messages: { content: string }[] } | null;
  finalRequest: unknown;
  response: { choices: { message: { content: string } }[] } | null;
  finalResponse: { choices: { message: { content: string } }[] } | null;
  chunks: { event: string; data: string }[] | null;
}
interface ReplayPage {
  calls: ReplayCall[];
  nextCursor: string | null;
}

let nats: RunningNats;
let stack: Stack;
let pg: TestDatabase;
let liteDir: string;
let pubs: ReturnType<typeof createPublishers>;
const monitors = {} as Record<"PostgreSQL" | "PGlite", RunningService>;
let streamCallId: string;
const PUBLISHED = ["rp-0", "rp-1", "rp-2", "rp-3"];

beforeAll(async () => {
  liteDir = mkdtempSync(path.join(tmpdir(), "luthien-monitor-labels-"));
  [nats, pg] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  const env = { NATS_URL: nats.url, ADMIN_API_KEY: ADMIN_KEY };
  [monitors.PostgreSQL, monitors.PGlite, stack] = await Promise.all([
    startService("monitor", { env: { ...env, DATABASE_URL: pg.url, MONITOR_CONSUMER: "labels-pg" } }),
    startService("monitor", { env: { ...env, MONITOR_DATA_DIR: liteDir, MONITOR_CONSUMER: "labels-lite" }, startTimeoutMs: 60_000 }),
    startStack({ policies: "policies:\n  - use: all-caps\n    mode: shadow\n", natsUrl: nats.url, gatewayEnv: { ACTIVITY_CHUNKS: "on" } }),
  ]);
  pubs = createPublishers(nats.url);
  for (const [i, callId] of PUBLISHED.entries()) {
    publishCall(pubs, { callId, prompt: `prompt ${i}`, answer: `answer ${i}`, ...(i === 1 ? { finalAnswer: "ANSWER 1" } : {}) });
    await new Promise((r) => setTimeout(r, 5));
  }
  // Started, never ended: no replay takes it.
  pubs.gateway.publish("rp-open", "call.started", { model: "gpt-4o-mini", stream: false, route: "/v1/chat/completions", format: "openai" });
  await pubs.flush();

  await stack.mockControl.script({ chunks: ["Hello ", "from ", "the stream"] });
  const client = new OpenAI({ apiKey: "anything", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
  const { data, response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "stream me something" }], stream: true }).withResponse();
  let text = "";
  for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? "";
  // Shadow: the policy's change is recorded, never applied.
  expect(text).toBe("Hello from the stream");
  streamCallId = response.headers.get("x-luthien-call-id")!;
}, 90_000);

afterAll(async () => {
  await pubs?.close();
  await Promise.all([stack?.stop(), ...Object.values(monitors).map((m) => m.stop())]);
  await Promise.all([pg?.drop(), nats?.dispose()]);
  if (liteDir !== undefined) rmSync(liteDir, { recursive: true, force: true });
});

describe.each(["PostgreSQL", "PGlite"] as const)("labels and replays on %s", (kind) => {
  let url: string;
  const send = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${url}${p}`, { method, headers: { ...AUTH, "content-type": "application/json" }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: res.status === 204 ? null : await res.json() };
  };
  const replay = (query: string): Promise<ReplayPage> => getJson<ReplayPage>(`${url}/api/replay/calls?${query}`);

  beforeAll(async () => {
    url = monitors[kind].url;
    await waitFor(
      async () => {
        const page = await replay("limit=1000");
        const stream = page.calls.find((c) => c.callId === streamCallId);
        return page.calls.length === PUBLISHED.length + 1 && stream?.finalResponse !== null && (stream?.policyActions.length ?? 0) > 0;
      },
      { timeoutMs: 30_000, what: `every ended call stored by the ${kind} monitor` },
    );
  }, 40_000);

  it("labels a call, shows the label in the call, the list and its filter, replaces and removes it", async () => {
    const put = await send("PUT", "/api/calls/rp-1/label", { label: "should_block", note: "shouted <b>at</b> the user" });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ label: { label: "should_block", note: "shouted <b>at</b> the user" } });
    expect((await send("PUT", "/api/calls/rp-2/label", { label: "fine" })).json).toMatchObject({ label: { label: "fine", note: "" } });

    const detail = await getJson<{ call: CallRow }>(`${url}/api/calls/rp-1`);
    expect(detail.call.label).toMatchObject({ label: "should_block", note: "shouted <b>at</b> the user" });
    expect(Date.parse(detail.call.label!.labeledAt!)).toBeGreaterThan(0);
    const list = async (q: string): Promise<string[]> => (await getJson<{ calls: CallRow[] }>(`${url}/api/calls?limit=200&${q}`)).calls.map((c) => c.callId).sort();
    const rows = (await getJson<{ calls: CallRow[] }>(`${url}/api/calls?limit=200`)).calls;
    expect(rows.find((c) => c.callId === "rp-1")?.label).toMatchObject({ label: "should_block" });
    expect(rows.find((c) => c.callId === "rp-0")?.label).toBeNull();
    expect(await list("label=should_block")).toEqual(["rp-1"]);
    expect(await list("label=fine")).toEqual(["rp-2"]);
    expect(await list("label=any")).toEqual(["rp-1", "rp-2"]);
    expect(await list("label=none")).toEqual(["rp-0", "rp-3", "rp-open", streamCallId].sort());

    expect((await send("PUT", "/api/calls/rp-2/label", { label: "should_block", note: "on second thought" })).status).toBe(200);
    expect(await list("label=should_block")).toEqual(["rp-1", "rp-2"]);
    expect((await send("DELETE", "/api/calls/rp-2/label")).status).toBe(204);
    expect((await getJson<{ call: CallRow }>(`${url}/api/calls/rp-2`)).call.label).toBeNull();
    expect((await send("DELETE", "/api/calls/rp-2/label")).status).toBe(204);

    expect((await send("PUT", "/api/calls/no-such-call/label", { label: "fine" })).status).toBe(404);
    for (const body of [{ label: "bad" }, {}, { label: "fine", note: 3 }, { label: "fine", extra: true }, ["fine"]]) {
      expect({ body, status: (await send("PUT", "/api/calls/rp-0/label", body)).status }).toEqual({ body, status: 400 });
    }
    expect((await fetch(`${url}/api/calls?label=maybe`, { headers: AUTH })).status).toBe(400);
  });

  it("serves ended calls oldest first with their bodies, stream chunks, actions and labels, page by page", async () => {
    const all = await replay("limit=1000");
    const ids = all.calls.map((c) => c.callId);
    expect(ids).toEqual([...PUBLISHED, streamCallId]);
    expect(ids).not.toContain("rp-open");
    expect(all.nextCursor).toBeNull();

    const modified = all.calls[1]!;
    expect(modified).toMatchObject({ callId: "rp-1", format: "openai", stream: false, model: "gpt-4o-mini", keyId: "key-a", route: "/v1/chat/completions", status: 200, outcome: "ok" });
    expect(modified.policyActions).toEqual(["all-caps.response_modified"]);
    expect(modified.label).toEqual({ label: "should_block", note: "shouted <b>at</b> the user" });
    expect(modified.request!.messages[0]!.content).toBe("prompt 1");
    expect(modified.finalRequest).toEqual(modified.request);
    expect(modified.response!.choices[0]!.message.content).toBe("answer 1");
    expect(modified.finalResponse!.choices[0]!.message.content).toBe("ANSWER 1");
    expect(modified.chunks).toBeNull();

    const stream = all.calls[4]!;
    expect(stream).toMatchObject({ stream: true, format: "openai", label: null });
    expect(stream.policyActions.some((a) => /^all-caps\.would_/.test(a))).toBe(true);
    expect(stream.request!.messages[0]!.content).toBe("stream me something");
    // The assembled original, and each chunk as it came from the provider, in order.
    expect(stream.response!.choices[0]!.message.content).toBe("Hello from the stream");
    expect(stream.finalResponse!.choices[0]!.message.content).toBe("Hello from the stream");
    expect(stream.chunks).not.toBeNull();
    const deltas = stream.chunks!.filter((c) => c.data !== "[DONE]").map((c) => (JSON.parse(c.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "");
    expect(deltas.join("")).toBe("Hello from the stream");

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ReplayPage = await replay(`limit=2${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.calls.length).toBeLessThanOrEqual(2);
      seen.push(...page.calls.map((c) => c.callId));
      cursor = page.nextCursor;
    } while (cursor !== null && seen.length < 20);
    expect(seen).toEqual(ids);

    expect((await replay("labelled=true")).calls.map((c) => c.callId)).toEqual(["rp-1"]);
    expect((await replay("labelled=false")).calls.map((c) => c.callId)).toEqual(["rp-0", "rp-2", "rp-3", streamCallId]);
    const from = all.calls[2]!.startedAt;
    expect((await replay(`from=${encodeURIComponent(from)}`)).calls.map((c) => c.callId)).toEqual(["rp-2", "rp-3", streamCallId]);
    expect((await replay(`to=${encodeURIComponent(from)}`)).calls.map((c) => c.callId)).toEqual(["rp-0", "rp-1"]);
    expect((await replay("limit=100000")).calls).toHaveLength(5);
    for (const q of ["labelled=yes", "cursor=nope", "from=yesterday", "limit=-1"]) {
      expect({ q, status: (await fetch(`${url}/api/replay/calls?${q}`, { headers: AUTH })).status }).toEqual({ q, status: 400 });
    }
    expect((await fetch(`${url}/api/replay/calls`)).status).toBe(401);
  });

  it("stores replay reports and lists them with their summaries", async () => {
    const report = {
      since: "2026-12-01T00:00:00.000Z",
      until: "2026-12-02T00:00:00.000Z",
      config: "policies:\n  - use: all-caps\n",
      calls: 5,
      labelled: 1,
      policies: [
        {
          policy: "all-caps",
          changed: 4,
          blocked: 0,
          redacted: 0,
          held: 0,
          rewritten: 4,
          denied: 0,
          tp: 1,
          fp: 0,
          fn: 0,
          tn: 0,
          precision: 1,
          recall: 1,
          examples: [{ callId: "rp-1", actions: ["all-caps.response_modified"], before: "answer 1 \u0000", after: "ANSWER 1" }],
        },
      ],
      results: [{ callId: "rp-1", actions: ["all-caps.response_modified"], changed: true, label: "should_block" }],
    };
    const created = await send("POST", "/api/replays", report);
    expect(created.status).toBe(201);
    const { id } = created.json as { id: string; createdAt: string };
    const second = await send("POST", "/api/replays", { ...report, calls: 7, policies: [] });
    expect(second.status).toBe(201);

    const { replays } = await getJson<{ replays: { id: string; createdAt: string; since: string; until: string; calls: number; labelled: number; policies: unknown[] }[] }>(
      `${url}/api/replays`,
    );
    expect(replays.map((r) => r.id)).toEqual([(second.json as { id: string }).id, id]);
    expect(replays[1]).toMatchObject({ since: report.since, until: report.until, calls: 5, labelled: 1 });
    const { examples: _examples, ...counts } = report.policies[0]!;
    expect(replays[1]!.policies).toEqual([counts]);
    expect(replays[0]!.policies).toEqual([]);

    const stored = await getJson<{ id: string; report: typeof report }>(`${url}/api/replays/${id}`);
    expect(stored.report.config).toBe(report.config);
    expect(stored.report.results).toEqual(report.results);
    // PostgreSQL refuses U+0000 in jsonb: kept as its escape text.
    expect(stored.report.policies[0]!.examples[0]!.before).toBe("answer 1 \\u0000");

    expect((await fetch(`${url}/api/replays/00000000-0000-4000-8000-000000000000`, { headers: AUTH })).status).toBe(404);
    expect((await fetch(`${url}/api/replays/nope`, { headers: AUTH })).status).toBe(404);
    expect((await send("POST", "/api/replays", [report])).status).toBe(400);
    expect((await send("POST", "/api/replays", "report")).status).toBe(400);
    expect((await send("POST", "/api/replays", { big: "x".repeat(6 * 1024 * 1024) })).status).toBe(413);
  });
});
