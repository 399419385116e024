import { writeFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startNats, startStack, waitFor, type RunningNats, type Stack } from "@luthien/testkit";
import { keyIdOf } from "../src/identity/auth";
import { OVERHEAD_HEADER } from "../src/routes/call-handler";
import { postRaw, readEvents } from "./sse";

const CLIENT_KEY = "gw-metrics-client-key-0123456789";
const SERVER_OPENAI = "sk-metrics-server-openai-0123456789";
const SERVER_ANTHROPIC = "sk-ant-metrics-server-0123456789";
const auth = { authorization: `Bearer ${CLIENT_KEY}` };
const ask = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "hi" }] };

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

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  return res.text();
}

describe("gateway and control-plane metrics", () => {
  let nats: RunningNats;
  let stack: Stack;
  let engineMetrics: string;
  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    stack = await startStack({
      policies: "policies:\n  - use: all-caps\n",
      natsUrl: nats.url,
      gatewayEnv: {
        GATEWAY_API_KEYS: CLIENT_KEY,
        OPENAI_API_KEY: SERVER_OPENAI,
        ANTHROPIC_API_KEY: SERVER_ANTHROPIC,
        POLICY_FAILURE_MODE: "open",
        POLICY_TIMEOUT_MS: "300",
      },
    });
    const port = stack.engine?.metricsPort;
    if (port === undefined) throw new Error("the control plane logged no metricsPort");
    engineMetrics = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await stack?.stop();
    await nats?.dispose();
  });

  it("serves /metrics without a key, with process metrics and a service label", async () => {
    const text = await scrape(stack.gateway.url);
    expect(sample(text, "process_resident_memory_bytes", { service: "gateway" })).toBeGreaterThan(0);
    const lag = sample(text, "nodejs_eventloop_lag_seconds", { service: "gateway" });
    // A real measurement: present, finite, and not absurd for an idle gateway.
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{[^}]*service="gateway"[^}]*\} \S+$/m);
    expect(Number.isFinite(lag)).toBe(true);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
  });

  it("counts HTTP requests by route pattern, verdicts by phase, and open streams", async () => {
    const before = await scrape(stack.gateway.url);
    const chat = (t: string): number => sample(t, "luthien_gateway_http_requests_total", { method: "POST", route: "/v1/chat/completions", status: "200" });
    const verdicts = (t: string, phase: string): number => sample(t, "luthien_gateway_engine_verdict_duration_seconds_count", { phase });

    // JSON through both client APIs: each answer says what the gateway added.
    for (const call of [
      async () => {
        const started = performance.now();
        const { response } = await new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }).chat.completions.create(ask).withResponse();
        return { response, total: performance.now() - started };
      },
      async () => {
        const started = performance.now();
        const { response } = await new Anthropic({ apiKey: CLIENT_KEY, baseURL: stack.gateway.url, maxRetries: 0 }).messages
          .create({ model: "claude-mock-sonnet", max_tokens: 20, messages: [{ role: "user", content: "hi" }] })
          .withResponse();
        return { response, total: performance.now() - started };
      },
    ]) {
      const { response, total } = await call();
      const overhead = response.headers.get(OVERHEAD_HEADER);
      expect(overhead).toMatch(/^\d+\.\d{3}$/);
      expect(Number(overhead)).toBeGreaterThanOrEqual(0);
      expect(Number(overhead)).toBeLessThan(total);
    }

    // A stream: chunk and finish verdicts; the gauge goes up while it is open and back down after.
    await stack.mockControl.script({ chunks: ["one ", "two ", "three"], chunkDelayMs: 100 });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ask, stream: true }, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get(OVERHEAD_HEADER)).toBeNull();
    let during = Number.NaN;
    const { events } = await readEvents(res, (_e, n) => {
      if (n === 1) void scrape(stack.gateway.url).then((t) => (during = sample(t, "luthien_gateway_active_streams")));
    });
    expect(events.at(-1)?.data).toBe("[DONE]");
    await waitFor(() => !Number.isNaN(during), { what: "the scrape during the stream" });
    expect(during).toBe(1);

    // Unknown paths are one label, whatever they are; passthrough keeps its pattern.
    expect((await fetch(`${stack.gateway.url}/no/such/path-12345`)).status).toBe(404);
    expect((await fetch(`${stack.gateway.url}/v1/models/secret-model-name`)).status).toBe(401);

    const after = await waitFor(
      async () => {
        const t = await scrape(stack.gateway.url);
        return sample(t, "luthien_gateway_active_streams") === 0 ? t : undefined;
      },
      { what: "the stream gauge back at 0" },
    );
    expect(chat(after) - chat(before)).toBe(2);
    expect(sample(after, "luthien_gateway_http_requests_total", { route: "/v1/messages", status: "200" })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "luthien_gateway_http_requests_total", { route: "unmatched", status: "404" })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "luthien_gateway_http_requests_total", { route: "/v1/{*path}", status: "401" })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "luthien_gateway_http_request_duration_seconds_count", { route: "/v1/chat/completions", status: "200" })).toBeGreaterThanOrEqual(2);
    expect(verdicts(after, "request") - verdicts(before, "request")).toBe(3);
    expect(verdicts(after, "response") - verdicts(before, "response")).toBe(2);
    expect(verdicts(after, "chunk") - verdicts(before, "chunk")).toBeGreaterThanOrEqual(3);
    expect(verdicts(after, "finish") - verdicts(before, "finish")).toBe(1);
    expect(after).not.toContain("path-12345");
    expect(after).not.toContain("secret-model-name");

    // The engine counted the same calls and has none left open (its streams may stay open for the next calls).
    const engine = await waitFor(
      async () => {
        const t = await scrape(engineMetrics);
        return sample(t, "luthien_control_plane_calls_active") === 0 ? t : undefined;
      },
      { what: "the engine's calls ended" },
    );
    expect(sample(engine, "luthien_control_plane_calls_total", { service: "control-plane" })).toBeGreaterThanOrEqual(3);
    expect(sample(engine, "luthien_control_plane_streams_total")).toBeGreaterThanOrEqual(1);
    // The gateway's multiplexed streams stay open for the next calls: at least one, at most POLICY_STREAMS (4).
    expect(sample(engine, "luthien_control_plane_streams_active")).toBeGreaterThanOrEqual(1);
    expect(sample(engine, "luthien_control_plane_streams_active")).toBeLessThanOrEqual(4);
    expect(sample(engine, "luthien_control_plane_policy_evaluation_duration_seconds_count", { phase: "request" })).toBeGreaterThanOrEqual(3);
    expect(sample(engine, "luthien_control_plane_policy_evaluation_duration_seconds_count", { phase: "chunk" })).toBeGreaterThanOrEqual(3);
    expect(engine).toContain("# TYPE luthien_control_plane_policy_errors_total counter");
    expect(sample(engine, "luthien_control_plane_policy_errors_total")).toBe(0);

    // Activity events reached NATS.
    const published = await waitFor(
      async () => {
        const n = sample(await scrape(stack.gateway.url), "luthien_gateway_activity_published_total");
        return n > 0 ? n : undefined;
      },
      { what: "activity published" },
    );
    expect(published).toBeGreaterThan(0);
  });

  it("counts config reloads and rejects on the control plane", async () => {
    const changes = async (outcome: string): Promise<number> => sample(await scrape(engineMetrics), "luthien_control_plane_config_changes_total", { outcome });
    const [reloaded, rejected] = [await changes("reloaded"), await changes("rejected")];
    writeFileSync(stack.policyFile, "policies:\n  - use: no-such-policy\n");
    await waitFor(async () => (await changes("rejected")) === rejected + 1, { what: "a rejected config" });
    writeFileSync(stack.policyFile, "policies:\n  - use: all-caps\n");
    await waitFor(async () => (await changes("reloaded")) === reloaded + 1, { what: "a reloaded config" });
  });

  it("counts a verdict timeout and the fail-open bypass it caused", async () => {
    const before = await scrape(stack.gateway.url);
    stack.engine?.signal("SIGSTOP");
    try {
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, ask, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-luthien-policy-bypassed")).toBe("timeout");
      expect(Number(res.headers.get(OVERHEAD_HEADER))).toBeGreaterThanOrEqual(250);
    } finally {
      stack.engine?.signal("SIGCONT");
    }
    // Once the engine runs again it answers the request it was holding; that late verdict arrives on the shared
    // stream after the call gave up, and is counted, never applied.
    const unexpected = (t: string): number => sample(t, "luthien_gateway_engine_unexpected_answers_total");
    const after = await waitFor(
      async () => {
        const t = await scrape(stack.gateway.url);
        return unexpected(t) - unexpected(before) >= 1 ? t : undefined;
      },
      { what: "the late verdict to be counted" },
    );
    expect(unexpected(after) - unexpected(before)).toBe(1);
    expect(sample(after, "luthien_gateway_engine_verdict_timeouts_total") - sample(before, "luthien_gateway_engine_verdict_timeouts_total")).toBe(1);
    const bypasses = (t: string): number => sample(t, "luthien_gateway_policy_bypasses_total", { reason: "timeout" });
    expect(bypasses(after) - bypasses(before)).toBe(1);
  });

  it("never shows a key, a key id or a policy config path in any metric", async () => {
    for (const text of [await scrape(stack.gateway.url), await scrape(engineMetrics)]) {
      for (const secret of [CLIENT_KEY, SERVER_OPENAI, SERVER_ANTHROPIC, keyIdOf(CLIENT_KEY), keyIdOf(SERVER_OPENAI), stack.policyFile]) {
        expect(text).not.toContain(secret);
      }
    }
  });
});

describe("control-plane metrics endpoint", () => {
  it("answers /health and 404 elsewhere on the metrics port", async () => {
    const stack = await startStack({ logLevel: "warn" });
    try {
      const url = `http://127.0.0.1:${stack.engine?.metricsPort ?? 0}`;
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await fetch(`${url}/metrics/../x`)).status).toBe(404);
      expect((await fetch(`${url}/metrics`, { method: "POST" })).status).toBe(404);
      // The testkit read the gRPC port, not the metrics port, from the logs.
      expect(stack.engine?.port).not.toBe(stack.engine?.metricsPort);
    } finally {
      await stack.stop();
    }
  });
});
