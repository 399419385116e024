/**
 * `pnpm bench`: what the gateway (and its engine round trips) adds to calls against the mock provider, measured in
 * one run against direct calls to the same mock, so both sides see the same machine state. Scenarios: latency at 1
 * connection, throughput at 50, streaming time to first byte, per-event cost of FULL chains, 1,000 concurrent slow
 * streams, idle RSS and RSS growth under steady load, gateway workers, and optionally the same against Portkey.
 *
 * `pnpm bench --quick` runs every scenario tiny (a CI smoke that fails only on crashes); `--only a,b` picks
 * scenarios; full runs of every scenario (or `--write`) rewrite docs/benchmarks.md and docs/benchmarks.json.
 * Figures and env knobs: see {@link readOptions}.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT, startNats, startService, startStack, type RunningNats, type RunningService, type Stack } from "@luthien/testkit";
import { machineInfo } from "./machine";
import { readOptions, UsageError, type BenchOptions, type Scenario } from "./options";
import { startPortkey, type RunningPortkey } from "./portkey";
import { fmt, printTable, printTargets, writeReport, type Report } from "./report";
import {
  idleRssScenario,
  latencyScenario,
  perEventChain,
  slowStreamsScenario,
  soakScenario,
  throughputScenario,
  ttfbScenario,
  workersScenario,
  transportScenario,
  type BenchContext,
  type PerEventResult,
  type Watched,
} from "./scenarios";
import { evaluateTargets } from "./targets";

interface StackSpec {
  policies: string[];
  /** The mock's answer to every call (MOCK_LLM_DEFAULT_SCRIPT). */
  mockScript?: object;
}

/** Service env common to every process under benchmark: quiet logs, activity only where asked. */
function serviceEnv(nats: RunningNats | undefined, opts: BenchOptions): Record<string, string> {
  return { LOG_LEVEL: "warn", NATS_URL: opts.nats && nats !== undefined ? nats.url : "off" };
}

async function withStack<T>(spec: StackSpec, nats: RunningNats | undefined, opts: BenchOptions, run: (stack: Stack) => Promise<T>): Promise<T> {
  const env = serviceEnv(nats, opts);
  const stack = await startStack({
    policies: `policies:\n${spec.policies.map((p) => `  - ${p}`).join("\n")}\n`,
    logLevel: "warn",
    natsUrl: env["NATS_URL"] as string,
    ...(spec.mockScript !== undefined ? { mockEnv: { MOCK_LLM_DEFAULT_SCRIPT: JSON.stringify(spec.mockScript) } } : {}),
  });
  try {
    return await run(stack);
  } finally {
    await stack.stop();
  }
}

/**
 * The monitor with a NATS of its own (it does not start without one) and PGlite in a temp dir; a `DATABASE_URL` in
 * the bench's env reaches it and selects PostgreSQL instead.
 */
