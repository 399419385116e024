import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runScenario, startFaultProxy, startService, type FaultProxy, type RunningService } from "@luthien/testkit";
import { MOCK_SCRIPT, bypassed, call, failedClosed, succeeded, type ClientFormat } from "./harness";

/**
 * CP-12, flapping engine: the network to a real control plane goes down (RST or black hole, alternately) and up
 * again every few seconds for LUTHIEN_FAULTS_SOAK_MS (default 2 minutes), under continuous JSON and streaming load
 * on a fail-closed and a fail-open gateway. Every call must end well-formed — served with a verdict, or a
 * provider-shaped failure (closed), or served and marked (open) — with 0 bypasses in fail-closed; after each "up"
 * calls must succeed again. Runs only with LUTHIEN_FAULTS_SOAK=1 (`pnpm faults`), so `pnpm test` stays fast.
 */

const SOAK = process.env["LUTHIEN_FAULTS_SOAK"] === "1";
const DURATION_MS = Number(process.env["LUTHIEN_FAULTS_SOAK_MS"] ?? 120_000);
const DOWN_MS = 3000;
const UP_MS = 4000;
const TIMEOUT_MS = 2000;
type Mode = "closed" | "open";

(SOAK ? describe : describe.skip)("CP-12 soak: a flapping engine under continuous load", () => {
  let mock: RunningService;
  let engine: RunningService;
  let proxy: FaultProxy;
  const gateways = {} as Record<Mode, RunningService>;

  beforeAll(async () => {
    const policyFile = path.join(mkdtempSync(path.join(tmpdir(), "luthien-soak-")), "policies.yaml");
    writeFileSync(policyFile, "policies:\n  - use: all-caps\n");
    [mock, engine] = await Promise.all([
      startService("mock-llm", { env: { MOCK_LLM_DEFAULT_SCRIPT: MOCK_SCRIPT } }),
      startService("control-plane", { env: { POLICY_CONFIG: policyFile, LOG_LEVEL: "warn" } }),
    ]);
    proxy = await startFaultProxy({ target: engine.address });
    const start = (mode: Mode): Promise<RunningService> =>
      startService("gateway", {
        env: {
          OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
          ANTHROPIC_UPSTREAM_URL: mock.url,
          POLICY_ENGINE_URL: proxy.address,
          POLICY_TIMEOUT_MS: String(TIMEOUT_MS),
          POLICY_FAILURE_MODE: mode,
          LOG_LEVEL: "warn",
        },
      });
    [gateways.closed, gateways.open] = await Promise.all([start("closed"), start("open")]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([gateways.closed?.stop(), gateways.open?.stop(), mock?.stop(), engine?.stop()]);
    await proxy?.stop();
  });

  it(
    "every call ends well-formed, fail-closed never bypasses, and calls succeed again after each up",
    async () => {
      const until = Date.now() + DURATION_MS;
      const stats = {
        closed: { calls: 0, served: 0, failed: 0, bypasses: 0, malformed: [] as string[], successes: [] as number[] },
        open: { calls: 0, served: 0, failed: 0, bypasses: 0, malformed: [] as string[], successes: [] as number[] },
      };
      const ups: number[] = [];

      const worker = async (mode: Mode, format: ClientFormat, stream: boolean): Promise<void> => {
        while (Date.now() < until) {
          const r = await call(gateways[mode].url, { format, stream, tag: "soak" });
          const s = stats[mode];
          s.calls++;
          if (succeeded(r) && !bypassed(r)) {
            s.served++;
            s.successes.push(Date.now());
          } else if (mode === "closed" && failedClosed(r) && !bypassed(r)) s.failed++;
          else if (mode === "open" && succeeded(r)) s.bypasses++;
          else
            s.malformed.push(`${mode} ${format} stream=${stream}: status ${r.status} error ${r.errorType} bypassed ${r.bypassed} ${JSON.stringify(r.events.at(-1) ?? r.body).slice(0, 200)}`);
          if (mode === "closed" && bypassed(r)) s.bypasses++;
        }
      };

      const flapper = async (): Promise<void> => {
        let n = 0;
        // The last up must leave the workers a whole UP_MS to show the recovery.
        while (Date.now() + UP_MS + DOWN_MS + UP_MS < until) {
          await new Promise((r) => setTimeout(r, UP_MS));
          proxy.mode(n++ % 2 === 0 ? "reset" : "blackhole");
          await new Promise((r) => setTimeout(r, DOWN_MS));
          proxy.mode("pass");
          ups.push(Date.now());
        }
      };

      const workers: Promise<void>[] = [flapper()];
      for (const mode of ["closed", "open"] as const) {
        for (const format of ["openai", "anthropic"] as const) for (const stream of [false, true]) workers.push(worker(mode, format, stream));
      }
      await Promise.all(workers);

      for (const mode of ["closed", "open"] as const) {
        await runScenario({ suite: "soak", scenario: "CP-12 flapping engine", failMode: mode }, async (rec) => {
          const s = stats[mode];
          rec.bypasses = s.bypasses;
          // Recovery after each up: until the first call served with a verdict that ended after it.
          const recoveries = ups.map((t) => s.successes.filter((x) => x > t).sort((a, b) => a - b)[0]).map((x, i) => (x === undefined ? Infinity : x - ups[i]!));
          const sorted = [...recoveries].sort((a, b) => a - b);
          rec.recoveryMs = sorted.at(-1) ?? 0;
          rec.note = `${s.calls} calls: ${s.served} served with a verdict, ${s.failed} failed closed, ${s.bypasses} ${mode === "open" ? "bypassed (marked)" : "bypasses"}, ${s.malformed.length} malformed; ${ups.length} flaps, recovery p50 ${sorted[Math.floor((sorted.length - 1) / 2)]} ms`;
          expect(s.malformed.slice(0, 5)).toEqual([]);
          if (mode === "closed") expect(s.bypasses).toBe(0);
          expect(ups.length).toBeGreaterThan(0);
          // Each up lasts UP_MS; a call served with a verdict must come within it (an up shorter than a call would not count).
          expect(rec.recoveryMs).toBeLessThan(UP_MS + 3000);
        });
      }
    },
    DURATION_MS + 120_000,
  );
});
