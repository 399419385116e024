import { createApprovalBroker, type ApprovalBroker, type HeldCall, type HoldOutcome, type HoldRequest } from "@luthien/approvals";
import { createEventPublisher, type EventPublisher } from "@luthien/events";
import { createTestDatabase, freePort, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, AUTH, getJson } from "./helpers";

// Approvals end to end: a real approval broker (the engine's side) holds tool calls and publishes its events
// through a real publisher and JetStream; two monitors sharing one PostgreSQL database list them and send decisions
// over NATS to whichever engine holds the call.

interface Refusal {
  reason: string;
  decision: string;
  by: string;
  recordedBy: "engine" | "monitor";
  state: string | null;
}
interface Approval {
  approvalId: string;
  callId: string;
  state: string;
  lost: boolean;
  requested: { tool: string; input: unknown; policy: string; reason: string; keyId: string; owner: string; sessionId: string; model: string };
  decided: { state: string; by: string; note: string; scope: string; waitedMs: number } | null;
  refused: Refusal[];
  requestedAt: string;
  expiresAt: string;
}

let nats: RunningNats;
let db: TestDatabase;
let monitorA: RunningService;
let monitorB: RunningService;
let engine: EventPublisher;
let broker: ApprovalBroker;
const quiet = { warn: () => {} };

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  const env = { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY };
  // One after the other: the first migrates the shared database. Both share the durable, as replicas do.
  monitorA = await startService("monitor", { env });
  monitorB = await startService("monitor", { env });
  engine = createEventPublisher({ url: nats.url, source: "control-plane" });
  broker = createApprovalBroker({ url: nats.url, publish: (callId, type, data) => engine.publish(callId, type, data), logger: quiet });
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await engine?.close();
  await Promise.all([monitorA?.stop(), monitorB?.stop()]);
  await db?.drop();
  await nats?.dispose();
});

const call = (callId: string): HeldCall => ({ callId, keyId: "vk_approvals", owner: "team-a", userId: "user-1", sessionId: `session-${callId}`, model: "claude-sonnet-4" });
const ask = (over: Partial<HoldRequest> = {}): HoldRequest => ({
  policy: "dangerous-commands",
  tool: "bash",
  toolCallId: "toolu_1",
  input: { command: "rm -rf ./build", cwd: "/repo" },
  reason: "deletes files",
  timeoutMs: 30_000,
  ...over,
});

/** Holds a call on `b` and waits until `monitor` lists it as pending. */
async function held(callId: string, over: Partial<HoldRequest> = {}, b = broker, monitor = monitorA): Promise<{ approval: Approval; outcome: Promise<HoldOutcome> }> {
  const outcome = b.hold(call(callId), ask(over), new AbortController().signal);
  const approval = await waitFor(async () => (await getJson<{ approvals: Approval[] }>(`${monitor.url}/api/approvals?state=pending`)).approvals.find((a) => a.callId === callId), {
    timeoutMs: 15_000,
    what: `the pending approval of ${callId}`,
  });
  return { approval, outcome };
}

