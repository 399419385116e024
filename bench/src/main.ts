/**
 * `pnpm bench`: what the gateway (and its engine round trips) adds to calls against the mock provider, measured in
 * one run against direct calls to the same mock, so both sides see the same machine state. Scenarios: latency at 1
 * connection, throughput at 50, streaming time to first byte, per-event cost of FULL chains, 1,000 concurrent slow
 * streams, idle RSS and RSS growth under steady load, gateway workers, engine transports, and Portkey side by side
 * when it is installed. As deployed, gateway and control plane publish activity to a NATS of the bench's own and
 * the monitor stores it; the key SKIP scenarios also measure a pair with `NATS_URL=off`, so activity's cost shows.
 *
 * `pnpm bench --quick` runs every scenario tiny (a CI smoke that fails only on crashes); `--only a,b` picks
 * scenarios; `--no-activity` turns activity off; `--profile` profiles the gateway under load instead; full runs of
 * every scenario (or `--write`) rewrite docs/benchmarks.md and docs/benchmarks.json. Flags and env: `pnpm bench --help`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT, startNats, startService, startStack, type RunningNats, type RunningService, type Stack } from "@luthien/testkit";
import { machineInfo } from "./machine";
import { HelpRequested, readOptions, UsageError, type Scenario } from "./options";
import { portkeyCacheDir, portkeyInstalled, startPortkey, type RunningPortkey } from "./portkey";
import { publishedActivity, storedActivity, type PublishedActivity } from "./activity";
import { fmt, printTable, printTargets, writeReport, type Report } from "./report";
import {
  idleRssScenario,
  latencyScenario,
  perEventChain,
  profileScenario,
  slowStreamsScenario,
  soakScenario,
  throughputScenario,
  ttfbScenario,
  workersScenario,
  keysScenario,
  transportScenario,
  type BenchContext,
  type GatewayVariant,
  type PerEventResult,
  type Watched,
} from "./scenarios";
import { evaluateTargets } from "./targets";
import { BENCH_GATEWAY_KEY } from "./http-load";

interface StackSpec {
  policies: string[];
  /** The mock's answer to every call (MOCK_LLM_DEFAULT_SCRIPT). */
  mockScript?: object;
}

/** NATS and the monitor storing what gateway and control plane publish to it, when the run has them. */
interface Activity {
  nats: RunningNats;
  monitor: RunningService;
  dispose(): Promise<void>;
}

/** Service env common to every process under benchmark: quiet logs, activity to the bench's NATS when on. */
function serviceEnv(activity: Activity | undefined): Record<string, string> {
  return { LOG_LEVEL: "warn", NATS_URL: activity?.nats.url ?? "off" };
}

const policyDocument = (policies: readonly string[]): string => `policies:\n${policies.map((p) => `  - ${p}`).join("\n")}\n`;

/** What each stack's gateway published, read before it stops (its counters go with it). */
const published: { stack: string; counts: PublishedActivity }[] = [];

async function withStack<T>(spec: StackSpec, activity: Activity | undefined, run: (stack: Stack) => Promise<T>): Promise<T> {
  const env = serviceEnv(activity);
  const stack = await startStack({
    policies: policyDocument(spec.policies),
    logLevel: "warn",
    natsUrl: env["NATS_URL"] as string,
    ...(spec.mockScript !== undefined ? { mockEnv: { MOCK_LLM_DEFAULT_SCRIPT: JSON.stringify(spec.mockScript) } } : {}),
  });
  try {
    return await run(stack);
  } finally {
    if (activity !== undefined) published.push({ stack: spec.policies.map((p) => p.split("\n")[0]).join(" + "), counts: await publishedActivity(stack.gateway.url) });
    await stack.stop();
  }
}

/**
 * A control plane and a gateway with `NATS_URL=off` on the stack's mock and policies: the `--no-activity` rows
 * beside the stack's own, measured in the same run.
 */
