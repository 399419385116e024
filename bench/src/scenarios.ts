import * as http from "node:http";
import { openKeyStore, type KeyLimits } from "@luthien/keys";
import { REPO_ROOT, startService, type RunningService, type Stack } from "@luthien/testkit";
import { chatBody, closedLoop, createTarget, interleaved, interleavedLoads, post, type CallTiming, type LoadResult, type Target } from "./http-load";
import type { BenchOptions } from "./options";
import type { RunningPortkey } from "./portkey";
import { monotonicUs, profilesIn, readProfile, summarizeProfile, type ProfileSummary } from "./profile";
import { cpuMs, descendants, openFileLimit, sampleRss, treeRssMb } from "./proc";
import { fmt, printTable, type Figure, type Report } from "./report";
import { slope, summarize, type Summary } from "./stats";

/** What every scenario gets: the options, the report it adds to, and the peer when one runs. */
export interface BenchContext {
  opts: BenchOptions;
  report: Report;
  portkey: RunningPortkey | undefined;
  /** The monitor storing the activity, when one runs: its CPU under load is part of what activity costs. */
  monitorPid: number | undefined;
}

/** The chain a stack runs, as the tables name it. */
export type ChainLabel = "SKIP (noop)" | "FULL (all-caps)";

/**
 * A gateway and its engine measured side by side with the stack's own on the same mock and policies, e.g. both with
 * `NATS_URL=off` while the stack's publish activity.
 */
export interface GatewayVariant {
  /** Its target's name in tables, e.g. "gateway (no activity)". */
  name: string;
  /** Appended to the scenario names of its figures, e.g. ", --no-activity". */
  suffix: string;
  gateway: RunningService;
  engine: RunningService | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The stack's own gateway as a variant with no suffix, then `variant` when there is one. */
function gatewaysOf(stack: Stack, variant: GatewayVariant | undefined): GatewayVariant[] {
  return [{ name: "gateway", suffix: "", gateway: stack.gateway, engine: stack.engine }, ...(variant !== undefined ? [variant] : [])];
}

function targetsOf(ctx: BenchContext, stack: Stack, withPeer: boolean, variant?: GatewayVariant): Target[] {
  const targets = [createTarget("direct", stack.mock.url), ...gatewaysOf(stack, variant).map((g) => createTarget(g.name, g.gateway.url))];
  if (withPeer && ctx.portkey !== undefined) targets.push(ctx.portkey.targetFor(stack.mock.url));
  return targets;
}

function figure(ctx: BenchContext, f: Figure): void {
  ctx.report.figures.push(f);
}

/**
 * CPU time of some processes from now on; `perCall(n)` divides what each used by `n` calls (ms per call, NaN for a
 * process that is gone or was never there).
 */
function cpuMeter(pids: Record<string, number | undefined>): { perCall(calls: number): Record<string, number> } {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? undefined : cpuMs(pid)]));
  return {
    perCall: (calls) =>
      Object.fromEntries(
        Object.entries(pids).map(([k, pid]) => {
          const a = before[k];
          const b = pid === undefined ? undefined : cpuMs(pid);
          return [k, a === undefined || b === undefined ? NaN : (b - a) / calls];
        }),
      ),
  };
}

function latencyTable(title: string, by: Map<string, Summary>): void {
  const d = by.get("direct");
  printTable(
    title,
    ["target", "p50", "p99", "mean", "max", "added p50", "added p99"],
    [...by].map(([name, s]) => [
      name,
      fmt(s.p50),
      fmt(s.p99),
      fmt(s.mean),
      fmt(s.max),
      name === "direct" || d === undefined ? "" : `**${fmt(s.p50 - d.p50)}**`,
      name === "direct" || d === undefined ? "" : fmt(s.p99 - d.p99),
    ]),
  );
}

/**
 * Non-streaming calls at 1 connection: direct, through the gateway (and `variant`, and Portkey on the SKIP chain,
 * which is the comparable one: Portkey runs no policies), interleaved; with the CPU each gateway and engine spent per
 * call (only its own calls reach it). With a variant, the on − off difference in CPU per call is what activity costs.
 * @returns the summaries per target
 */