async function post(monitor: RunningService, path: string, body?: unknown): Promise<{ status: number; body: { ok?: boolean; state?: string; error?: { type: string; message: string } } }> {
  const res = await fetch(`${monitor.url}${path}`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** The approval as `monitor` reads it, once `ready` accepts it. */
function approvalWhen(monitor: RunningService, id: string, ready: (a: Approval) => boolean, what: string): Promise<Approval> {
  return waitFor(
    async () => {
      const a = (await getJson<{ approval: Approval }>(`${monitor.url}/api/approvals/${id}`)).approval;
      return ready(a) ? a : undefined;
    },
    { timeoutMs: 15_000, what },
  );
}

describe("monitor approvals API", () => {
  it("lists a held call with everything an approver needs; an approval releases it; a second decision is refused and shown", async () => {
    const { approval, outcome } = await held("appr-1");
    expect(approval).toMatchObject({
      state: "pending",
      lost: false,
      decided: null,
      refused: [],
      requested: {
        tool: "bash",
        input: { command: "rm -rf ./build", cwd: "/repo" },
        policy: "dangerous-commands",
        reason: "deletes files",
        keyId: "vk_approvals",
        owner: "team-a",
        sessionId: "session-appr-1",
        model: "claude-sonnet-4",
      },
    });
    expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).toBeGreaterThan(25_000);

    const ok = await post(monitorA, `/api/approvals/${approval.approvalId}/approve`, { note: "looks fine", by: "alice" });
    expect(ok).toEqual({ status: 200, body: { ok: true, state: "approved" } });
    await expect(outcome).resolves.toEqual({ approved: true, by: "alice", note: "looks fine", via: "decision" });
    const decided = await approvalWhen(monitorA, approval.approvalId, (a) => a.decided !== null, "the decision stored");
    expect(decided).toMatchObject({ state: "approved", decided: { state: "approved", by: "alice", note: "looks fine", scope: "once" } });
    expect(decided.decided!.waitedMs).toBeGreaterThanOrEqual(0);
    const pending = await getJson<{ approvals: Approval[] }>(`${monitorA.url}/api/approvals?state=pending`);
    expect(pending.approvals.map((a) => a.approvalId)).not.toContain(approval.approvalId);
    const done = await getJson<{ approvals: Approval[] }>(`${monitorA.url}/api/approvals?state=decided`);
    expect(done.approvals.map((a) => a.approvalId)).toContain(approval.approvalId);

    const again = await post(monitorA, `/api/approvals/${approval.approvalId}/deny`, { note: "changed my mind" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ type: "already_decided" });
    const refused = await approvalWhen(monitorA, approval.approvalId, (a) => a.refused.length > 0, "the refusal stored");
    expect(refused.state).toBe("approved");
    expect(refused.refused).toEqual([expect.objectContaining({ reason: "already_decided", decision: "deny", by: "monitor", recordedBy: "engine", state: "approved" })]);
  });

  it("takes a decision through a second monitor sharing the database: a denial reaches the engine with its note", async () => {
    const { approval, outcome } = await held("appr-2", {}, broker, monitorA);
    // Monitor B reads the same approvals from the shared database.
    expect((await getJson<{ approval: Approval }>(`${monitorB.url}/api/approvals/${approval.approvalId}`)).approval.state).toBe("pending");
    const denied = await post(monitorB, `/api/approvals/${approval.approvalId}/deny`, { note: "not on the build dir", by: "bob" });
    expect(denied).toEqual({ status: 200, body: { ok: true, state: "denied" } });
    await expect(outcome).resolves.toEqual({ approved: false, by: "bob", note: "not on the build dir", reason: "denied" });
    const seen = await approvalWhen(monitorA, approval.approvalId, (a) => a.decided !== null, "the denial stored");
    expect(seen).toMatchObject({ state: "denied", decided: { by: "bob", note: "not on the build dir" } });
  });

  it("approves for the session: the same tool call later passes without asking", async () => {
    const { approval, outcome } = await held("appr-3");
    expect((await post(monitorA, `/api/approvals/${approval.approvalId}/approve`, { scope: "session" })).status).toBe(200);
    await expect(outcome).resolves.toMatchObject({ approved: true, via: "decision", by: "monitor" });
    await approvalWhen(monitorA, approval.approvalId, (a) => a.decided?.scope === "session", "the session approval stored");
    // The grant is written after the reply; the next call of the session finds it.
    const later = await waitFor(
      async () => {
        const o = await broker.hold(call("appr-3"), ask({ timeoutMs: 200 }), new AbortController().signal);
        return o.approved ? o : undefined;
      },
      { timeoutMs: 10_000, what: "the session grant" },
    );
    expect(later).toMatchObject({ approved: true, via: "session" });
  });

  it("refuses a decision after the hold expired (late) and shows it as refused", async () => {
    const { approval, outcome } = await held("appr-4", { timeoutMs: 1500 });
    await expect(outcome).resolves.toMatchObject({ approved: false, reason: "expired" });
    const late = await post(monitorA, `/api/approvals/${approval.approvalId}/approve`, { by: "carol" });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ type: "late" });
    const a = await approvalWhen(monitorA, approval.approvalId, (x) => x.refused.length > 0, "the late refusal stored");
    expect(a).toMatchObject({ state: "expired", lost: false, decided: { state: "expired" } });
    expect(a.refused).toEqual([expect.objectContaining({ reason: "late", decision: "approve", by: "carol", recordedBy: "engine", state: "expired" })]);
    const decided = await getJson<{ approvals: Approval[] }>(`${monitorA.url}/api/approvals?state=decided&limit=200`);
    expect(decided.approvals.find((x) => x.approvalId === approval.approvalId)?.refused[0]?.reason).toBe("late");
  });

  it("answers not_held for an approval whose engine is gone, and records that refusal", async () => {
    const other = createApprovalBroker({ url: nats.url, publish: (callId, type, data) => engine.publish(callId, type, data), logger: quiet });
    const { approval, outcome } = await held("appr-5", {}, other);
    await other.close();
    await expect(outcome).resolves.toMatchObject({ approved: false, reason: "cancelled" });
    const r = await post(monitorB, `/api/approvals/${approval.approvalId}/approve`, { note: "too late" });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ type: "not_held" });
    const a = await approvalWhen(monitorA, approval.approvalId, (x) => x.decided !== null && x.refused.length > 0, "the cancellation and the refusal");
    expect(a.state).toBe("cancelled");
    expect(a.refused).toEqual([expect.objectContaining({ reason: "not_held", decision: "approve", by: "monitor", recordedBy: "monitor", state: null })]);
  });

  it("reads an approval whose engine died without a word as expired and lost, once its expiry has passed", async () => {
    const approvalId = "lost-approval-1";
    const now = Date.now();
    engine.publish("appr-6", "approval.requested", {
      ...ask(),
      ...call("appr-6"),
      approvalId,
      expiresAt: new Date(now - 60_000).toISOString(),
      subject: `luthien.approvals.decide.${approvalId}`,
      engine: "engine-crashed",
    });
    await engine.flush(10_000);
    const a = await waitFor(async () => (await getJson<{ approvals: Approval[] }>(`${monitorA.url}/api/approvals?state=decided`)).approvals.find((x) => x.approvalId === approvalId), {
      timeoutMs: 15_000,
      what: "the lost approval",
    });
    expect(a).toMatchObject({ state: "expired", lost: true, decided: null });
    expect((await getJson<{ approvals: Approval[] }>(`${monitorA.url}/api/approvals?state=pending`)).approvals.map((x) => x.approvalId)).not.toContain(approvalId);
    const r = await post(monitorA, `/api/approvals/${approvalId}/deny`, { by: "dave" });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ type: "not_held" });
    const after = (await getJson<{ approval: Approval }>(`${monitorA.url}/api/approvals/${approvalId}`)).approval;
    expect(after.refused).toEqual([expect.objectContaining({ reason: "not_held", decision: "deny", by: "dave", recordedBy: "monitor" })]);
  });

  it("refuses malformed requests before anything reaches an engine", async () => {
    const id = "0193f0e4-aaaa-7bbb-8ccc-000000000000";
    expect((await post(monitorA, "/api/approvals/not.an.id/approve", {})).status).toBe(400);
    expect((await fetch(`${monitorA.url}/api/approvals/not.an.id`, { headers: AUTH })).status).toBe(400);
    expect((await fetch(`${monitorA.url}/api/approvals/${id}`, { headers: AUTH })).status).toBe(404);
    for (const body of [{ scope: "forever" }, { pattern: "rm *" }, { by: "" }, { note: 5 }, { decision: "deny" }, [1]]) {
      const r = await post(monitorA, `/api/approvals/${id}/approve`, body);
      expect({ body, status: r.status, type: r.body.error?.type }).toEqual({ body, status: 400, type: "invalid_request" });
    }
    expect((await post(monitorA, `/api/approvals/${id}/deny`, { scope: "session" })).status).toBe(400);
    expect((await fetch(`${monitorA.url}/api/approvals?state=open`, { headers: AUTH })).status).toBe(400);
    expect((await fetch(`${monitorA.url}/api/approvals`)).status).toBe(401);
    expect((await fetch(`${monitorA.url}/api/approvals/${id}/approve`, { method: "POST" })).status).toBe(401);
  });

  it("answers 503 when NATS cannot be reached", async () => {
    const offline = await startService("monitor", {
      env: { NATS_URL: `nats://127.0.0.1:${await freePort()}`, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_CONSUMER: "approvals-offline" },
    });
    try {
      const r = await post(offline, "/api/approvals/some-approval/approve", {});
      expect(r.status).toBe(503);
      expect(r.body.error?.type).toBe("nats_unavailable");
      // The list still answers: it is read from the database.
      expect((await getJson<{ approvals: Approval[] }>(`${offline.url}/api/approvals`)).approvals.length).toBeGreaterThan(0);
    } finally {
      await offline.stop();
    }
  });
});
