import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { freePort, runScenario, startNats, startService, waitFor, type RunningNats, type RunningService } from "@luthien/testkit";
import { bypassed, call, failedClosed, succeeded, type CallResult } from "./harness";

/**
 * Events accounting (I2) through faults: gateways in both fail modes, a control plane, a NATS of the test's own and
 * the monitor (PGlite). Calls run while the engine is killed, restarted and frozen and while NATS is away; every
 * activity event the gateways should have published for those calls must end up stored by the monitor, once.
 *
 * What a gateway publishes per call (README, "Activity events"): `call.started`, `request.received`, then —
 * when the provider was called — `request.sent`, `response.received`, `response.sent`; a bypass adds
 * `policy.unavailable` and `policy.bypassed`; `call.ended` always. The expected count of each call follows from
 * what its client saw. (Control-plane events are not counted: a SIGKILLed engine loses what it had not yet
 * published, by design of the kill.)
 */

const ADMIN = "faults-admin-key";
const TIMEOUT_MS = 2000;
type Mode = "closed" | "open";

let nats: RunningNats;
let monitor: RunningService;
let mock: RunningService;
let engine: RunningService;
let enginePort: number;
let policyFile: string;
const gateways = {} as Record<Mode, RunningService>;

const startEngine = (): Promise<RunningService> => startService("control-plane", { env: { POLICY_CONFIG: policyFile, CONTROL_PLANE_PORT: String(enginePort), NATS_URL: nats.url } });

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "luthien-accounting-"));
  policyFile = path.join(dir, "policies.yaml");
  writeFileSync(policyFile, "policies:\n  - use: all-caps\n");
  [nats, enginePort] = await Promise.all([startNats(), freePort()]);
  [monitor, mock, engine] = await Promise.all([
    startService("monitor", { env: { NATS_URL: nats.url, ADMIN_API_KEY: ADMIN, MONITOR_DATA_DIR: path.join(dir, "monitor-db") }, startTimeoutMs: 60_000 }),
    startService("mock-llm", { env: { MOCK_LLM_DEFAULT_SCRIPT: JSON.stringify({ chunks: ["a ", "b ", "c ", "d "], chunkDelayMs: 5 }) } }),
    startEngine(),
  ]);
  const start = (mode: Mode): Promise<RunningService> =>
    startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: mock.url,
        POLICY_ENGINE_URL: `127.0.0.1:${enginePort}`,
        POLICY_TIMEOUT_MS: String(TIMEOUT_MS),
        POLICY_FAILURE_MODE: mode,
        NATS_URL: nats.url,
      },
    });
  [gateways.closed, gateways.open] = await Promise.all([start("closed"), start("open")]);
}, 90_000);

afterAll(async () => {
  engine?.signal("SIGCONT");
  await Promise.all([gateways.closed?.stop(), gateways.open?.stop(), engine?.stop(), mock?.stop()]);
  await monitor?.stop();
  await nats?.dispose();
});

/** The gateway events a call publishes, from what its client saw; undefined for an outcome this test does not expect. */
function expectedEvents(r: CallResult): number | undefined {
  if (r.status !== 200) return failedClosed(r) ? 3 : undefined;
  if (!succeeded(r)) return 6; // failed mid-stream: the provider was called, the partial response is recorded
  return r.bypassed !== undefined ? 8 : 6;
}

async function storedGatewayEvents(callId: string): Promise<{ count: number; ended: boolean; duplicates: number }> {
  const res = await fetch(`${monitor.url}/api/calls/${callId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (res.status === 404) return { count: 0, ended: false, duplicates: 0 };
  const detail = (await res.json()) as { events: { id: string; source: string; type: string }[] };
  const ours = detail.events.filter((e) => e.source === "gateway");
  return { count: ours.length, ended: ours.some((e) => e.type === "call.ended"), duplicates: ours.length - new Set(ours.map((e) => e.id)).size };
}

describe("events accounting through engine and NATS faults", () => {
  it("stores every event the gateways published, once, whatever failed meanwhile", async () => {
    const calls: CallResult[] = [];
    let step = 0;
    /** One call per fail mode, alternately JSON and streaming. */
    const both = async (): Promise<CallResult[]> => {
      const stream = step++ % 2 === 1;
      const rs = await Promise.all((["closed", "open"] as const).map((m) => call(gateways[m].url, { format: "openai", stream, tag: `accounting-${step}` })));
      calls.push(...rs);
      return rs;
    };

    for (let i = 0; i < 3; i++) for (const r of await both()) expect(succeeded(r) && !bypassed(r)).toBe(true);
    // The engine dies: fail-closed answers 503, fail-open serves and marks the bypass.
    engine.signal("SIGKILL");
    await waitFor(async () => (await fetch(`${gateways.closed.url}/ready`)).status === 503, { what: "the engine to be gone" });
    for (let i = 0; i < 2; i++) {
      const [closed, open] = await both();
      expect([closed!.status, open!.bypassed]).toEqual([503, "unavailable"]);
    }
    // NATS goes away while the engine comes back: events wait in the gateways' outboxes.
    await nats.stop();
    engine = await startEngine();
    // Both gateways: one still reconnecting would see the frozen engine below as unreachable, not as late.
    const ready = async (m: "closed" | "open"): Promise<boolean> => (await fetch(`${gateways[m].url}/ready`)).status === 200;
    await waitFor(async () => (await ready("closed")) && (await ready("open")), { timeoutMs: 10_000, what: "the engine to be back" });
    for (let i = 0; i < 3; i++) await both();
    // The engine freezes (NATS still away): verdicts time out.
    engine.signal("SIGSTOP");
    const [closed, open] = await both();
    expect([closed!.status === 504 || failedClosed(closed!), open!.bypassed]).toEqual([true, "timeout"]);
    engine.signal("SIGCONT");
    await nats.restart();
    for (let i = 0; i < 3; i++) await both();

    await runScenario({ suite: "events accounting", scenario: "EVT engine kill/freeze + NATS restart", note: `${calls.length} calls, gateway events` }, async (rec) => {
      const expected = calls.map(expectedEvents);
      expect(expected.filter((e) => e === undefined)).toEqual([]);
      rec.eventsExpected = expected.reduce<number>((a, b) => a + (b ?? 0), 0);
      // Calls alternate closed, open: the fail-closed gateway never served without a verdict.
      expect(calls.filter((r, i) => i % 2 === 0 && bypassed(r))).toEqual([]);
      const ids = calls.map((r) => r.callId);
      expect(ids.every((id) => id !== "")).toBe(true);
      let stored: Awaited<ReturnType<typeof storedGatewayEvents>>[] = [];
      await waitFor(
        async () => {
          stored = await Promise.all(ids.map(storedGatewayEvents));
          return stored.every((s, i) => s.ended && s.count >= expected[i]!);
        },
        { timeoutMs: 60_000, intervalMs: 500, what: "every call's events to be stored" },
      ).catch(() => undefined);
      rec.eventsStored = stored.reduce((a, s) => a + s.count, 0);
      expect(stored.map((s) => s.duplicates).reduce((a, b) => a + b, 0)).toBe(0);
      expect(stored.map((s, i) => [ids[i], s.count])).toEqual(ids.map((id, i) => [id, expected[i]]));
    });
  }, 120_000);
});