export async function latencyScenario(ctx: BenchContext, stack: Stack, chain: ChainLabel, variant?: GatewayVariant): Promise<Map<string, Summary>> {
  const { calls, warmup } = ctx.opts;
  const gateways = gatewaysOf(stack, variant);
  const meter = cpuMeter(
    Object.fromEntries(
      gateways.flatMap((g) => [
        [`${g.name} gateway`, g.gateway.process.pid],
        [`${g.name} engine`, g.engine?.process.pid],
      ]),
    ),
  );
  const timings = await interleaved(targetsOf(ctx, stack, chain.startsWith("SKIP"), variant), chatBody(false), calls, warmup);
  const cpu = meter.perCall(calls + warmup);
  const by = new Map([...timings].map(([name, t]) => [name, summarize(t.map((x) => x.totalMs))]));
  latencyTable(`Non-streaming, 1 connection, ${chain}: ${calls} sequential calls per target after ${warmup} warm-up (ms)`, by);
  for (const g of gateways) console.log(`CPU per call, ${g.name}: gateway ${fmt(cpu[`${g.name} gateway`])} ms, engine ${fmt(cpu[`${g.name} engine`])} ms`);
  const scenario = `1 connection, ${chain}`;
  const direct = by.get("direct");
  // Each metric's variant row right below the stack's own, so the two read side by side.
  for (const q of ["p50", "p99"] as const) {
    for (const g of gateways) {
      const peer = g.suffix === "" ? by.get("portkey")?.[q] : undefined;
      figure(ctx, {
        scenario: scenario + g.suffix,
        metric: `latency ${q}`,
        unit: "ms",
        baseline: direct?.[q],
        luthien: by.get(g.name)?.[q] ?? NaN,
        ...(peer !== undefined ? { portkey: peer } : {}),
      });
    }
  }
  for (const who of ["gateway", "engine"] as const) {
    for (const g of gateways) figure(ctx, { scenario: scenario + g.suffix, metric: `${who} CPU per call`, unit: "ms", baseline: undefined, luthien: cpu[`${g.name} ${who}`] ?? NaN });
  }
  if (variant !== undefined) {
    for (const who of ["gateway", "engine"] as const) {
      const cost = (cpu[`gateway ${who}`] ?? NaN) - (cpu[`${variant.name} ${who}`] ?? NaN);
      console.log(`activity's CPU per call (${who}, on − off): ${fmt(cost)} ms`);
      figure(ctx, { scenario, metric: `activity CPU per call, ${who} (on − off)`, unit: "ms", baseline: undefined, luthien: cost });
    }
  }
  ctx.report.raw[`latency ${chain}`] = { ...Object.fromEntries(by), cpuPerCallMs: cpu };
  return by;
}

/**
 * Streaming calls at 1 connection: time to the first body byte (the first SSE event) and to the end.
 * @returns TTFB summaries per target
 */
export async function ttfbScenario(ctx: BenchContext, stack: Stack, chain: ChainLabel): Promise<Map<string, Summary>> {
  const { calls, warmup } = ctx.opts;
  const timings = await interleaved(targetsOf(ctx, stack, chain.startsWith("SKIP")), chatBody(true), calls, warmup);
  const ttfb = new Map([...timings].map(([name, t]) => [name, summarize(t.map((x) => x.ttfbMs))]));
  const total = new Map([...timings].map(([name, t]) => [name, summarize(t.map((x) => x.totalMs))]));
  latencyTable(`Streaming, 1 connection, ${chain}: time to first byte, ${calls} calls per target (ms)`, ttfb);
  for (const q of ["p50", "p99"] as const) {
    const peer = ttfb.get("portkey")?.[q];
    figure(ctx, {
      scenario: `stream TTFB, ${chain}`,
      metric: `TTFB ${q}`,
      unit: "ms",
      baseline: ttfb.get("direct")?.[q],
      luthien: ttfb.get("gateway")?.[q] ?? NaN,
      ...(peer !== undefined ? { portkey: peer } : {}),
    });
  }
  ctx.report.raw[`ttfb ${chain}`] = { ttfb: Object.fromEntries(ttfb), wholeStream: Object.fromEntries(total) };
  return ttfb;
}

function loadRow(name: string, r: LoadResult, peakMb?: number): string[] {
  return [name, fmt(r.rps, 0), fmt(r.latency.p50), fmt(r.latency.p99), String(r.ok), String(r.errors), peakMb === undefined ? "" : fmt(peakMb, 1)];
}

