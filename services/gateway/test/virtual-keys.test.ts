/**
 * Virtual keys through the real stack: three gateway replicas on one NATS (JetStream KV), keys made and revoked with
 * `pnpm luthien keys`, scopes, the passthrough scope, rate limits shared across replicas, and the store's outages.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { REPO_ROOT, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack } from "@luthien/testkit";
import { rawRequest } from "./raw-http";
import { postRaw } from "./sse";

const run = promisify(execFile);
const SERVER_OPENAI = "sk-server-openai-virtual-0123456789";
const STATIC_KEY = "gw-static-virtual-0123456789";
const chat = (extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", max_tokens: 16, messages: [{ role: "user", content: "hi" }], ...extra });

interface Issued {
  id: string;
  secret: string;
  owner: string;
}

let nats: RunningNats;
let stack: Stack;
let replicas: RunningService[];

/** `pnpm luthien keys …` as an operator runs it (the script behind it), against the test's NATS. */
async function cli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, "scripts", "luthien.js"), "keys", ...args], { env: { ...process.env, NATS_URL: nats.url } });
  return stdout;
}
const create = async (args: string[]): Promise<Issued> => JSON.parse(await cli(["create", "--name", "test", "--owner", "team-a", ...args, "--json"])) as Issued;

const call = (gateway: RunningService, headers: Record<string, string>, body: Record<string, unknown> = chat(), route = "/v1/chat/completions") =>
  postRaw(`${gateway.url}${route}`, body, { headers });
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

beforeAll(async () => {
  nats = await startNats();
  const env = { NATS_URL: nats.url, GATEWAY_API_KEYS: STATIC_KEY, OPENAI_API_KEY: SERVER_OPENAI };
  stack = await startStack({ gatewayEnv: env });
  const more = await Promise.all(
    [1, 2].map(() =>
      startService("gateway", { env: { ...env, OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, ANTHROPIC_UPSTREAM_URL: stack.mock.url, POLICY_ENGINE_URL: stack.engine?.address ?? "" } }),
    ),
  );
  replicas = [stack.gateway, ...more];
}, 60_000);
afterAll(async () => {
  await Promise.all((replicas ?? []).slice(1).map((r) => r.stop()));
  await stack?.stop();
  await nats?.dispose();
});

describe("a key made with pnpm luthien keys", () => {
  it("works at once on every replica, and a revocation reaches all of them within 2 s", async () => {
    const key = await create([]);
    expect(key.secret).toMatch(/^lk_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    // At once: the first call on each replica, right after `create` returned, is served.
    expect(await Promise.all(replicas.map(async (r) => (await call(r, bearer(key.secret))).status))).toEqual([200, 200, 200]);

    await cli(["revoke", key.id]);
    const revokedAt = Date.now();
    await Promise.all(replicas.map((r) => waitFor(async () => (await call(r, bearer(key.secret))).status === 401, { timeoutMs: 2000, intervalMs: 20 })));
    const revocationMs = Date.now() - revokedAt;
    expect(revocationMs).toBeLessThan(2000);
    process.stdout.write(`revocation seen by all 3 replicas after ${revocationMs} ms\n`);
    for (const r of replicas) {
      const res = await call(r, bearer(key.secret));
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { type: "authentication_error", message: "this gateway key is revoked" } });
    }
  });

  it("rotate: the new secret works on every replica, the old one is refused", async () => {
    const key = await create([]);
    const rotated = JSON.parse(await cli(["rotate", key.id, "--json"])) as Issued;
    expect(rotated.id).toBe(key.id);
    expect(rotated.secret).not.toBe(key.secret);
    await Promise.all(
      replicas.map((r) =>
        waitFor(async () => (await call(r, bearer(rotated.secret))).status === 200 && (await call(r, bearer(key.secret))).status === 401, { timeoutMs: 2000, intervalMs: 20 }),
      ),
    );
  });

  it("a secret in a key's shape is checked by its digest: a real id with other random bytes, or a made-up id, is 401", async () => {
    const key = await create([]);
    const forged = [
      key.secret.slice(0, 15) + "A".repeat(43),
      key.secret.slice(0, -1) + (key.secret.endsWith("A") ? "B" : "A"),
      `lk_${"0".repeat(12)}${"A".repeat(43)}`,
      `lk_${key.id.slice(3)}`,
      key.secret.toUpperCase(),
    ];
    await stack.mockControl.reset();
    for (const r of replicas) {
      for (const secret of forged) {
        const res = await call(r, bearer(secret));
        expect(res.status).toBe(401);
        await res.arrayBuffer();
      }
      expect((await call(r, bearer(key.secret))).status).toBe(200);
    }
    expect(await stack.mockControl.requests()).toHaveLength(3);
  });

  it("an expired key is refused", async () => {
    const key = await create(["--expires", new Date(Date.now() + 1500).toISOString()]);
    await waitFor(async () => (await call(replicas[0] as RunningService, bearer(key.secret))).status === 200, { timeoutMs: 2000, intervalMs: 20 });
    await waitFor(async () => (await call(replicas[1] as RunningService, bearer(key.secret))).status === 401, { timeoutMs: 5000, intervalMs: 100 });
  });

  it("the store, the CLI's listing and every gateway's output hold the key's digest, never the key", async () => {
    const key = await create([]);
    await waitFor(async () => (await call(replicas[2] as RunningService, bearer(key.secret))).status === 200, { timeoutMs: 2000, intervalMs: 20 });
    await call(replicas[2] as RunningService, bearer(`${key.secret}x`));
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(jetstream(nc)).open("luthien-keys");
      const stored = await kv.get(key.id);
      expect(stored?.string()).not.toContain(key.secret);
      expect(stored?.string()).not.toContain(key.secret.slice(15, 30));
    } finally {
      await nc.close();
    }
    expect(await cli(["list", "--json"])).not.toContain(key.secret);
    for (const r of replicas) expect(r.output()).not.toContain(key.secret.slice(3));
  });
});

