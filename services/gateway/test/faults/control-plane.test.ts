import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createMockControl, freePort, runScenario, startFaultProxy, startService, waitFor, type FaultProxy, type MockControl, type RunningService } from "@luthien/testkit";
import { MOCK_SCRIPT, WORDS, bypassed, call, failedClosed, recovery, succeeded, unexpectedAnswersLogged, type CallResult, type ClientFormat } from "./harness";

/**
 * Faults of the control plane process and of the network to it (CP-01, CP-02, CP-03, CP-10): a real control plane
 * (all-caps, so approved text is upper-case) behind a TCP fault proxy, two real gateways (fail-closed and
 * fail-open) and mock-llm. Each fault strikes while streams of both client APIs are mid-way, and while new calls
 * wait for their request verdict; then it clears and the time until a call succeeds again is measured.
 */

const TIMEOUT_MS = 2000;
const SUITE = "control-plane faults: process and network";
type Mode = "closed" | "open";
const MODES = ["closed", "open"] as const;
const FORMATS = ["openai", "anthropic"] as const;
const FULL_TEXT = WORDS.join("");

let mock: RunningService;
let mockControl: MockControl;
let engine: RunningService;
let enginePort: number;
let policyFile: string;
let proxy: FaultProxy;
const gateways = {} as Record<Mode, RunningService>;

const startEngine = (): Promise<RunningService> => startService("control-plane", { env: { POLICY_CONFIG: policyFile, CONTROL_PLANE_PORT: String(enginePort) } });

beforeAll(async () => {
  policyFile = path.join(mkdtempSync(path.join(tmpdir(), "luthien-faults-")), "policies.yaml");
  writeFileSync(policyFile, "policies:\n  - use: all-caps\n");
  enginePort = await freePort();
  [mock, engine] = await Promise.all([startService("mock-llm", { env: { MOCK_LLM_DEFAULT_SCRIPT: MOCK_SCRIPT } }), startEngine()]);
  mockControl = createMockControl(mock.url);
  proxy = await startFaultProxy({ target: `127.0.0.1:${enginePort}` });
  const start = (mode: Mode): Promise<RunningService> =>
    startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: mock.url,
        POLICY_ENGINE_URL: proxy.address,
        POLICY_TIMEOUT_MS: String(TIMEOUT_MS),
        POLICY_FAILURE_MODE: mode,
      },
    });
  [gateways.closed, gateways.open] = await Promise.all([start("closed"), start("open")]);
}, 60_000);

afterAll(async () => {
  engine?.signal("SIGCONT");
  await Promise.all([gateways.closed?.stop(), gateways.open?.stop(), mock?.stop(), engine?.stop()]);
  await proxy?.stop();
});

interface Struck {
  mode: Mode;
  format: ClientFormat;
  phase: "mid" | "req";
  tag: string;
  result: CallResult;
  /** From the fault until the call ended. */
  afterFaultMs: number;
}

/**
 * Starts a stream per mode × client API, waits until each has 3 events, applies `fault`, and at once sends a call
 * per mode × client API that now waits for its request verdict. Resolves when all have ended.
 */
async function strike(name: string, fault: () => void | Promise<void>): Promise<Struck[]> {
  const key = name.replace(/\W+/g, "-");
  let faultAt = 0;
  const counts = new Map<string, number>();
  const mid = MODES.flatMap((mode) =>
    FORMATS.map((format) => {
      const tag = `${key}-mid-${mode}-${format}`;
      return call(gateways[mode].url, { format, stream: true, tag, onEvent: (_e, n) => counts.set(tag, n) }).then((result) => ({
        mode,
        format,
        phase: "mid" as const,
        tag,
        result,
        afterFaultMs: Date.now() - faultAt,
      }));
    }),
  );
  await waitFor(() => counts.size === 4 && [...counts.values()].every((n) => n >= 3), { timeoutMs: 10_000, what: "every stream to be under way" });
  faultAt = Date.now();
  await fault();
  const req = MODES.flatMap((mode) =>
    FORMATS.map((format) => {
      const tag = `${key}-req-${mode}-${format}`;
      return call(gateways[mode].url, { format, stream: true, tag }).then((result) => ({ mode, format, phase: "req" as const, tag, result, afterFaultMs: Date.now() - faultAt }));
    }),
  );
  return Promise.all([...mid, ...req]);
}