/**
 * Non-streaming closed loop at `connections` clients against each target (direct, the gateway, `variant`, Portkey)
 * in interleaved rounds, sampling each gateway's RSS and reading the CPU it (and the monitor, which stores the
 * activity) spent per call in its measured rounds.
 */
export async function throughputScenario(ctx: BenchContext, stack: Stack, variant?: GatewayVariant): Promise<Map<string, LoadResult>> {
  const { connections, loadMs, loadWarmupMs, loadRounds } = ctx.opts;
  const gateways = gatewaysOf(stack, variant);
  const pidOf = new Map<string, number | undefined>([...gateways.map((g): [string, number | undefined] => [g.name, g.gateway.process.pid]), ["portkey", ctx.portkey?.process.pid]]);
  const samplers = new Map([...pidOf].flatMap(([name, pid]) => (pid === undefined ? [] : [[name, sampleRss([pid])] as const])));
  // CPU ms each target's process and the monitor used during that target's measured rounds.
  const used = new Map<string, { process: number; monitor: number }>();
  let at: { process: number | undefined; monitor: number | undefined } = { process: undefined, monitor: undefined };
  const read = (name: string): typeof at => {
    const pid = pidOf.get(name);
    return { process: pid === undefined ? undefined : cpuMs(pid), monitor: ctx.monitorPid === undefined ? undefined : cpuMs(ctx.monitorPid) };
  };
  const results = await interleavedLoads({
    targets: targetsOf(ctx, stack, true, variant),
    body: chatBody(false),
    connections,
    durationMs: loadMs,
    warmupMs: loadWarmupMs,
    rounds: loadRounds,
    onRound: (t, phase) => {
      if (phase === "start") {
        at = read(t.name);
        return;
      }
      const now = read(t.name);
      const sum = used.get(t.name) ?? { process: 0, monitor: 0 };
      sum.process += (now.process ?? NaN) - (at.process ?? NaN);
      sum.monitor += (now.monitor ?? NaN) - (at.monitor ?? NaN);
      used.set(t.name, sum);
    },
  });
  const peaks = new Map([...samplers].map(([name, s]) => [name, s.stop().peakMb]));
  const storing = ctx.monitorPid !== undefined && ctx.opts.activity;
  const cpu = new Map(
    [...used].map(([name, u]) => {
      const r = results.get(name);
      const calls = r === undefined ? NaN : r.ok + r.errors;
      return [name, { process: u.process / calls, monitor: u.monitor / calls }];
    }),
  );
  printTable(
    `Non-streaming, ${connections} connections, closed loop for ${loadMs / 1000} s per target in ${loadRounds} interleaved rounds (SKIP chain)`,
    // The monitor's column only when it stores activity; its "direct" row shows what it burns with no calls stored.
    ["target", "requests/s", "p50 ms", "p99 ms", "ok", "errors", "peak RSS MiB", "CPU per call ms", ...(storing ? ["monitor CPU per call ms"] : [])],
    [...results].map(([name, r]) => [...loadRow(name, r, peaks.get(name)), name === "direct" ? "" : fmt(cpu.get(name)?.process), ...(storing ? [fmt(cpu.get(name)?.monitor)] : [])]),
  );
  const d = results.get("direct");
  const p = results.get("portkey");
  const scenario = `${connections} connections, SKIP (noop)`;
  const rows: [string, string, (r: LoadResult) => number][] = [
    ["throughput", "requests/s", (r) => r.rps],
    ["latency p99", "ms", (r) => r.latency.p99],
  ];
  for (const [metric, unit, pick] of rows) {
    for (const g of gateways) {
      const r = results.get(g.name);
      figure(ctx, {
        scenario: scenario + g.suffix,
        metric,
        unit,
        baseline: d === undefined ? undefined : pick(d),
        luthien: r === undefined ? NaN : pick(r),
        ...(g.suffix === "" && p !== undefined ? { portkey: pick(p) } : {}),
      });
    }
  }
  for (const g of gateways) {
    const pk = g.suffix === "" ? peaks.get("portkey") : undefined;
    figure(ctx, {
      scenario: scenario + g.suffix,
      metric: "peak RSS under load",
      unit: "MiB",
      baseline: undefined,
      luthien: peaks.get(g.name) ?? NaN,
      ...(pk !== undefined ? { portkey: pk } : {}),
    });
  }
  for (const g of gateways) {
    const pk = g.suffix === "" ? cpu.get("portkey")?.process : undefined;
    figure(ctx, {
      scenario: scenario + g.suffix,
      metric: "gateway CPU per call",
      unit: "ms",
      baseline: undefined,
      luthien: cpu.get(g.name)?.process ?? NaN,
      ...(pk !== undefined ? { portkey: pk } : {}),
    });
  }
  if (storing) {
    figure(ctx, { scenario, metric: "monitor CPU per call (storing the activity)", unit: "ms", baseline: undefined, luthien: cpu.get("gateway")?.monitor ?? NaN });
  }
  ctx.report.raw["throughput"] = { results: Object.fromEntries(results), peakRssMb: Object.fromEntries(peaks), cpuPerCallMs: Object.fromEntries(cpu) };
  return results;
}