describe("scopes", () => {
  it("models, routes and max tokens are enforced before the provider is called (403 in the client's format)", async () => {
    const key = await create(["--models", "gpt-4o*,claude-mock-*", "--routes", "chat,messages", "--max-tokens", "100"]);
    const gw = replicas[0] as RunningService;
    await waitFor(async () => (await call(gw, bearer(key.secret))).status === 200, { timeoutMs: 2000, intervalMs: 20 });
    await stack.mockControl.reset();
    const refused: [Record<string, unknown>, string, Record<string, string>][] = [
      [chat({ model: "gpt-5" }), "/v1/chat/completions", {}],
      [chat({ model: "my-gpt-4o" }), "/v1/chat/completions", {}],
      [chat({ max_tokens: 101 }), "/v1/chat/completions", {}],
      [chat({ max_tokens: undefined }), "/v1/chat/completions", {}],
      [chat({ max_tokens: 10, max_completion_tokens: 5000 }), "/v1/chat/completions", {}],
      [chat({ max_tokens: "50" }), "/v1/chat/completions", {}],
      [{ model: "gpt-4o-mini", input: "hi", max_output_tokens: 10 }, "/v1/responses", {}],
      [{ model: "claude-mock-haiku", max_tokens: 500, messages: [{ role: "user", content: "hi" }] }, "/v1/messages", { "anthropic-version": "2023-06-01" }],
    ];
    for (const [body, route, headers] of refused) {
      const res = await call(gw, { ...bearer(key.secret), ...headers }, body, route);
      expect([route, res.status]).toEqual([route, 403]);
      const json = (await res.json()) as Record<string, unknown>;
      expect(JSON.stringify(json)).toContain("permission_error");
      expect(JSON.stringify(json)).not.toContain(key.secret);
    }
    expect(await stack.mockControl.requests()).toHaveLength(0);
    const ok = await call(
      gw,
      { ...bearer(key.secret), "anthropic-version": "2023-06-01" },
      { model: "claude-mock-haiku", max_tokens: 100, messages: [{ role: "user", content: "hi" }] },
      "/v1/messages",
    );
    expect(ok.status).toBe(200);
  });

  it("a routes scope reads the path as it is forwarded: another spelling of an operator's unchecked route is refused", async () => {
    const config = path.join(mkdtempSync(path.join(tmpdir(), "luthien-scope-")), "gateway.yaml");
    writeFileSync(config, 'uncheckedRoutes:\n  - { path: "/v1/files*" }\n');
    const gw = await startService("gateway", {
      env: {
        NATS_URL: nats.url,
        AUTH_MODE: "client_key",
        GATEWAY_CONFIG: config,
        OPENAI_API_KEY: SERVER_OPENAI,
        OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`,
        POLICY_ENGINE_URL: stack.engine?.address ?? "",
      },
    });
    try {
      const key = await create(["--routes", "models"]);
      await stack.mockControl.reset();
      for (const p of ["/v1/files", "/v1/models/../files", "/v1/models/%2e%2e/files", "/v1/models/%2E%2E/files/x", "/v1/models//..//files"]) {
        const res = await rawRequest(gw.port, { path: p, headers: { authorization: `Bearer ${key.secret}` } });
        expect([p, res.status]).toEqual([p, 403]);
      }
      expect(await stack.mockControl.requests()).toHaveLength(0);
      expect((await rawRequest(gw.port, { path: "/v1/models", headers: { authorization: `Bearer ${key.secret}` } })).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  it("passthrough: only a key scoped for it carries the caller's own credential (Claude Code: OAuth Bearer + x-luthien-api-key)", async () => {
    const open = await create(["--passthrough"]);
    const closed = await create([]);
    const gw = replicas[1] as RunningService;
    await waitFor(async () => (await call(gw, bearer(closed.secret))).status === 200 && (await call(gw, bearer(open.secret))).status === 200, { timeoutMs: 2000, intervalMs: 20 });
    const oauth = "sk-ant-oat01-claude-code-login-token";
    const anthropic = { model: "claude-mock-haiku", max_tokens: 5, messages: [{ role: "user", content: "hi" }] };
    await stack.mockControl.reset();
    const refused = await call(gw, { authorization: `Bearer ${oauth}`, "x-luthien-api-key": closed.secret, "anthropic-version": "2023-06-01" }, anthropic, "/v1/messages");
    expect(refused.status).toBe(401);
    expect(await stack.mockControl.requests()).toHaveLength(0);
    const passed = await call(gw, { authorization: `Bearer ${oauth}`, "x-luthien-api-key": open.secret, "anthropic-version": "2023-06-01" }, anthropic, "/v1/messages");
    expect(passed.status).toBe(200);
    const [seen] = await stack.mockControl.requests();
    expect(seen?.headers["authorization"]).toBe(`Bearer ${oauth}`);
    expect(JSON.stringify(seen?.headers)).not.toContain(open.secret);
    // A passthrough key alone still gets the server's key.
    await stack.mockControl.reset();
    expect((await call(gw, bearer(open.secret))).status).toBe(200);
    expect((await stack.mockControl.requests())[0]?.headers["authorization"]).toBe(`Bearer ${SERVER_OPENAI}`);
  });
});

describe("rate limits across replicas", () => {
  it("a 60 rpm key gets at most 60 served in a minute over three replicas; the rest get 429 with retry-after, and the provider never sees them", async () => {
    const key = await create(["--rpm", "60"]);
    await waitFor(async () => replicas.every(() => true) && (await call(replicas[0] as RunningService, { "x-luthien-api-key": key.secret })).status === 200, {
      timeoutMs: 2000,
      intervalMs: 20,
    });
    await stack.mockControl.reset();
    const statuses: number[] = [];
    const refusals: Response[] = [];
    // 150 calls, 10 at a time spread over the replicas, in both client formats.
    for (let wave = 0; wave < 15; wave++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const gw = replicas[(wave + i) % 3] as RunningService;
          return i % 2 === 0
            ? call(gw, bearer(key.secret))
            : call(
                gw,
                { "x-api-key": key.secret, "anthropic-version": "2023-06-01" },
                { model: "claude-mock-haiku", max_tokens: 5, messages: [{ role: "user", content: "hi" }] },
                "/v1/messages",
              );
        }),
      );
      for (const r of results) {
        statuses.push(r.status);
        if (r.status === 429) refusals.push(r);
        else await r.arrayBuffer();
      }
    }
    const served = statuses.filter((s) => s === 200).length;
    process.stdout.write(`60 rpm key over 3 replicas: ${served} served of ${statuses.length} (+1 before), ${refusals.length} refused\n`);
    // One call was served while waiting for the key to appear.
    expect(served + 1).toBeLessThanOrEqual(66);
    expect(served + 1).toBeGreaterThanOrEqual(54);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(await stack.mockControl.requests()).toHaveLength(served);
    for (const r of refusals.slice(0, 10)) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const body = (await r.json()) as { type?: string; error: { type: string } };
      expect(body.error.type).toBe("rate_limit_error");
    }
  });
});

describe("owner limits", () => {
  it("an owner's rpm is shared by all its keys over all replicas, beside each key's own", async () => {
    const owner = `team shared ${Date.now()}`;
    const keys = await Promise.all([1, 2].map(async () => JSON.parse(await cli(["create", "--name", "k", "--owner", owner, "--json"])) as Issued));
    await cli(["owner", owner, "--rpm", "4"]);
    expect(await cli(["owners", "--json"])).toContain(owner);
    // The owner's limits reach the gateways by the same watch as the keys.
    await new Promise((r) => setTimeout(r, 200));
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await call(replicas[i % 3] as RunningService, bearer((keys[i % 2] as Issued).secret));
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8);
    // Lifted: served again.
    await cli(["owner", owner]);
    await waitFor(async () => (await call(replicas[0] as RunningService, bearer((keys[0] as Issued).secret))).status === 200, { timeoutMs: 2000, intervalMs: 20 });
  });
});

describe("concurrent calls across replicas", () => {
  it("a key with 2 concurrent calls gets 2 of 6 slow calls served at once over three replicas; its slots come back when they end", async () => {
    const key = await create(["--concurrent", "2"]);
    await stack.mockControl.reset();
    await stack.mockControl.script(...Array.from({ length: 6 }, () => ({ delayMs: 1500 })));
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 40));
        const res = await call(replicas[i % 3] as RunningService, bearer(key.secret));
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    await stack.mockControl.reset();
    // A slot is released once the answer is finished (its write is asynchronous): served again right after.
    await waitFor(async () => (await Promise.all(replicas.slice(0, 2).map(async (r) => (await call(r, bearer(key.secret))).status))).every((s) => s === 200), {
      timeoutMs: 2000,
      intervalMs: 50,
    });
  });
});

describe("budgets and token limits, charged from usage", () => {
  const costly = { usage: { inputTokens: 1000, outputTokens: 1000 } };
  /** Calls until refused (at most 6): how many were served, and the refusal. */
  async function untilRefused(send: (i: number) => Promise<Response>): Promise<{ served: number; refusal: Response }> {
    for (let i = 0; i < 6; i++) {
      await stack.mockControl.script(costly);
      const res = await send(i);
      if (res.status !== 200) return { served: i, refusal: res };
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("never refused");
  }

  it("a day budget stops an OpenAI stream that did not ask for usage, on another replica, with budget_exceeded", async () => {
    // gpt-4o: 1000 in + 1000 out = 0.0125 USD, past a 0.01 budget after one call.
    const key = await create(["--usd-day", "0.01"]);
    await stack.mockControl.reset();
    const { served, refusal } = await untilRefused((i) => call(replicas[i % 3] as RunningService, bearer(key.secret), chat({ model: "gpt-4o", stream: true })));
    expect(served).toBe(1);
    expect(refusal.status).toBe(429);
    expect(await refusal.json()).toMatchObject({ error: { type: "budget_exceeded" } });
    const retryAfter = Number(refusal.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    // The provider was asked for usage the client did not ask for, and saw only the served call.
    const seen = await stack.mockControl.requests();
    expect(seen).toHaveLength(1);
    expect((seen[0]?.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
    const metrics = await (await fetch(`${(replicas[0] as RunningService).url}/metrics`)).text();
    expect(metrics).toContain(`luthien_gateway_cost_usd_total{key_id="${key.id}",service="gateway"} 0.0125`);
  });

  it("a month budget across formats: an Anthropic client on an OpenAI model is refused in the Anthropic format", async () => {
    const key = await create(["--usd-month", "0.02"]);
    const anthropicOnGpt = { model: "gpt-4o", max_tokens: 50, stream: true, messages: [{ role: "user", content: "hi" }] };
    const { served, refusal } = await untilRefused((i) =>
      call(replicas[i % 3] as RunningService, { "x-api-key": key.secret, "anthropic-version": "2023-06-01" }, anthropicOnGpt, "/v1/messages"),
    );
    expect(served).toBe(2);
    expect(refusal.status).toBe(429);
    expect(await refusal.json()).toMatchObject({ type: "error", error: { type: "budget_exceeded" } });
  });

  it("tokens per minute: refused once the minute's tokens are used, with retry-after", async () => {
    const key = await create(["--tpm", "3000"]);
    const { served, refusal } = await untilRefused((i) => call(replicas[i % 3] as RunningService, bearer(key.secret)));
    expect(served).toBe(2);
    expect(refusal.status).toBe(429);
    expect(await refusal.json()).toMatchObject({ error: { type: "rate_limit_error" } });
    expect(Number(refusal.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("a key with a budget cannot use a model without a price (its spend could not be counted)", async () => {
    const key = await create(["--usd-day", "5"]);
    const res = await call(replicas[0] as RunningService, bearer(key.secret), chat({ model: "some-unpriced-model" }));
    expect(res.status).toBe(403);
  });
});

describe("the key store's outages", () => {
  it("a gateway that starts while the store is unreachable refuses virtual keys (503), serves static keys, and recovers", async () => {
    const late = await startNats();
    const key = await (async () => {
      const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, "scripts", "luthien.js"), "keys", "create", "--name", "late", "--owner", "ops", "--json"], {
        env: { ...process.env, NATS_URL: late.url },
      });
      return JSON.parse(stdout) as Issued;
    })();
    await late.stop();
    const gw = await startService("gateway", {
      env: { NATS_URL: late.url, GATEWAY_API_KEYS: STATIC_KEY, OPENAI_API_KEY: SERVER_OPENAI, OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, POLICY_ENGINE_URL: stack.engine?.address ?? "" },
    });
    try {
      const refused = await call(gw, bearer(key.secret));
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { type: "key_store_unavailable" } });
      // Reported, without failing readiness: static keys are still served.
      const ready = await fetch(`${gw.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ virtualKeys: "unavailable" });
      expect((await call(gw, bearer(STATIC_KEY))).status).toBe(200);
      // A credential that is no virtual key stays a plain 401, store or not.
      expect((await call(gw, bearer("sk-someone-else-0123456789"))).status).toBe(401);
      await late.restart();
      await waitFor(async () => (await call(gw, bearer(key.secret))).status === 200, { timeoutMs: 10_000, intervalMs: 100 });
      expect(await (await fetch(`${gw.url}/ready`)).json()).toMatchObject({ virtualKeys: "ready" });
      // Cut off again: past the 2 s grace, virtual keys are refused (a revocation could be missed), static keys work.
      await late.stop();
      await waitFor(async () => (await call(gw, bearer(key.secret))).status === 503, { timeoutMs: 10_000, intervalMs: 100 });
      expect((await call(gw, bearer(STATIC_KEY))).status).toBe(200);
    } finally {
      await gw.stop();
      await late.dispose();
    }
  }, 60_000);

  it("a rate-limited key while the limit store fails: denied by default (503), or served and marked with LIMITS_ON_STORE_ERROR=allow", async () => {
    const key = await create(["--rpm", "1000"]);
    const base = {
      NATS_URL: nats.url,
      AUTH_MODE: "client_key",
      OPENAI_API_KEY: SERVER_OPENAI,
      OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`,
      POLICY_ENGINE_URL: stack.engine?.address ?? "",
      LIMITS_NATS_URL: "nats://127.0.0.1:1",
    };
    const deny = await startService("gateway", { env: base });
    const allow = await startService("gateway", { env: { ...base, LIMITS_ON_STORE_ERROR: "allow" } });
    try {
      await waitFor(async () => (await call(deny, bearer(key.secret))).status === 503, { timeoutMs: 5000, intervalMs: 50 });
      const denied = await call(deny, bearer(key.secret));
      expect(await denied.json()).toMatchObject({ error: { type: "rate_limiter_unavailable" } });
      const allowed = await call(allow, bearer(key.secret));
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get("x-luthien-limits-unchecked")).toBe("store_unavailable");
      const metrics = await (await fetch(`${deny.url}/metrics`)).text();
      expect(metrics).toMatch(/luthien_gateway_limit_decisions_total\{outcome="denied",service="gateway"\} [1-9]/);
    } finally {
      await Promise.all([deny.stop(), allow.stop()]);
    }
  }, 30_000);
});