/** The invariants of a struck call; `within` bounds how long after the fault a failing call may take to end. */
async function problemsOf(s: Struck, o: { errorType: "unavailable" | "timeout"; reason: string; within: [number, number] }): Promise<string[]> {
  const problems: string[] = [];
  const r = s.result;
  const p = (what: string): void => void problems.push(`${s.tag}: ${what} (status ${r.status}, error ${r.errorType}, ${s.afterFaultMs} ms after the fault)`);
  const text = r.texts.join("");
  if (s.mode === "closed") {
    if (!failedClosed(r)) p(`not a well-formed failure: ${JSON.stringify(r.events.at(-1) ?? r.body).slice(0, 200)}`);
    const expected = s.format === "openai" ? (o.errorType === "timeout" ? "policy_timeout" : "policy_unavailable") : o.errorType === "timeout" ? "timeout_error" : "overloaded_error";
    if (r.errorType !== expected) p(`error type ${r.errorType}, expected ${expected}`);
    if (bypassed(r)) p(`bypassed: ${JSON.stringify(r.texts)}`);
    // Delivered chunks ⊆ approved: an upper-case prefix of the answer, in order.
    if (!FULL_TEXT.toUpperCase().startsWith(text)) p(`delivered ${JSON.stringify(text)}`);
    if (s.afterFaultMs < o.within[0] || s.afterFaultMs > o.within[1]) p(`ended outside ${o.within.join("..")} ms`);
    const record = (await mockControl.requests()).find((m) => JSON.stringify(m.body).includes(`tag:${s.tag} `));
    if (s.phase === "req" && record !== undefined) p("the provider was called without a request verdict");
  } else {
    if (!succeeded(r)) p(`not served: ${JSON.stringify(r.events.at(-1) ?? r.body).slice(0, 200)}`);
    if (text.toLowerCase() !== FULL_TEXT.toLowerCase()) p(`text ${JSON.stringify(text)}`);
    if (s.phase === "req" && r.bypassed !== o.reason) p(`bypass header ${r.bypassed}, expected ${o.reason}`);
    if (s.phase === "mid" && !text.startsWith("W0 ")) p(`the part approved before the fault is missing: ${JSON.stringify(text)} ${r.bypassed}`);
  }
  return problems;
}

interface Group {
  scenario: string;
  struck: Struck[];
  expect: Parameters<typeof problemsOf>[1];
}

/** Checks and records faults that clear together: each group in both modes, with the recovery time after `clear`. */
async function judge(groups: Group[], clear: () => Promise<void>, note?: () => string): Promise<void> {
  const problems: string[][] = [];
  for (const g of groups) for (const mode of MODES) problems.push((await Promise.all(g.struck.filter((s) => s.mode === mode).map((s) => problemsOf(s, g.expect)))).flat());
  await clear();
  const clearedAt = Date.now();
  const recovered = await Promise.all(MODES.map((m) => recovery(gateways[m].url, clearedAt).catch((e: unknown) => e as Error)));
  for (const [gi, g] of groups.entries()) {
    for (const [i, mode] of MODES.entries()) {
      await runScenario({ suite: SUITE, scenario: g.scenario, failMode: mode }, async (rec) => {
        rec.bypasses = g.struck.filter((s) => s.mode === mode && bypassed(s.result)).length;
        const rMs = recovered[i];
        if (rMs === undefined || rMs instanceof Error) throw rMs ?? new Error("no recovery measured");
        rec.recoveryMs = rMs;
        if (note !== undefined) rec.note = note();
        expect(problems[gi * MODES.length + i]).toEqual([]);
      });
    }
  }
}