/** Per-event figures of one chain: mean and p50 whole-stream times, direct and through the gateway. */
export interface PerEventResult {
  direct: Summary;
  gateway: Summary;
  /** (gateway − direct) mean stream time / events. */
  addedPerEventMs: number;
  /** Events through the gateway per second of one stream (events / mean stream time). */
  eventsPerSecond: number;
}

/**
 * Long streams (`streamChunks` events) through one chain, sequentially: what each event costs on top of the
 * direct stream. The stack's mock must answer every call with such a stream (its default script).
 */
export async function perEventChain(ctx: BenchContext, stack: Stack): Promise<PerEventResult> {
  const { streamChunks, streamCalls } = ctx.opts;
  const timings = await interleaved(targetsOf(ctx, stack, false), chatBody(true), streamCalls, Math.max(5, Math.floor(streamCalls / 5)));
  const direct = summarize((timings.get("direct") ?? []).map((t) => t.totalMs));
  const gateway = summarize((timings.get("gateway") ?? []).map((t) => t.totalMs));
  return { direct, gateway, addedPerEventMs: (gateway.mean - direct.mean) / streamChunks, eventsPerSecond: streamChunks / (gateway.mean / 1000) };
}

/** The outcome of the slow-stream scenario. */
export interface SlowStreamsResult {
  opened: number;
  completed: number;
  failed: number;
  /** Whole-stream durations of the completed ones. */
  duration: Summary;
  gatewayPeakRssMb: number;
  gatewayRssBeforeMb: number;
}

/**
 * `slowStreams` concurrent streams through the gateway, each `slowChunks` events `slowChunkDelayMs` apart: all must
 * complete (status 200 and `data: [DONE]`), and the gateway's RSS is sampled every 100 ms for its peak.
 */
export async function slowStreamsScenario(ctx: BenchContext, stack: Stack): Promise<SlowStreamsResult> {
  const { slowStreams: n, slowChunks, slowChunkDelayMs } = ctx.opts;
  // Each stream holds a socket here, two in the gateway (client and provider) and one in the mock; services inherit
  // this limit. Say so up front rather than leave EMFILE to be read from a failure count.
  const limit = openFileLimit();
  if (limit !== undefined && limit < 2 * n + 256) console.log(`\nwarning: open-file limit ${limit} is low for ${n} streams (ulimit -n ${2 * n + 256} or more)`);
  const script = { chunks: Array.from({ length: slowChunks }, (_, i) => `w${i} `), chunkDelayMs: slowChunkDelayMs };
  await stack.mockControl.script(...Array.from({ length: n }, () => script));
  // One socket per stream, none reused: this is about concurrent connections, and the default agent caps nothing.
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const pid = stack.gateway.process.pid as number;
  const gatewayRssBeforeMb = treeRssMb(pid);
  const sampler = sampleRss([pid], 100);
  const target = createTarget("gateway", stack.gateway.url);
  const outcomes = await Promise.all(
    Array.from({ length: n }, () => post(target, chatBody(true), agent).catch((err: unknown): CallTiming | Error => (err instanceof Error ? err : new Error(String(err))))),
  );
  const { peakMb } = sampler.stop();
  agent.destroy();
  // Scripts a failed call never took would answer later scenarios.
  await stack.mockControl.reset();
  const done = outcomes.filter((o): o is CallTiming => !(o instanceof Error) && o.status === 200 && o.tail.includes("[DONE]"));
  const result: SlowStreamsResult = {
    opened: n,
    completed: done.length,
    failed: n - done.length,
    duration: summarize(done.map((t) => t.totalMs)),
    gatewayPeakRssMb: peakMb,
    gatewayRssBeforeMb,
  };
  const firstError = outcomes.find((o) => o instanceof Error || o.status !== 200);
  printTable(
    `${n} concurrent slow streams through the gateway (SKIP), ${slowChunks} text events ${slowChunkDelayMs} ms apart (≈ ${(slowChunks * slowChunkDelayMs) / 1000} s each when nothing stalls)`,
    ["opened", "completed", "failed", "duration p50 ms", "duration max ms", "gateway RSS before MiB", "gateway RSS peak MiB"],
    [[String(n), String(result.completed), String(result.failed), fmt(result.duration.p50, 0), fmt(result.duration.max, 0), fmt(gatewayRssBeforeMb, 1), fmt(peakMb, 1)]],
  );
  if (firstError !== undefined) console.log(`first failure: ${firstError instanceof Error ? firstError.message : `status ${firstError.status}`}`);
  const scenario = `${n} concurrent slow streams`;
  figure(ctx, { scenario, metric: "completed", unit: "streams", baseline: undefined, luthien: result.completed });
  figure(ctx, { scenario, metric: "stream duration p50", unit: "ms", baseline: undefined, luthien: result.duration.p50 });
  figure(ctx, { scenario, metric: "stream duration max", unit: "ms", baseline: undefined, luthien: result.duration.max });
  figure(ctx, { scenario, metric: "gateway peak RSS", unit: "MiB", baseline: undefined, luthien: peakMb });
  ctx.report.raw["slow streams"] = result;
  return result;
}