async function startWithoutActivity(stack: Stack): Promise<GatewayVariant & { stop(): Promise<void> }> {
  const off = { LOG_LEVEL: "warn", NATS_URL: "off" };
  const engine = await startService("control-plane", { env: { POLICY_CONFIG: stack.policyFile, ...off } });
  try {
    const gateway = await startService("gateway", {
      env: { OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, ANTHROPIC_UPSTREAM_URL: stack.mock.url, POLICY_ENGINE_URL: engine.address, ...off },
    });
    return {
      name: "gateway (no activity)",
      suffix: ", --no-activity",
      gateway,
      engine,
      stop: async () => {
        await Promise.all([gateway.stop(), engine.stop()]);
      },
    };
  } catch (err) {
    await engine.stop();
    throw err;
  }
}

/**
 * A `nats-server -js` of the bench's own and the monitor storing its events in PGlite in a temp dir (as `pnpm start`
 * runs it; a `DATABASE_URL` in the bench's env reaches it and selects PostgreSQL instead).
 * @returns undefined, with the reason in the report, when there is no nats-server to run
 */
async function startActivity(report: Report): Promise<Activity | undefined> {
  let nats: RunningNats;
  try {
    nats = await startNats({ jetstream: true });
  } catch (err) {
    const why = `activity and monitor: not run — no nats-server (${(err as Error).message.split("\n")[0]}); every figure is without activity`;
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

/**
 * Waits (up to 10 s) until the monitor's stored count stops moving, so late events count, then prints and records
 * what was published and stored; warns when activity was on and no gateway published anything.
 */
async function reportActivity(report: Report, activity: Activity): Promise<void> {
  let stored = await storedActivity(activity.monitor.url);
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const now = await storedActivity(activity.monitor.url);
    if (now === stored) break;
    stored = now;
  }
  const sum = (pick: (c: PublishedActivity) => number): number => published.reduce((s, p) => s + pick(p.counts), 0);
  const total = { published: sum((c) => c.published), dropped: sum((c) => c.dropped), outbox: sum((c) => c.outbox) };
  console.log(
    `\nActivity: the stacks' gateways published ${fmt(total.published, 0)} events (${fmt(total.dropped, 0)} dropped, ${fmt(total.outbox, 0)} still in outboxes); ` +
      `the monitor stored ${fmt(stored, 0)} (gateway and control-plane events)`,
  );
  report.raw["activity"] = { perStack: published, stored };
  if (!(total.published > 0)) report.skipped.push("activity: on, but no gateway published an event (read from its /metrics): the figures may be without activity");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  // Every gateway the bench starts inherits these: auth as deployed, a key checked on every call.
  process.env["GATEWAY_API_KEYS"] = BENCH_GATEWAY_KEY;
  process.env["AUTH_MODE"] = "client_key";
  const opts = readOptions(process.argv.slice(2), process.env, { peerInstalled: (peer) => peer === "portkey" && portkeyInstalled() });
  const has = (s: Scenario): boolean => opts.only.has(s);
  const machine = machineInfo();
  const report: Report = { machine, settings: {}, figures: [], targets: [], skipped: [], raw: {} };
  console.log(
    `Luthien benchmarks${opts.quick ? " (quick)" : ""}${opts.profile ? " (profile)" : ""} — ${machine.cpu}, ${machine.cores} cores, ${machine.ramGb} GB, Node ${machine.node}, ${machine.commit}`,
  );

  const ctx: BenchContext = { opts, report, portkey: undefined, monitorPid: undefined };
  const cleanups: (() => Promise<void>)[] = [];
  let activity: Activity | undefined;
  try {
    // The monitor runs for its idle RSS even without activity (it needs a NATS to start).
    activity = opts.activity || has("memory") ? await startActivity(report) : undefined;
    if (activity !== undefined) {
      const a = activity;
      cleanups.push(() => a.dispose());
      ctx.monitorPid = a.monitor.process.pid;
    }
    // Publishing only when the run asks for it; a monitor started for its RSS alone then stores nothing.
    const publishTo = opts.activity ? activity : undefined;
    report.settings = {
      quick: opts.quick,
      scenarios: [...opts.only],
      activity:
        publishTo !== undefined
          ? "on: gateway and control plane publish to a nats-server -js of the bench's own, the monitor stores every event"
          : opts.activity
            ? "off: no nats-server to run"
            : "off (--no-activity)",
      callsPerSide: opts.calls,
      warmupCalls: opts.warmup,
      connections: opts.connections,
      loadSeconds: opts.loadMs / 1000,
      loadRounds: opts.loadRounds,
      perEventStream: `${opts.streamChunks} events × ${opts.streamCalls} streams per side`,
      slowStreams: `${opts.slowStreams} × ${opts.slowChunks} events ${opts.slowChunkDelayMs} ms apart`,
      soakMinutes: opts.soakMs / 60_000,
      // PGlite embeds a whole PostgreSQL (WASM) in the monitor's process, which dominates its RSS.
      monitorDatabase: monitorOnPostgres() ? "postgres (DATABASE_URL)" : "pglite",
      peers: [...opts.peers],
    };
    console.log(`activity: ${String(report.settings["activity"])}`);

    if (opts.profile) {
      await profileRun(ctx, publishTo);
      return;
    }
    console.log(`scenarios: ${[...opts.only].join(", ")}; times in ms unless a column says otherwise`);

    if (opts.peers.size === 0) {
      report.skipped.push(
        process.env["BENCH_PEERS"]?.trim() === "none"
          ? "portkey: not measured (BENCH_PEERS=none)"
          : `portkey: not measured — not installed in ${portkeyCacheDir()} (BENCH_PEERS=portkey installs it)`,
      );
    }
    for (const peer of opts.peers) {
      if (!has("latency") && !has("throughput") && !has("ttfb")) {
        report.skipped.push(`${peer}: not measured (no latency, throughput or ttfb scenario in this run)`);
        continue;
      }
      console.log(`\nstarting Portkey${opts.installPeers ? " (npm install into the bench cache when missing)" : ""}…`);
      try {
        const portkey: RunningPortkey = await startPortkey({ install: opts.installPeers });
        ctx.portkey = portkey;
        cleanups.push(() => portkey.stop());
        console.log(`Portkey ${portkey.version} on ${portkey.url}`);
      } catch (err) {
        const why = `portkey: not measured — ${(err as Error).message}`;
        console.log(why);
        report.skipped.push(why);
      }
    }

    const watch = (stack: Stack): Watched[] => [
      { name: "gateway", pid: stack.gateway.process.pid as number },
      ...(stack.engine !== undefined ? [{ name: "control-plane", pid: stack.engine.process.pid as number }] : []),
      { name: "mock-llm", pid: stack.mock.process.pid as number },
      ...(activity !== undefined ? [{ name: "monitor", pid: activity.monitor.process.pid as number }] : []),
    ];

    // SKIP chain: a request-only policy, so the gateway streams straight through.
    if (["latency", "ttfb", "throughput", "slow-streams", "memory", "workers", "transport", "keys"].some((s) => has(s as Scenario))) {
      await withStack({ policies: ["use: noop"] }, publishTo, async (stack) => {
        if (has("memory")) {
          const portkeyPid = ctx.portkey?.process.pid;
          await idleRssScenario(ctx, [...watch(stack), ...(portkeyPid !== undefined ? [{ name: "portkey", pid: portkeyPid }] : [])]);
        }
        // The key SKIP figures get a row without activity beside theirs, from the same run.
        const off = publishTo !== undefined && (has("latency") || has("throughput")) ? await startWithoutActivity(stack) : undefined;
        try {
          if (has("latency")) await latencyScenario(ctx, stack, "SKIP (noop)", off);
          if (has("ttfb")) await ttfbScenario(ctx, stack, "SKIP (noop)");
          if (has("throughput")) await throughputScenario(ctx, stack, off);
        } finally {
          await off?.stop();
        }
        if (has("slow-streams")) await slowStreamsScenario(ctx, stack);
        if (has("workers")) await workersScenario(ctx, stack, serviceEnv(publishTo));
        if (has("transport")) await transportScenario(ctx, stack, serviceEnv(publishTo));
        if (has("keys")) {
          if (publishTo !== undefined) await keysScenario(ctx, stack, publishTo.nats.url);
          else report.skipped.push("keys: not run — virtual keys need the activity NATS (a nats-server)");
        }
      });
    }

    // FULL chain: the engine decides the response (and, when streaming, every event).
    const soak = has("memory") && opts.soakMs > 0;
    if (has("latency") || has("ttfb") || soak) {
      await withStack({ policies: ["use: all-caps"] }, publishTo, async (stack) => {
        if (has("latency")) await latencyScenario(ctx, stack, "FULL (all-caps)");
        if (has("ttfb")) await ttfbScenario(ctx, stack, "FULL (all-caps)");
        if (soak) await soakScenario(ctx, stack, watch(stack), "FULL (all-caps)");
      });
    }
    if (has("memory") && !soak) report.skipped.push("soak: not run (BENCH_SOAK_MS=0, the quick default)");

    if (has("per-event")) await perEventScenario(ctx, publishTo);
    if (publishTo !== undefined) await reportActivity(report, publishTo);
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error(err));
  }
  if (opts.profile) return;

  report.targets = evaluateTargets(report, { activity: opts.activity && activity !== undefined, ran: opts.only, soakMs: opts.soakMs, monitorOnPostgres: monitorOnPostgres() });
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

const monitorOnPostgres = (): boolean => (process.env["DATABASE_URL"] ?? "") !== "";

/** `--profile`: the SKIP stack, a profiled gateway of its own under 50-connection load, its hot spots; no report. */
async function profileRun(ctx: BenchContext, activity: Activity | undefined): Promise<void> {
  const stamp = new Date().toISOString().replaceAll(":", "-").replace(/\..*$/, "");
  const dir = path.resolve(process.env["BENCH_PROFILE_DIR"] ?? path.join(REPO_ROOT, ".luthien", "profiles", stamp));
  mkdirSync(dir, { recursive: true });
  await withStack({ policies: ["use: noop"] }, activity, async (stack) => {
    const result = await profileScenario(ctx, stack, serviceEnv(activity), dir);
    const summaryFile = result.file.replace(/\.cpuprofile$/, ".summary.json");
    writeFileSync(summaryFile, JSON.stringify({ settings: ctx.report.settings, machine: ctx.report.machine, load: result.load, ...result.summary }, null, 2) + "\n");
    console.log(`summary: ${summaryFile}`);
  });
  for (const s of ctx.report.skipped) console.log(`- ${s}`);
}

/** Long streams through SKIP and FULL chains; the FULL − SKIP difference per event is the engine's per-event cost. */
async function perEventScenario(ctx: BenchContext, activity: Activity | undefined): Promise<void> {
  const { opts, report } = ctx;
  const script = { chunks: Array.from({ length: opts.streamChunks }, (_, i) => `word${i} `) };
  const chains: [string, string[]][] = [
    ["SKIP (noop)", ["use: noop"]],
    ["FULL (all-caps)", ["use: all-caps"]],
    ["FULL (all-caps + string-replace + secret-redaction)", ["use: all-caps", 'use: string-replace\n    with: { replacements: [["word1", "WORD-ONE"]] }', "use: secret-redaction"]],
  ];
  const results = new Map<string, PerEventResult>();
  for (const [label, policies] of chains) {
    results.set(label, await withStack({ policies, mockScript: script }, activity, (stack) => perEventChain(ctx, stack)));
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
  if (err instanceof HelpRequested) {
    console.log(err.message);
    process.exit(0);
  }
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
