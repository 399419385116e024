import { once } from "node:events";
import * as net from "node:net";
import { POLICY_ENGINE_SERVICE, PROTOCOL_VERSION, checkHealth, createHealthClient, createPolicyEngineClient, type EngineMessage__Output } from "@luthien/protocol";
import { freePort, startService, type RunningService } from "@luthien/testkit";
/** The documented default of CONTROL_PLANE_METRICS_PORT (README operator table). */
const DEFAULT_METRICS_PORT = 9464;

/**
 * Engines started the way an operator starts them: nothing but CONTROL_PLANE_PORT set (the testkit gives each a free
 * one), so every engine on the host asks for the same default metrics port. Metrics must never cost an engine its
 * life: the second engine on a host serves, and so does one whose configured metrics port is taken.
 */

const request = Buffer.from(JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }));

/** Opens one call on a fresh stream and returns the engine's request verdict. */
async function decide(address: string): Promise<EngineMessage__Output> {
  const client = createPolicyEngineClient({ address });
  const stream = client.Process();
  stream.write({ callId: "side-by-side", seq: 1, start: { protocolVersion: PROTOCOL_VERSION, format: "OPENAI_CHAT", stream: false, requestJson: request } });
  try {
    return ((await once(stream, "data")) as [EngineMessage__Output])[0];
  } finally {
    stream.end();
    client.close();
  }
}

async function serving(engine: RunningService): Promise<boolean> {
  const health = createHealthClient(engine.address);
  try {
    return await checkHealth(health, POLICY_ENGINE_SERVICE, 3000);
  } finally {
    health.close();
  }
}

describe("control planes side by side on one host", () => {
  const engines: RunningService[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
  });

  it("two engines with default settings but CONTROL_PLANE_PORT both start, decide calls and serve metrics", async () => {
    // One after the other, as an operator would: the first takes the default metrics port (when nothing else on
    // the host holds it), the second finds it taken.
    engines.push(await startService("control-plane"));
    engines.push(await startService("control-plane"));
    const [a, b] = engines as [RunningService, RunningService];
    expect(a.port).not.toBe(b.port);
    for (const engine of [a, b]) {
      expect(await serving(engine)).toBe(true);
      const verdict = await decide(engine.address);
      expect(verdict.kind).toBe("request");
      expect(verdict.request?.continue).toBeDefined();
      // The default port was tried: bound, or found taken and replaced by a free port, said so in the log.
      const metricsPort = engine.metricsPort;
      if (metricsPort === undefined) throw new Error(`no metrics port logged:\n${engine.output()}`);
      if (metricsPort !== DEFAULT_METRICS_PORT) {
        expect(engine.output()).toMatch(new RegExp(`warn default metrics port taken.*wanted=${DEFAULT_METRICS_PORT}`));
      }
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("luthien_control_plane_calls_total");
    }
    expect(a.metricsPort).not.toBe(b.metricsPort);
    // The second engine's default was taken by the first (or by whatever held it before).
    expect(b.output()).toMatch(new RegExp(`default metrics port taken.*wanted=${DEFAULT_METRICS_PORT}.*EADDRINUSE`));
    // The first engine's calls counter is its own: the second engine did not answer the first one's scrape.
    const first = await (await fetch(`http://127.0.0.1:${a.metricsPort ?? 0}/metrics`)).text();
    expect(first).toMatch(/luthien_control_plane_calls_total\{service="control-plane"\} 1\b/);
  });

  it("an engine whose configured metrics port is taken logs it and serves without metrics", async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, "0.0.0.0", () => resolve()));
    try {
      const engine = await startService("control-plane", { env: { CONTROL_PLANE_METRICS_PORT: String(port) } });
      engines.push(engine);
      expect(engine.output()).toMatch(new RegExp(`error metrics endpoint unavailable; serving without metrics wanted=${port} error=EADDRINUSE`));
      // A configured port is the operator's choice: no other port is tried behind their back.
      expect(engine.metricsPort).toBeUndefined();
      expect(await serving(engine)).toBe(true);
      expect((await decide(engine.address)).request?.continue).toBeDefined();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