/** A process whose memory the bench watches; its children count too (a clustered gateway). */
export interface Watched {
  name: string;
  pid: number;
}

/** Idle RSS of each service after `idleSettleMs` without traffic. @returns MiB per service name */
export async function idleRssScenario(ctx: BenchContext, watched: readonly Watched[]): Promise<Map<string, number>> {
  await sleep(ctx.opts.idleSettleMs);
  const idle = new Map(watched.map((w) => [w.name, treeRssMb(w.pid)]));
  printTable(
    `Idle RSS after ${ctx.opts.idleSettleMs / 1000} s without traffic (MiB)`,
    ["service", "RSS"],
    [...idle].map(([n, mb]) => [n, fmt(mb, 1)]),
  );
  for (const [name, mb] of idle) {
    if (name !== "portkey")
      figure(ctx, {
        scenario: "idle",
        metric: `${name} RSS`,
        unit: "MiB",
        baseline: undefined,
        luthien: mb,
        ...(name === "gateway" && idle.has("portkey") ? { portkey: idle.get("portkey") as number } : {}),
      });
  }
  ctx.report.raw["idle rss MiB"] = Object.fromEntries(idle);
  return idle;
}

/** RSS growth of one service over the soak. */
export interface SoakSeries {
  samples: { atMin: number; mb: number }[];
  /** Least-squares slope over the second half of the samples, MiB per minute. */
  growthMbPerMin: number;
  finalMb: number;
}

/**
 * Steady load through the gateway for `soakMs` (half the clients JSON, half streaming, closed loop), sampling every
 * service's RSS each `soakSampleMs`; growth is fitted on the second half only, so warm-up does not count.
 */
