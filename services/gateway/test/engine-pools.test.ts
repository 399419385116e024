import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import { freePort, startFakeEngine, startService, waitFor, type RunningService } from "@luthien/testkit";
import { readRouting } from "../src/upstream/routing";

const dir = mkdtempSync(path.join(tmpdir(), "luthien-pools-"));
let files = 0;
const write = (text: string): string => {
  const file = path.join(dir, `f${files++}.yaml`);
  writeFileSync(file, text);
  return file;
};
const keyId = (key: string): string => `key_${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;

/** An engine whose answers say which replica decided them: "mock model" becomes `tag`. */
const tagged = (tag: string): string => `policies:\n  - use: string-replace\n    with: { replacements: [["mock model", "${tag}"]] }\n`;
const CAPS = "policies:\n  - use: all-caps\n";

function startEngine(policies: string, port?: number): Promise<RunningService> {
  return startService("control-plane", {
    env: { POLICY_CONFIG: write(policies), LOG_LEVEL: "info", ...(port !== undefined ? { CONTROL_PLANE_PORT: String(port) } : {}) },
  });
}

const ask = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "hi" }] };
const client = (gateway: RunningService, apiKey = "unused"): OpenAI => new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
const text = async (c: OpenAI, model = ask.model): Promise<string> => (await c.chat.completions.create({ ...ask, model })).choices[0]?.message.content ?? "";

describe("GATEWAY_CONFIG engine pools", () => {
  it("parses pools and routes, and rejects what it cannot use", () => {
    const env = { POLICY_ENGINE_URL: "a:1, b:2", POLICY_FAILURE_MODE: "open" };
    const plain = readRouting(env);
    expect(plain.engines.get("default")).toEqual({ name: "default", targets: ["a:1", "b:2"], failureMode: "open" });
    const routing = readRouting({
      ...env,
      GATEWAY_CONFIG: write(
        [
          "engines:",
          '  - { name: strict, targets: ["s:1", "dns:///cp.svc:50051"], failureMode: closed }',
          "engineRoutes:",
          "  - { keyId: key_0123456789ab, engine: strict }",
          '  - { model: "claude-*", route: /v1/messages, engine: strict }',
        ].join("\n"),
      ),
    });
    expect(routing.resolveEngine({ keyId: "key_0123456789ab", model: "gpt-4o", route: "/v1/chat/completions" }).name).toBe("strict");
    expect(routing.resolveEngine({ keyId: "key_other", model: "claude-x", route: "/v1/messages" }).name).toBe("strict");
    expect(routing.resolveEngine({ keyId: "key_other", model: "claude-x", route: "/v1/chat/completions" })).toMatchObject({ name: "default", failureMode: "open" });
    const bad = (yaml: string): string => {
      try {
        readRouting({ GATEWAY_CONFIG: write(yaml) });
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(bad("engineRoutes:\n  - { keyId: k, engine: nope }\n")).toMatch(/engineRoutes\[0\]\.engine: unknown engine pool "nope"/);
    expect(bad("engines:\n  - { name: x, targets: [] }\n")).toMatch(/engines\[0\]\.targets/);
    expect(bad("engines:\n  - { name: x, targets: ['http://x:1'] }\n")).toMatch(/engines\[0\]\.targets\[0\]: expected host:port/);
    expect(bad("engines:\n  - { name: x, targets: ['x:1'], failureMode: maybe }\n")).toMatch(/failureMode: expected closed or open/);
    expect(bad("engineRoutes:\n  - { header: x, engine: default }\n")).toMatch(/engineRoutes\[0\]\.header: unknown key/);
  });

  it("serves two keys from two engines with different policies at once, and fails each pool its own way", async () => {
    const [mock, plain, strict] = await Promise.all([startService("mock-llm"), startEngine(tagged("replica A")), startEngine(CAPS)]);
    const dead = await freePort();
    const config = write(
      [
        "engines:",
        `  - { name: strict, targets: ["${strict.address}"] }`,
        `  - { name: lenient-dead, targets: ["127.0.0.1:${dead}"], failureMode: open }`,
        `  - { name: strict-dead, targets: ["127.0.0.1:${dead}"] }`,
        "engineRoutes:",
        `  - { keyId: ${keyId("team-strict")}, engine: strict }`,
        `  - { keyId: ${keyId("team-open")}, engine: lenient-dead }`,
        `  - { model: "closed-*", engine: strict-dead }`,
      ].join("\n"),
    );
    const gateway = await startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
        POLICY_ENGINE_URL: plain.address,
        GATEWAY_CONFIG: config,
        GATEWAY_API_KEYS: "team-plain,team-strict,team-open",
        AUTH_MODE: "client_key",
      },
    });
    try {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? text(client(gateway, "team-plain")) : text(client(gateway, "team-strict")))));
      answers.forEach((a, i) => expect(a).toBe(i % 2 === 0 ? "Hello from the Luthien replica A." : "HELLO FROM THE LUTHIEN MOCK MODEL."));

      // A pool that fails open serves its calls, marked; the other pools stay closed.
      const open = await client(gateway, "team-open").chat.completions.create(ask).withResponse();
      expect(open.response.headers.get("x-luthien-policy-bypassed")).toBe("unavailable");
      expect(open.data.choices[0]?.message.content).toBe("Hello from the Luthien mock model.");
      const closed = await text(client(gateway, "team-plain"), "closed-model").catch((e: unknown) => e);
      expect(closed).toBeInstanceOf(OpenAI.APIError);
      expect((closed as InstanceType<typeof OpenAI.APIError>).status).toBe(503);

      // Not ready while a pool has no serving replica, and /ready names no addresses.
      const ready = await fetch(`${gateway.url}/ready`);
      expect(ready.status).toBe(503);
      const body = await ready.text();
      expect(JSON.parse(body)).toMatchObject({ engines: { default: { serving: 1, replicas: 1 }, "strict-dead": { serving: 0 } } });
      expect(body).not.toContain("127.0.0.1");
    } finally {
      await Promise.all([gateway, mock, plain, strict].map((s) => s.stop()));
    }
  });

  it("spreads calls over healthy replicas, fails over when one dies, and uses it again when it is back", async () => {
    const [mock, a, b] = await Promise.all([startService("mock-llm"), startEngine(tagged("replica A")), startEngine(tagged("replica B"))]);
    const gateway = await startService("gateway", { env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, POLICY_ENGINE_URL: `${a.address},${b.address}` } });
    let a2: RunningService | undefined;
    try {
      expect((await fetch(`${gateway.url}/ready`)).status).toBe(200);
      const seen = await Promise.all(Array.from({ length: 20 }, () => text(client(gateway))));
      const fromA = seen.filter((s) => s.includes("replica A")).length;
      expect(fromA).toBeGreaterThanOrEqual(5);
      expect(seen.length - fromA).toBeGreaterThanOrEqual(5);

      // Killed without notice: calls keep succeeding on B, the ones that hit A first included.
      a.signal("SIGKILL");
      const after = await Promise.all(Array.from({ length: 10 }, () => text(client(gateway))));
      expect(after).toEqual(Array(10).fill("Hello from the Luthien replica B."));
      expect((await fetch(`${gateway.url}/ready`)).status).toBe(200);

      a2 = await startEngine(tagged("replica A2"), a.port);
      await waitFor(async () => (await text(client(gateway))).includes("replica A2"), { timeoutMs: 10000, what: "calls on the restarted replica" });
      expect(gateway.output()).toMatch(/policy engine health.*to=DOWN/);
    } finally {
      await Promise.all([gateway, mock, a, b, ...(a2 !== undefined ? [a2] : [])].map((s) => s.stop()));
    }
  });

  it("sends no new calls to a replica that reports NOT_SERVING, and uses it again once it serves", async () => {
    const [mock, real, fake] = await Promise.all([startService("mock-llm"), startEngine(tagged("replica R")), startFakeEngine()]);
    const gateway = await startService("gateway", { env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, POLICY_ENGINE_URL: `${real.address},${fake.address}` } });
    const startsAtFake = (): number => fake.received.filter((r) => r.kind === "start").length;
    try {
      await waitFor(async () => (await text(client(gateway))) === "Hello from the Luthien mock model.", { what: "a call decided by the fake engine" });
      fake.setServing(false);
      await waitFor(() => gateway.output().includes("to=NOT_SERVING"), { what: "the gateway to see NOT_SERVING" });
      const before = startsAtFake();
      const answers = await Promise.all(Array.from({ length: 12 }, () => text(client(gateway))));
      expect(answers).toEqual(Array(12).fill("Hello from the Luthien replica R."));
      expect(startsAtFake()).toBe(before);
      fake.setServing(true);
      await waitFor(async () => (await text(client(gateway))) === "Hello from the Luthien mock model.", { what: "calls on the fake engine again" });
    } finally {
      await Promise.all([gateway.stop(), mock.stop(), real.stop(), fake.stop()]);
    }
  });

  it("resolves a dns:/// target to every address of the name", async () => {
    const [mock, engine] = await Promise.all([startService("mock-llm"), startEngine(tagged("replica D"))]);
    const gateway = await startService("gateway", { env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, POLICY_ENGINE_URL: `dns:///localhost:${engine.port}` } });
    try {
      expect(await text(client(gateway))).toBe("Hello from the Luthien replica D.");
      expect((await fetch(`${gateway.url}/ready`)).status).toBe(200);
    } finally {
      await Promise.all([gateway, mock, engine].map((s) => s.stop()));
    }
  });

  it("restarts both replicas one after the other under load without a failed call", async () => {
    // Streams of 10 chunks 15 ms apart keep calls in flight on the engine being stopped.
    const script = JSON.stringify({ chunks: Array.from({ length: 10 }, (_, i) => `mock model ${i} `), chunkDelayMs: 15 });
    const [mock, a, b] = await Promise.all([startService("mock-llm", { env: { MOCK_LLM_DEFAULT_SCRIPT: script } }), startEngine(tagged("A")), startEngine(tagged("B"))]);
    const gateway = await startService("gateway", { env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, POLICY_ENGINE_URL: `${a.address},${b.address}`, LOG_LEVEL: "info" } });
    const replacements: RunningService[] = [];
    const failures: string[] = [];
    const served = { total: 0, byTag: new Map<string, number>() };
    let running = true;
    const worker = async (i: number): Promise<void> => {
      const c = client(gateway);
      while (running) {
        try {
          let out = "";
          if (i % 2 === 0) {
            for await (const chunk of await c.chat.completions.create({ ...ask, stream: true })) out += chunk.choices[0]?.delta.content ?? "";
          } else {
            out = await text(c);
          }
          const tag = /^(A2|B2|A|B) 0 /.exec(out)?.[1] ?? `unexpected: ${out}`;
          if (tag.startsWith("unexpected")) failures.push(tag);
          served.total += 1;
          served.byTag.set(tag, (served.byTag.get(tag) ?? 0) + 1);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, i) => worker(i));
    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    try {
      await pause(1000);
      await a.stop();
      replacements.push(await startEngine(tagged("A2"), a.port));
      await waitFor(() => (served.byTag.get("A2") ?? 0) > 3, { timeoutMs: 10000, what: "calls on A2" });
      await b.stop();
      replacements.push(await startEngine(tagged("B2"), b.port));
      await waitFor(() => (served.byTag.get("B2") ?? 0) > 3, { timeoutMs: 10000, what: "calls on B2" });
      await pause(500);
    } finally {
      running = false;
      await Promise.all(workers);
      await Promise.all([gateway, mock, a, b, ...replacements].map((s) => s.stop()));
    }
    expect(failures).toEqual([]);
    expect(served.total).toBeGreaterThan(50);
    expect(a.output()).toMatch(/shutting down/);
  }, 60000);
});
