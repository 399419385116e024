/**
 * Sessions and attribution through the real stack: a virtual key's calls from Claude-Code-, Codex- and SDK-shaped
 * clients carry their key id, owner and session to the engine and every event; the monitor (PostgreSQL) lists the
 * sessions with their calls in order and the key's usage, spend and limits hit; keys made through its admin API
 * work on the gateway at once and its revocation reaches it.
 */
import { createTestDatabase, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import { postRaw } from "./sse";

const ADMIN = "monitor-admin-sessions-0123456789";
const SERVER_OPENAI = "sk-server-openai-sessions-0123456789";

let nats: RunningNats;
let db: TestDatabase;
let stack: Stack;
let monitor: RunningService;

const admin = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
  const res = await fetch(`${monitor.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers ?? {}) } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

beforeAll(async () => {
  nats = await startNats();
  db = await createTestDatabase();
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN } });
  stack = await startStack({ natsUrl: nats.url, policies: "policies:\n  - use: all-caps\n", gatewayEnv: { AUTH_MODE: "client_key", OPENAI_API_KEY: SERVER_OPENAI } });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

interface Issued {
  key: { id: string; owner: string };
  secret: string;
}
interface Session {
  sessionId: string;
  calls: number;
  keyIds: string[];
  owners: string[];
  intervened: number;
}
interface CallRow {
  callId: string;
  keyId: string | null;
  owner: string | null;
  sessionId: string | null;
  startedAt: string;
  policyActions: string[];
  costUsd: number | null;
}

it("attributes every call to its key, owner and session, and the monitor groups them", async () => {
  const { key, secret } = await admin<Issued>("/api/keys", { method: "POST", body: JSON.stringify({ name: "laptop", owner: "team-sessions", limits: { rpm: 5 } }) });
  expect(secret).toMatch(/^lk_/);
  const gw = stack.gateway.url;
  const anthropic = (extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", max_tokens: 20, messages: [{ role: "user", content: "hi" }], ...extra });
  const claudeSession = "3d0f8a52-0d4e-4c1b-9f7a-5f2a7d4f1c11";
  const sent = [
    // Claude Code: its session header, and its session inside metadata.user_id (JSON, current versions).
    postRaw(`${gw}/v1/messages`, anthropic(), { headers: { "x-api-key": secret, "anthropic-version": "2023-06-01", "x-claude-code-session-id": claudeSession } }),
    postRaw(`${gw}/v1/messages`, anthropic({ metadata: { user_id: JSON.stringify({ device_id: "d", account_uuid: "", session_id: claudeSession }) } }), {
      headers: { "x-api-key": secret, "anthropic-version": "2023-06-01" },
    }),
    // Codex: `session-id` on the Responses API.
    postRaw(`${gw}/v1/responses`, { model: "gpt-4o-mini", input: "hi" }, { headers: { authorization: `Bearer ${secret}`, "session-id": "codex-session-1" } }),
    // Ours wins over any other.
    postRaw(
      `${gw}/v1/chat/completions`,
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
      { headers: { authorization: `Bearer ${secret}`, "x-luthien-session-id": "ours-1", "x-session-id": "other" } },
    ),
  ];
  for (const res of await Promise.all(sent)) expect(res.status).toBe(200);
  // Past its 5 rpm: refused, and counted as a limit hit.
  let refused = 0;
  for (let i = 0; i < 3; i++) {
    const res = await postRaw(
      `${gw}/v1/chat/completions`,
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
      { headers: { authorization: `Bearer ${secret}`, "x-luthien-session-id": "ours-1" } },
    );
    if (res.status === 429) refused++;
    await res.arrayBuffer();
  }
  expect(refused).toBe(2);

  const sessions = await waitFor(
    async () => {
      const { sessions } = await admin<{ sessions: Session[] }>(`/api/sessions?keyId=${key.id}`);
      return sessions.length === 3 && sessions.every((s) => s.owners.includes("team-sessions")) && sessions.find((s) => s.sessionId === "ours-1")?.calls === 4 ? sessions : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: "three sessions in the monitor" },
  );
  expect(Object.fromEntries(sessions.map((s) => [s.sessionId, s.calls]))).toEqual({ [claudeSession]: 2, "codex-session-1": 1, "ours-1": 4 });
  for (const s of sessions) expect(s.keyIds).toEqual([key.id]);

  const { calls } = await admin<{ calls: CallRow[] }>(`/api/sessions/${claudeSession}`);
  expect(calls).toHaveLength(2);
  expect(calls[0]!.startedAt <= calls[1]!.startedAt).toBe(true);
  for (const c of calls) {
    expect(c).toMatchObject({ keyId: key.id, owner: "team-sessions", sessionId: claudeSession });
    expect(c.policyActions).toContain("all-caps.response_modified");
    expect(c.costUsd).toBeGreaterThan(0);
  }
  const byOwner = await admin<{ calls: CallRow[] }>(`/api/calls?owner=team-sessions`);
  expect(byOwner.calls).toHaveLength(7);

  const usage = await admin<{ keys: { keyId: string; calls: number; limited: number; costUsd: number; owners: string[] }[] }>("/api/keys/usage");
  const mine = usage.keys.find((k) => k.keyId === key.id);
  expect(mine).toMatchObject({ calls: 7, limited: 2, owners: ["team-sessions"] });
  expect(mine?.costUsd).toBeGreaterThan(0);
  // The store, the listing and the monitor's database hold no secret.
  expect(JSON.stringify(await admin("/api/keys"))).not.toContain(secret);
  for (const c of byOwner.calls) expect(JSON.stringify(await admin(`/api/calls/${c.callId}`))).not.toContain(secret.slice(3));
  expect(stack.gateway.output()).not.toContain(secret.slice(3));
  expect(monitor.output()).not.toContain(secret.slice(3));
});

it("a key revoked through the monitor's admin API is refused by the gateway within 2 s; rotate gives a new secret", async () => {
  const { key, secret } = await admin<Issued>("/api/keys", { method: "POST", body: JSON.stringify({ name: "ci", owner: "team-ci" }) });
  const call = (s: string) =>
    postRaw(`${stack.gateway.url}/v1/chat/completions`, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }, { headers: { authorization: `Bearer ${s}` } });
  expect((await call(secret)).status).toBe(200);
  const rotated = await admin<Issued>(`/api/keys/${key.id}/rotate`, { method: "POST" });
  expect((await call(rotated.secret)).status).toBe(200);
  await waitFor(async () => (await call(secret)).status === 401, { timeoutMs: 2000, intervalMs: 20 });
  await admin(`/api/keys/${key.id}/revoke`, { method: "POST" });
  const at = Date.now();
  await waitFor(async () => (await call(rotated.secret)).status === 401, { timeoutMs: 2000, intervalMs: 20 });
  expect(Date.now() - at).toBeLessThan(2000);
  // Bad input is a 400, an unknown key a 404.
  const bad = await fetch(`${monitor.url}/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "x", owner: "y", limits: { rpm: -1 } }),
  });
  expect(bad.status).toBe(400);
  const missing = await fetch(`${monitor.url}/api/keys/vk_000000000000/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
  expect(missing.status).toBe(404);
  // Owner limits through the same API: shared by the owner's keys on the gateway.
  await admin(`/api/owners/${encodeURIComponent("team-ci")}`, { method: "PUT", body: JSON.stringify({ limits: { rpm: 1 } }) });
  expect(JSON.stringify(await admin("/api/owners"))).toContain("team-ci");
  const second = await admin<Issued>("/api/keys", { method: "POST", body: JSON.stringify({ name: "ci-2", owner: "team-ci" }) });
  await waitFor(async () => (await call(second.secret)).status === 429, { timeoutMs: 2000, intervalMs: 20 });
  const unauthenticated = await fetch(`${monitor.url}/api/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "x", owner: "y" }) });
  expect(unauthenticated.status).toBe(401);
});