describe("the control plane process fails", () => {
  it("CP-02 SIGKILL mid-stream, and CP-01 unreachable after it: failure within a second, restart recovers", async () => {
    const struck = await strike("CP-02", () => engine.signal("SIGKILL"));
    // Streams that failed closed stopped their provider call too.
    const records = await mockControl.requests();
    for (const s of struck.filter((x) => x.mode === "closed" && x.phase === "mid")) {
      expect([s.tag, records.find((m) => JSON.stringify(m.body).includes(`tag:${s.tag} `))?.finished]).toEqual([s.tag, false]);
    }
    await judge(
      [
        { scenario: "CP-02 SIGKILL mid-stream", struck: struck.filter((s) => s.phase === "mid"), expect: { errorType: "unavailable", reason: "unavailable", within: [0, 1500] } },
        { scenario: "CP-01 unreachable", struck: struck.filter((s) => s.phase === "req"), expect: { errorType: "unavailable", reason: "unavailable", within: [0, 1000] } },
      ],
      async () => {
        engine = await startEngine();
      },
    );
  });

  it("CP-03 SIGSTOP: verdicts time out at the deadline; after SIGCONT late verdicts are never applied and calls succeed", async () => {
    const logged = MODES.map((m) => unexpectedAnswersLogged(gateways[m].output()));
    const struck = await strike("CP-03", () => engine.signal("SIGSTOP"));
    await judge(
      [{ scenario: "CP-03 SIGSTOP", struck, expect: { errorType: "timeout", reason: "timeout", within: [TIMEOUT_MS - 200, TIMEOUT_MS + 1500] } }],
      async () => engine.signal("SIGCONT"),
      // The gateway cancels a timed-out call's stream, so answers the engine sends after SIGCONT die with it.
      () => `unexpected answers logged after SIGCONT: ${MODES.map((m, i) => unexpectedAnswersLogged(gateways[m].output()) - logged[i]!).join("/")} (closed/open)`,
    );
  });
});

describe("CP-10: network faults between gateway and control plane (TCP fault proxy)", () => {
  it("RST: calls fail within a second; once the network is back, calls succeed", async () => {
    const struck = await strike("CP-10 RST", () => proxy.mode("reset"));
    await judge([{ scenario: "CP-10 RST", struck, expect: { errorType: "unavailable", reason: "unavailable", within: [0, 1000] } }], async () => proxy.mode("pass"));
  });

  it("black hole: calls fail at the verdict deadline; once it clears, calls succeed", async () => {
    const struck = await strike("CP-10 black hole", () => proxy.mode("blackhole"));
    await judge([{ scenario: "CP-10 black hole", struck, expect: { errorType: "timeout", reason: "timeout", within: [TIMEOUT_MS - 200, TIMEOUT_MS + 1500] } }], async () =>
      proxy.mode("pass"),
    );
  });

  it("200 ms latency each way: calls succeed, and the added latency is reported", async () => {
    for (const mode of MODES) {
      await runScenario({ suite: SUITE, scenario: "CP-10 200 ms latency", failMode: mode }, async (rec) => {
        proxy.mode("pass");
        const base = await call(gateways[mode].url, { format: "openai", stream: false, tag: "latency-base" });
        proxy.mode("latency", { latencyMs: 200 });
        try {
          const slow = await Promise.all(FORMATS.flatMap((format) => [false, true].map((stream) => call(gateways[mode].url, { format, stream, tag: "latency" }))));
          rec.bypasses = slow.filter(bypassed).length;
          for (const r of slow) expect([r.format, r.stream, succeeded(r), r.bypassed, r.texts.join("")]).toEqual([r.format, r.stream, true, undefined, FULL_TEXT.toUpperCase()]);
          const json = slow.find((r) => r.format === "openai" && !r.stream)!;
          rec.addedLatencyMs = json.ms - base.ms;
          // A JSON call waits for two verdicts (request, response): at least one 400 ms round trip shows.
          expect(rec.addedLatencyMs).toBeGreaterThanOrEqual(400);
        } finally {
          proxy.mode("pass");
        }
        rec.recoveryMs = await recovery(gateways[mode].url, Date.now());
      });
    }
  });
});
