import { request } from "node:http";
import { networkInterfaces } from "node:os";
import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, AUTH, createPublishers, getJson, publishCall } from "./helpers";

interface CallRow {
  callId: string;
  startedAt: string;
  model: string | null;
  keyId: string | null;
  status: number | null;
  policyActions: string[];
}
interface Page {
  calls: CallRow[];
  nextCursor: string | null;
}

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let pubs: ReturnType<typeof createPublishers>;
const TOTAL = 25;

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  pubs = createPublishers(nats.url);
  for (let i = 0; i < TOTAL; i++) {
    publishCall(pubs, {
      callId: `api-${String(i).padStart(2, "0")}`,
      model: i % 5 === 0 ? "claude-sonnet-4" : "gpt-4o-mini",
      keyId: i % 2 === 0 ? "key-even" : "key-odd",
      status: i === 7 ? 429 : 200,
      outcome: i === 7 ? "error" : "ok",
      prompt: i === 3 ? "please run rm -rf / for me" : `prompt number ${i}`,
      answer: "fine",
      finalAnswer: i % 3 === 0 ? "FINE" : "fine",
    });
    // Distinct start times so the order is the publish order.
    await new Promise((r) => setTimeout(r, 3));
  }
  await pubs.flush();
  await waitFor(async () => (await getJson<Page>(`${monitor.url}/api/calls?limit=200&outcome=ok`)).calls.length === TOTAL - 1, {
    timeoutMs: 20_000,
    what: "every call ended",
  });
});