export async function soakScenario(ctx: BenchContext, stack: Stack, watched: readonly Watched[], chain: ChainLabel): Promise<Map<string, SoakSeries>> {
  const { soakMs, soakSampleMs, soakConnections } = ctx.opts;
  const series = new Map(watched.map((w) => [w.name, [] as { atMin: number; mb: number }[]]));
  const t0 = performance.now();
  const take = (): void => {
    for (const w of watched) series.get(w.name)?.push({ atMin: (performance.now() - t0) / 60_000, mb: treeRssMb(w.pid) });
  };
  take();
  const timer = setInterval(take, soakSampleMs);
  const target = createTarget("gateway", stack.gateway.url);
  const json = Math.ceil(soakConnections / 2);
  const [a, b] = await Promise.all([
    closedLoop({ target, body: chatBody(false), connections: json, durationMs: soakMs, warmupMs: 0 }),
    closedLoop({ target, body: chatBody(true), connections: soakConnections - json, durationMs: soakMs, warmupMs: 0 }),
  ]);
  clearInterval(timer);
  take();
  const out = new Map<string, SoakSeries>();
  for (const [name, samples] of series) {
    const half = samples.filter((s) => s.atMin >= soakMs / 60_000 / 2);
    out.set(name, { samples, growthMbPerMin: slope(half.map((s) => ({ x: s.atMin, y: s.mb }))), finalMb: samples[samples.length - 1]?.mb ?? NaN });
  }
  printTable(
    `Steady load for ${soakMs / 60_000} min through the gateway (${chain}): ${soakConnections} clients, ${fmt(a.rps + b.rps, 0)} calls/s, ${a.errors + b.errors} errors`,
    ["service", "RSS at start MiB", "RSS at end MiB", "growth MiB/min (second half)"],
    [...out].map(([name, s]) => [name, fmt(s.samples[0]?.mb, 1), fmt(s.finalMb, 1), fmt(s.growthMbPerMin, 2)]),
  );
  for (const [name, s] of out) {
    figure(ctx, { scenario: `soak ${soakMs / 60_000} min`, metric: `${name} RSS at end`, unit: "MiB", baseline: undefined, luthien: s.finalMb });
    figure(ctx, { scenario: `soak ${soakMs / 60_000} min`, metric: `${name} RSS growth`, unit: "MiB/min", baseline: undefined, luthien: s.growthMbPerMin });
  }
  ctx.report.raw["soak"] = { load: { json: a, stream: b }, series: Object.fromEntries(out) };
  return out;
}

/**
 * 1 vs 2 gateway workers (`GATEWAY_WORKERS`) at `connections` clients, both gateways extra processes on the stack's
 * mock and engine. Skipped, with the reason, when the gateway ignores the variable (no child processes).
 * @returns undefined when skipped
 */
export async function workersScenario(ctx: BenchContext, stack: Stack, env: Record<string, string>): Promise<Map<string, LoadResult> | undefined> {
  const start = (workers: number): Promise<RunningService> =>
    startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: stack.mock.url,
        POLICY_ENGINE_URL: stack.engine?.address ?? "127.0.0.1:1",
        GATEWAY_WORKERS: String(workers),
        ...env,
      },
    });
  const two = await start(2);
  try {
    // Workers fork once the primary runs; give them a moment to appear.
    await sleep(500);
    const children = descendants(two.process.pid as number);
    if (children.length === 0) {
      const why = "workers: skipped — the gateway ignores GATEWAY_WORKERS (with GATEWAY_WORKERS=2 it has no child processes)";
      console.log(`\n${why}`);
      ctx.report.skipped.push(why);
      return undefined;
    }
    const one = await start(1);
    try {
      const { connections, loadMs, loadWarmupMs } = ctx.opts;
      const results = new Map<string, LoadResult>();
      const peaks = new Map<string, number>();
      for (const [name, svc] of [
        ["1 worker", one],
        ["2 workers", two],
      ] as const) {
        const sampler = sampleRss([svc.process.pid as number]);
        results.set(name, await closedLoop({ target: createTarget(name, svc.url), body: chatBody(false), connections, durationMs: loadMs, warmupMs: loadWarmupMs }));
        peaks.set(name, sampler.stop().peakMb);
      }
      printTable(
        `Gateway workers, non-streaming, ${connections} connections (SKIP): ${children.length} child processes with GATEWAY_WORKERS=2`,
        ["gateway", "requests/s", "p50 ms", "p99 ms", "ok", "errors", "peak RSS MiB (all processes)"],
        [...results].map(([name, r]) => loadRow(name, r, peaks.get(name))),
      );
      const r1 = results.get("1 worker");
      const r2 = results.get("2 workers");
      // Baseline here is the single-worker gateway, so "ratio" reads as the speed-up.
      figure(ctx, { scenario: `${connections} connections, 1 vs 2 workers`, metric: "throughput", unit: "requests/s", baseline: r1?.rps, luthien: r2?.rps ?? NaN });
      figure(ctx, { scenario: `${connections} connections, 1 vs 2 workers`, metric: "latency p99", unit: "ms", baseline: r1?.latency.p99, luthien: r2?.latency.p99 ?? NaN });
      ctx.report.raw["workers"] = { results: Object.fromEntries(results), peakRssMb: Object.fromEntries(peaks), childProcesses: children.length };
      return results;
    } finally {
      await one.stop();
    }
  } finally {
    await two.stop();
  }
}