async function startMonitor(report: Report): Promise<{ nats: RunningNats; monitor: RunningService; dispose(): Promise<void> } | undefined> {
  let nats: RunningNats;
  try {
    nats = await startNats();
  } catch (err) {
    const why = `monitor: not started — no nats-server to feed it (${(err as Error).message.split("\n")[0]})`;
    console.log(why);
    report.skipped.push(why);
    return undefined;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), "luthien-bench-monitor-"));
  try {
    const monitor = await startService("monitor", {
      env: { NATS_URL: nats.url, LOG_LEVEL: "warn", MONITOR_DATA_DIR: dataDir },
      startTimeoutMs: 60_000,
    });
    return {
      nats,
      monitor,
      dispose: async () => {
        await monitor.stop();
        await nats.dispose();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await nats.dispose();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function main(): Promise<void> {
  const opts = readOptions(process.argv.slice(2));
  const has = (s: Scenario): boolean => opts.only.has(s);
  const machine = machineInfo();
  const settings: Record<string, unknown> = {
    quick: opts.quick,
    scenarios: [...opts.only],
    callsPerSide: opts.calls,
    warmupCalls: opts.warmup,
    connections: opts.connections,
    loadSeconds: opts.loadMs / 1000,
    perEventStream: `${opts.streamChunks} events × ${opts.streamCalls} streams per side`,
    slowStreams: `${opts.slowStreams} × ${opts.slowChunks} events ${opts.slowChunkDelayMs} ms apart`,
    soakMinutes: opts.soakMs / 60_000,
    nats: opts.nats,
    // PGlite embeds a whole PostgreSQL (WASM) in the monitor's process, which dominates its RSS.
    monitorDatabase: process.env["DATABASE_URL"] !== undefined ? "postgres (DATABASE_URL)" : "pglite",
    peers: [...opts.peers],
  };
  const report: Report = { machine, settings, figures: [], targets: [], skipped: [], raw: {} };
  console.log(`Luthien benchmarks${opts.quick ? " (quick)" : ""} — ${machine.cpu}, ${machine.cores} cores, ${machine.ramGb} GB, Node ${machine.node}, ${machine.commit}`);
  console.log(`scenarios: ${[...opts.only].join(", ")}; times in ms unless a column says otherwise`);

  const ctx: BenchContext = { opts, report, portkey: undefined };
  const cleanups: (() => Promise<void>)[] = [];
  try {
    for (const peer of opts.peers) {
      if (peer !== "portkey") {
        report.skipped.push(`peer ${peer}: unknown (only "portkey" is supported)`);
        continue;
      }
      if (!has("latency") && !has("throughput") && !has("ttfb")) continue;
      console.log("\nstarting Portkey (npm install into the bench cache on first use)…");
      try {
        const portkey: RunningPortkey = await startPortkey();
        ctx.portkey = portkey;
        cleanups.push(() => portkey.stop());
        console.log(`Portkey ${portkey.version} on ${portkey.url}`);
      } catch (err) {
        const why = `portkey: not measured — ${(err as Error).message}`;
        console.log(why);
        report.skipped.push(why);
      }
    }
    if (!opts.peers.has("portkey")) report.skipped.push("portkey: not measured (set BENCH_PEERS=portkey to compare)");

    // BENCH_NATS=1 needs the NATS that comes with the monitor, whatever the scenarios.
    const monitored = has("memory") || opts.nats ? await startMonitor(report) : undefined;
    if (monitored !== undefined) cleanups.push(() => monitored.dispose());
    const nats = monitored?.nats;
    const extraWatched: Watched[] = monitored !== undefined ? [{ name: "monitor", pid: monitored.monitor.process.pid as number }] : [];
    const watch = (stack: Stack): Watched[] => [
      { name: "gateway", pid: stack.gateway.process.pid as number },
      ...(stack.engine !== undefined ? [{ name: "control-plane", pid: stack.engine.process.pid as number }] : []),
      { name: "mock-llm", pid: stack.mock.process.pid as number },
      ...extraWatched,
    ];

    // SKIP chain: a request-only policy, so the gateway streams straight through.
    if (["latency", "ttfb", "throughput", "slow-streams", "memory", "workers", "transport"].some((s) => has(s as Scenario))) {
      await withStack({ policies: ["use: noop"] }, nats, opts, async (stack) => {
        if (has("memory")) {
          const portkeyPid = ctx.portkey?.process.pid;
          await idleRssScenario(ctx, [...watch(stack), ...(portkeyPid !== undefined ? [{ name: "portkey", pid: portkeyPid }] : [])]);
        }
        if (has("latency")) await latencyScenario(ctx, stack, "SKIP (noop)");
        if (has("ttfb")) await ttfbScenario(ctx, stack, "SKIP (noop)");
        if (has("throughput")) await throughputScenario(ctx, stack);
        if (has("slow-streams")) await slowStreamsScenario(ctx, stack);
        if (has("workers")) await workersScenario(ctx, stack, serviceEnv(nats, opts));
        if (has("transport")) await transportScenario(ctx, stack, serviceEnv(nats, opts));
      });
    }

    // FULL chain: the engine decides the response (and, when streaming, every event).
    const soak = has("memory") && opts.soakMs > 0;
    if (has("latency") || has("ttfb") || soak) {
      await withStack({ policies: ["use: all-caps"] }, nats, opts, async (stack) => {
        if (has("latency")) await latencyScenario(ctx, stack, "FULL (all-caps)");
        if (has("ttfb")) await ttfbScenario(ctx, stack, "FULL (all-caps)");
        if (soak) await soakScenario(ctx, stack, watch(stack), "FULL (all-caps)");
      });
    }
    if (has("memory") && !soak) report.skipped.push("soak: not run (BENCH_SOAK_MS=0, the quick default)");

    if (has("per-event")) await perEventScenario(ctx, nats);
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error(err));
  }

  report.targets = evaluateTargets(report);
  printTargets(report.targets);
  for (const s of report.skipped) console.log(`- ${s}`);
  if (opts.write) {
    const dir = path.join(REPO_ROOT, "docs");
    writeReport(report, dir);
    console.log(`\nwrote ${path.relative(process.cwd(), path.join(dir, "benchmarks.md"))} and benchmarks.json`);
  } else {
    console.log(`\ndocs/benchmarks.md not written (${opts.quick ? "quick run" : "partial run"}; --write to force)`);
  }
}

/** Long streams through SKIP and FULL chains; the FULL − SKIP difference per event is the engine's per-event cost. */
async function perEventScenario(ctx: BenchContext, nats: RunningNats | undefined): Promise<void> {
  const { opts, report } = ctx;
  const script = { chunks: Array.from({ length: opts.streamChunks }, (_, i) => `word${i} `) };
  const chains: [string, string[]][] = [
    ["SKIP (noop)", ["use: noop"]],
    ["FULL (all-caps)", ["use: all-caps"]],
    ["FULL (all-caps + string-replace + secret-redaction)", ["use: all-caps", 'use: string-replace\n    with: { replacements: [["word1", "WORD-ONE"]] }', "use: secret-redaction"]],
  ];
  const results = new Map<string, PerEventResult>();
  for (const [label, policies] of chains) {
    results.set(label, await withStack({ policies, mockScript: script }, nats, opts, (stack) => perEventChain(ctx, stack)));
  }
  const skip = results.get("SKIP (noop)");
  printTable(
    `Per-event cost: streams of ${opts.streamChunks} events, ${opts.streamCalls} sequential streams per side (ms)`,
    ["chain", "direct mean", "gateway mean", "gateway p50", "added per event vs direct", "added per event vs SKIP", "events/s through gateway"],
    [...results].map(([label, r]) => [
      label,
      fmt(r.direct.mean),
      fmt(r.gateway.mean),
      fmt(r.gateway.p50),
      fmt(r.addedPerEventMs, 4),
      skip === undefined || label.startsWith("SKIP") ? "" : `**${fmt(r.addedPerEventMs - skip.addedPerEventMs, 4)}**`,
      fmt(r.eventsPerSecond, 0),
    ]),
  );
  for (const [label, r] of results) {
    const scenario = `stream of ${opts.streamChunks} events, ${label}`;
    report.figures.push({ scenario, metric: "whole stream mean", unit: "ms", baseline: r.direct.mean, luthien: r.gateway.mean });
    report.figures.push({ scenario, metric: "events/s (one stream)", unit: "events/s", baseline: opts.streamChunks / (r.direct.mean / 1000), luthien: r.eventsPerSecond });
    if (skip !== undefined && !label.startsWith("SKIP")) {
      report.figures.push({ scenario, metric: "added per event vs SKIP", unit: "ms/event", baseline: undefined, luthien: r.addedPerEventMs - skip.addedPerEventMs });
    }
  }
  report.raw["per event"] = Object.fromEntries(results);
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