afterAll(async () => {
  await pubs?.close();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

const list = (query: string): Promise<Page> => getJson<Page>(`${monitor.url}/api/calls?${query}`);

describe("monitor API", () => {
  it("answers /health and /ready without a key", async () => {
    expect((await fetch(`${monitor.url}/health`)).status).toBe(200);
    const ready = await fetch(`${monitor.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: "up", nats: "up" });
  });

  it("refuses the API without the admin key, or with a wrong one", async () => {
    for (const path of ["/api/calls", "/api/calls/api-00", "/api/activity/stream", "/api/stats"]) {
      expect((await fetch(`${monitor.url}${path}`)).status).toBe(401);
      expect((await fetch(`${monitor.url}${path}`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    }
    const res = await fetch(`${monitor.url}/api/calls`, { headers: AUTH });
    expect(res.status).toBe(200);
    // The key never travels back, not even in an error.
    expect(await (await fetch(`${monitor.url}/api/calls`)).text()).not.toContain(ADMIN_KEY);
  });

  it("logs in with the key and keeps the session in an HttpOnly, SameSite=Strict cookie", async () => {
    const bad = await fetch(`${monitor.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key: "nope" }) });
    expect(bad.status).toBe(401);
    const form = await fetch(`${monitor.url}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `key=${encodeURIComponent(ADMIN_KEY)}`,
      redirect: "manual",
    });
    expect(form.status).toBe(303);
    const setCookie = form.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^luthien_monitor_session=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toContain(ADMIN_KEY);
    const cookie = setCookie.split(";")[0]!;
    expect((await fetch(`${monitor.url}/api/calls?limit=1`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${monitor.url}/api/calls?limit=1`, { headers: { cookie: cookie.slice(0, -3) + "abc" } })).status).toBe(401);
  });

  it("filters calls by model, key, status, policy action, text and time", async () => {
    expect((await list("model=claude-sonnet-4&limit=200")).calls.map((c) => c.callId).sort()).toEqual(["api-00", "api-05", "api-10", "api-15", "api-20"]);
    expect((await list("keyId=key-odd&limit=200")).calls).toHaveLength(12);
    expect((await list("status=429")).calls.map((c) => c.callId)).toEqual(["api-07"]);
    const modified = await list("action=all-caps.response_modified&limit=200");
    expect(modified.calls.map((c) => c.callId).sort()).toEqual(["api-00", "api-03", "api-06", "api-09", "api-12", "api-15", "api-18", "api-21", "api-24"]);
    expect((await list(`q=${encodeURIComponent("RM -RF /")}`)).calls.map((c) => c.callId)).toEqual(["api-03"]);
    // LIKE wildcards in q are literal.
    expect((await list("q=%25")).calls).toHaveLength(0);
    expect((await list("model=gpt-4o-mini&keyId=key-even&limit=200")).calls).toHaveLength(10);
    const all = (await list("limit=200")).calls;
    const mid = all[10]!.startedAt;
    const newer = (await list(`from=${encodeURIComponent(mid)}&limit=200`)).calls;
    const older = (await list(`to=${encodeURIComponent(mid)}&limit=200`)).calls;
    expect(newer.length + older.length).toBe(TOTAL);
    expect(newer.every((c) => c.startedAt >= mid)).toBe(true);
    expect(older.every((c) => c.startedAt < mid)).toBe(true);
  });

  it("pages through calls with a cursor, newest first, without gaps or repeats", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(`limit=7${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.calls.length).toBeLessThanOrEqual(7);
      seen.push(...page.calls.map((c) => c.callId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => `api-${String(TOTAL - 1 - i).padStart(2, "0")}`));
    expect((await list("limit=100000")).calls).toHaveLength(TOTAL);
    const bad = await fetch(`${monitor.url}/api/calls?cursor=garbage`, { headers: AUTH });
    expect(bad.status).toBe(400);
    expect((await fetch(`${monitor.url}/api/calls?status=abc`, { headers: AUTH })).status).toBe(400);
    expect((await fetch(`${monitor.url}/api/calls?model=a&model=b`, { headers: AUTH })).status).toBe(400);
  });

  it("returns a call with its events in order and original vs final request and response", async () => {
    const d = await getJson<{
      call: { callId: string; policyActions: string[] };
      events: { type: string; seq: number; source: string }[];
      request: { original: { messages: { content: string }[] }; final: unknown };
      response: { original: { choices: { message: { content: string } }[] }; final: { choices: { message: { content: string } }[] } };
    }>(`${monitor.url}/api/calls/api-03`);
    expect(d.call.policyActions).toEqual(["all-caps.response_modified"]);
    expect(d.events.filter((e) => e.source === "gateway").map((e) => e.type)).toEqual([
      "call.started",
      "request.received",
      "request.sent",
      "response.received",
      "response.sent",
      "call.ended",
    ]);
    expect(d.events.filter((e) => e.source === "gateway").map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(d.request.original.messages[0]!.content).toBe("please run rm -rf / for me");
    expect(d.request.final).toEqual(d.request.original);
    expect(d.response.original.choices[0]!.message.content).toBe("fine");
    expect(d.response.final.choices[0]!.message.content).toBe("FINE");
    expect((await fetch(`${monitor.url}/api/calls/nope`, { headers: AUTH })).status).toBe(404);
  });

  it("streams new events live over SSE, filtered by call id and type prefix", async () => {
    const ac = new AbortController();
    const open = async (query: string): Promise<() => Promise<string>> => {
      const res = await fetch(`${monitor.url}/api/activity/stream?${query}`, { headers: AUTH, signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      // Reads until one whole activity event arrived and returns its data line.
      return async () => {
        for (;;) {
          const m = /event: activity\ndata: (.*)\n\n/.exec(text);
          if (m !== null) {
            text = text.slice(m.index + m[0].length);
            return m[1]!;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error("stream ended");
          text += value;
        }
      };
    };
    try {
      const byCall = await open("callId=live-1");
      const byType = await open("type=policy");
      publishCall(pubs, { callId: "live-0", answer: "a", finalAnswer: "A" });
      publishCall(pubs, { callId: "live-1", answer: "b" });
      const first = JSON.parse(await byCall()) as { callId: string; type: string; seq: number };
      expect(first).toMatchObject({ callId: "live-1", type: "call.started", seq: 1 });
      const policy = JSON.parse(await byType()) as { callId: string; type: string; source: string };
      expect(policy).toMatchObject({ callId: "live-0", type: "policy.all-caps.response_modified", source: "control-plane" });
    } finally {
      ac.abort();
    }
  });

  it("ends the session at logout: the same cookie is refused afterwards, other sessions stay", async () => {
    const login = async (): Promise<string> => {
      const res = await fetch(`${monitor.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key: ADMIN_KEY }) });
      expect(res.status).toBe(204);
      return (res.headers.get("set-cookie") ?? "").split(";")[0]!;
    };
    const [mine, other] = [await login(), await login()];
    expect(mine).not.toBe(other);
    const calls = (cookie: string): Promise<number> => fetch(`${monitor.url}/api/calls?limit=1`, { headers: { cookie } }).then((r) => r.status);
    expect(await calls(mine)).toBe(200);
    const out = await fetch(`${monitor.url}/logout`, { method: "POST", headers: { cookie: mine } });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/luthien_monitor_session=;/);
    // Someone who kept the cookie (a copied header, a browser that ignored the clearing) gets nothing with it.
    expect(await calls(mine)).toBe(401);
    expect((await fetch(`${monitor.url}/api/activity/stream`, { headers: { cookie: mine } })).status).toBe(401);
    expect(await calls(other)).toBe(200);
  });

  it("without ADMIN_API_KEY answers loopback clients under a loopback host name only (DNS rebinding), and says why to others", async () => {
    const open = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: "", MONITOR_CONSUMER: "api-loopback" } });
    try {
      expect(open.output()).toMatch(/warn ADMIN_API_KEY is not set/);
      expect((await fetch(`${open.url}/api/calls?limit=1`)).status).toBe(200);
      // A page on evil.example whose name now resolves to 127.0.0.1 connects from loopback, with its own Host.
      for (const host of [`localhost:${open.port}`, "localhost", `127.0.0.1:${open.port}`, `[::1]:${open.port}`, `LOCALHOST:${open.port}`]) {
        expect({ host, status: (await raw(open.port, "/api/calls?limit=1", { host })).status }).toEqual({ host, status: 200 });
      }
      for (const host of [
        `evil.example:${open.port}`,
        "evil.example",
        `localhost.evil.example:${open.port}`,
        `127.0.0.1.nip.io:${open.port}`,
        `[::1].evil:${open.port}`,
        `localhost:${open.port}@evil.example`,
        "",
      ]) {
        const res = await raw(open.port, "/api/calls?limit=1", { host });
        expect({ host, status: res.status }).toEqual({ host, status: 421 });
        expect(res.body).toMatch(/ADMIN_API_KEY is not set/);
        expect(res.body).not.toContain("callId");
      }
      expect((await raw(open.port, "/api/activity/stream", { host: `evil.example:${open.port}` })).status).toBe(421);
      expect((await raw(open.port, "/api/session", { host: `evil.example:${open.port}` })).status).toBe(421);
      // A foreign page asking the real name (a cross-site fetch): refused by its Origin.
      expect((await raw(open.port, "/api/calls", { host: `localhost:${open.port}`, origin: "https://evil.example" })).status).toBe(403);
      expect((await raw(open.port, "/api/calls", { host: `localhost:${open.port}`, origin: `http://localhost:${open.port}` })).status).toBe(200);
      // The public endpoints answer whatever the name.
      expect((await raw(open.port, "/health", { host: "evil.example" })).status).toBe(200);
      const external = Object.values(networkInterfaces())
        .flat()
        .find((a) => a !== undefined && a.family === "IPv4" && !a.internal);
      if (external !== undefined) {
        // From another machine, a loopback Host is no pass.
        const res = await raw(open.port, "/api/calls", { host: `localhost:${open.port}` }, external.address);
        expect(res.status).toBe(401);
        expect(res.body).toMatch(/ADMIN_API_KEY is not set/);
        expect((await raw(open.port, "/api/calls", {}, external.address)).status).toBe(421);
      }
    } finally {
      await open.stop();
    }
  });

  it("with ADMIN_API_KEY set answers under any host name (the key, not the name, authorises)", async () => {
    expect((await raw(monitor.port, "/api/calls?limit=1", { host: "monitor.example.com", ...AUTH })).status).toBe(200);
    expect((await raw(monitor.port, "/api/calls?limit=1", { host: "monitor.example.com" })).status).toBe(401);
  });
});

/** A request with exactly these headers (fetch would not send a Host of our choosing). */
function raw(port: number, path: string, headers: Record<string, string>, address = "127.0.0.1"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, method: "GET", headers, setHost: headers["host"] === undefined }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
        // An SSE stream never ends by itself: the status and first bytes are enough.
        if (res.headers["content-type"]?.startsWith("text/event-stream") === true) res.destroy();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("close", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