/**
 * The engine transports side by side, each a gateway of its own on the stack's mock and engine: one stream per call
 * (`POLICY_TRANSPORT=stream`) and a few shared long-lived streams (`multiplexed`, the default). Latency at one
 * connection (interleaved, with the direct call as baseline) and requests/s at `connections` clients.
 */
export async function transportScenario(ctx: BenchContext, stack: Stack, env: Record<string, string>): Promise<void> {
  const start = (transport: string): Promise<RunningService> =>
    startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: stack.mock.url,
        POLICY_ENGINE_URL: stack.engine?.address ?? "127.0.0.1:1",
        POLICY_TRANSPORT: transport,
        ...env,
      },
    });
  const [perCall, shared] = await Promise.all([start("stream"), start("multiplexed")]);
  try {
    const { calls, warmup, connections, loadMs, loadWarmupMs } = ctx.opts;
    const targets = [createTarget("direct", stack.mock.url), createTarget("stream per call", perCall.url), createTarget("multiplexed", shared.url)];
    const timings = await interleaved(targets, chatBody(false), calls, warmup);
    const by = new Map([...timings].map(([name, t]) => [name, summarize(t.map((x) => x.totalMs))]));
    const loads = new Map<string, LoadResult>();
    for (const t of targets.slice(1)) {
      loads.set(t.name, await closedLoop({ target: t, body: chatBody(false), connections, durationMs: loadMs, warmupMs: loadWarmupMs }));
    }
    const direct = by.get("direct");
    printTable(
      `Engine transport, non-streaming, SKIP (noop): ${calls} sequential calls after ${warmup} warm-up, then ${connections} connections`,
      ["transport", "p50 ms", "p99 ms", "added p50 ms", `requests/s at ${connections}`, `p99 ms at ${connections}`],
      [...by].map(([name, s]) => {
        const load = loads.get(name);
        return [
          name,
          fmt(s.p50),
          fmt(s.p99),
          name === "direct" || direct === undefined ? "" : fmt(s.p50 - direct.p50),
          load === undefined ? "" : fmt(load.rps, 0),
          load === undefined ? "" : fmt(load.latency.p99),
        ];
      }),
    );
    // Baseline is stream-per-call, so the ratio reads as what multiplexing changes.
    const a = by.get("stream per call");
    const b = by.get("multiplexed");
    figure(ctx, { scenario: "engine transport, stream per call → multiplexed", metric: "1 connection p50", unit: "ms", baseline: a?.p50, luthien: b?.p50 ?? NaN });
    figure(ctx, {
      scenario: "engine transport, stream per call → multiplexed",
      metric: `throughput, ${connections} connections`,
      unit: "requests/s",
      baseline: loads.get("stream per call")?.rps,
      luthien: loads.get("multiplexed")?.rps ?? NaN,
    });
    ctx.report.raw["transport"] = { latency: Object.fromEntries(by), load: Object.fromEntries(loads) };
  } finally {
    await Promise.all([perCall.stop(), shared.stop()]);
  }
}

/** What {@link profileScenario} found. */
export interface ProfileResult {
  file: string;
  load: LoadResult;
  summary: ProfileSummary;
}

/**
 * 50-connection (`connections`) SKIP throughput against a gateway of its own under `node --cpu-prof` (on the stack's
 * mock and engine, with `env`), then stops it so that it writes the profile into `dir`, and prints the top functions
 * by self time and the per-module rollup. The profiler slows the gateway: its requests/s is context, not a figure.
 * @throws when the gateway left no profile (it did not exit on SIGTERM in time)
 */
export async function profileScenario(ctx: BenchContext, stack: Stack, env: Record<string, string>, dir: string): Promise<ProfileResult> {
  const { connections, loadMs, loadWarmupMs } = ctx.opts;
  const gateway = await startService("gateway", {
    env: {
      OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`,
      ANTHROPIC_UPSTREAM_URL: stack.mock.url,
      POLICY_ENGINE_URL: stack.engine?.address ?? "127.0.0.1:1",
      ...env,
    },
    nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  });
  let load: LoadResult | undefined;
  const window = { fromUs: NaN, toUs: NaN };
  try {
    // One target in one round: the hook marks the measured part, so start-up and warm-up samples are left out.
    const loads = await interleavedLoads({
      targets: [createTarget("gateway", gateway.url)],
      body: chatBody(false),
      connections,
      durationMs: loadMs,
      warmupMs: loadWarmupMs,
      onRound: (_t, phase) => (phase === "start" ? (window.fromUs = monotonicUs()) : (window.toUs = monotonicUs())),
    });
    load = loads.get("gateway");
  } finally {
    await gateway.stop();
  }
  const file = profilesIn(dir).at(-1);
  if (file === undefined || load === undefined) throw new Error(`the profiled gateway left no .cpuprofile in ${dir} (killed before it could write one?)`);
  const summary = summarizeProfile(readProfile(file), REPO_ROOT, window);
  const pct = (x: number): string => `${fmt(x * 100, 1)}%`;
  console.log(
    `\nProfiled gateway, ${connections} connections, SKIP (noop), activity ${ctx.opts.activity ? "on" : "off"}: ${fmt(load.rps, 0)} requests/s under the profiler, ${load.errors} errors; ` +
      `${fmt(summary.totalMs, 0)} ms sampled ${summary.windowed ? "during the measured load" : "over the whole process (the load's window matched no sample)"}, ` +
      `${fmt(summary.busyMs, 0)} ms busy (${pct(summary.busyMs / summary.totalMs)}), the rest idle (the event loop waiting)`,
  );
  printTable(
    "Top 25 functions by self time (share of busy time)",
    ["#", "self ms", "share", "function", "where"],
    summary.functions.slice(0, 25).map((f, i) => [String(i + 1), fmt(f.selfMs, 1), pct(f.share), f.name.replaceAll("|", "\\|"), f.where]),
  );
  const top = summary.modules.slice(0, 30);
  const rest = summary.modules.slice(30);
  const restMs = rest.reduce((sum, m) => sum + m.selfMs, 0);
  printTable(
    "Self time by package / module: node_modules package, our file, Node internals, V8 (share of busy time)",
    ["module", "self ms", "share"],
    [...top.map((m) => [m.name, fmt(m.selfMs, 1), pct(m.share)]), ...(rest.length > 0 ? [[`${rest.length} more (in the summary file)`, fmt(restMs, 1), pct(restMs / summary.busyMs)]] : [])],
  );
  console.log(`\nprofile: ${file} (open in Chrome DevTools → Performance, or speedscope)`);
  return { file, load, summary };
}

/**
 * What identity and limits cost per call, on the stack's own gateway (its virtual keys on the activity NATS): a
 * static key, a virtual key (a map lookup in the watched directory), one with a requests-per-minute limit (slots
 * leased in blocks, so mostly local) and one with a concurrency limit (two store writes per call), interleaved.
 */
export async function keysScenario(ctx: BenchContext, stack: Stack, natsUrl: string): Promise<void> {
  const store = await openKeyStore({ url: natsUrl });
  try {
    const make = async (limits: KeyLimits): Promise<string> => (await store.create({ name: "bench", owner: "bench", limits })).secret;
    const keys: [string, string][] = [
      ["virtual key", await make({})],
      ["virtual key, rpm limit", await make({ rpm: 10_000_000 })],
      ["virtual key, concurrency limit", await make({ concurrent: 1000 })],
    ];
    const targets = [createTarget("static key", stack.gateway.url), ...keys.map(([name, secret]) => createTarget(name, stack.gateway.url, { authorization: `Bearer ${secret}` }))];
    const { calls, warmup } = ctx.opts;
    const timings = await interleaved(targets, chatBody(false), calls, warmup);
    const by = new Map([...timings].map(([name, t]) => [name, summarize(t.map((x) => x.totalMs))]));
    const base = by.get("static key");
    printTable(
      `Identity and limits, non-streaming, 1 connection, SKIP: ${calls} sequential calls per key after ${warmup} warm-up (ms)`,
      ["key", "p50", "p99", "p50 − static key"],
      [...by].map(([name, s]) => [name, fmt(s.p50), fmt(s.p99), name === "static key" ? "" : fmt(s.p50 - (base?.p50 ?? NaN))]),
    );
    for (const [name] of keys) {
      for (const q of ["p50", "p99"] as const)
        figure(ctx, { scenario: `1 connection, SKIP, ${name}`, metric: `latency ${q}`, unit: "ms", baseline: base?.[q], luthien: by.get(name)?.[q] ?? NaN });
    }
    ctx.report.raw["keys"] = Object.fromEntries(by);
  } finally {
    await store.close();
  }
}
