import type { Scenario } from "./options";
import { fmt, type Figure, type Report, type TargetCheck } from "./report";

/** Monitor idle RSS bound with its embedded PGlite, MB (10^6 bytes). */
const MONITOR_IDLE_RSS_MB = 150;
/** How long the load of the "no RSS growth" goal lasts. */
const SOAK_GOAL_MS = 5 * 60_000;
/**
 * What "no RSS growth" tolerates, MiB per minute over the soak's second half: below this the slope is noise from GC
 * timing and allocator reuse (a leak of a few KiB per call at hundreds of calls/s shows as many MiB/min).
 */
const GROWTH_TOLERANCE_MB_PER_MIN = 1;
const MIB_IN_MB = 2 ** 20 / 1e6;

/** What the targets need to know about the run beyond its figures, to say why one was not measured. */
export interface TargetContext {
  /** Whether gateway and control plane published activity (as deployed). */
  activity: boolean;
  /** The scenarios the run went through. */
  ran: ReadonlySet<Scenario>;
  soakMs: number;
  /** The monitor stored into PostgreSQL (DATABASE_URL), not its embedded PGlite. */
  monitorOnPostgres: boolean;
}

const added = (f: Figure | undefined): number | undefined => (f === undefined || f.baseline === undefined ? undefined : f.luthien - f.baseline);

/**
 * The goals a run is judged by (2-core box, from the design's targets): each with its measured value and met or
 * not met, or n/a with the reason when the run did not measure it. Latency goals are on figures added over the
 * direct baseline of the same run, on the gateway as deployed (activity on); a `--no-activity` run says so in each
 * measured value.
 */
export function evaluateTargets(report: Report, context: TargetContext): TargetCheck[] {
  const find = (pred: (f: Figure) => boolean): Figure | undefined => report.figures.find(pred);
  const byMetric = (scenario: string, metric: string): Figure | undefined => find((f) => f.scenario === scenario && f.metric === metric);
  const offNote = context.activity ? "" : " (activity off)";
  const notRun = (s: Scenario): string | undefined => (context.ran.has(s) ? undefined : `n/a: no ${s} scenario in this run`);
  /** `idle`: a figure taken before any call, which activity does not change. */
  const atMost = (goal: string, value: number | undefined, bound: number, unit: string, why: string | undefined, digits = 3, idle = false): TargetCheck => {
    if (why !== undefined) return { goal, measured: why, met: undefined };
    if (value === undefined || Number.isNaN(value)) return { goal, measured: "n/a: the scenario gave no figure (see the log)", met: undefined };
    return { goal, measured: `${fmt(value, digits)} ${unit}${idle ? "" : offNote}`, met: value <= bound };
  };

  const checks: TargetCheck[] = [];
  const rps = find((f) => f.metric === "throughput" && f.scenario.endsWith("connections, SKIP (noop)"));
  const goalRps = "≥ 2× Portkey's requests/s at 50 connections (SKIP)";
  if (notRun("throughput") !== undefined) checks.push({ goal: goalRps, measured: notRun("throughput") as string, met: undefined });
  else if (rps?.portkey === undefined) {
    const why = report.skipped.find((s) => s.startsWith("portkey:"))?.replace(/^portkey: /, "") ?? "Portkey not measured";
    checks.push({ goal: goalRps, measured: `n/a: ${why}`, met: undefined });
  } else {
    const ratio = rps.luthien / rps.portkey;
    checks.push({ goal: goalRps, measured: `${fmt(rps.luthien, 0)} vs ${fmt(rps.portkey, 0)} requests/s (${fmt(ratio, 2)}×)${offNote}`, met: ratio >= 2 });
  }
  checks.push(
    atMost("added latency, 1 connection, SKIP, p50 ≤ 0.8 ms", added(byMetric("1 connection, SKIP (noop)", "latency p50")), 0.8, "ms", notRun("latency")),
    atMost("added latency, 1 connection, SKIP, p99 ≤ 3 ms", added(byMetric("1 connection, SKIP (noop)", "latency p99")), 3, "ms", notRun("latency")),
    atMost("added latency, 1 connection, FULL non-streaming, p50 ≤ 1.2 ms", added(byMetric("1 connection, FULL (all-caps)", "latency p50")), 1.2, "ms", notRun("latency")),
    atMost("added time to first byte, SKIP, p50 ≤ 1 ms", added(byMetric("stream TTFB, SKIP (noop)", "TTFB p50")), 1, "ms", notRun("ttfb")),
    atMost(
      "FULL per-event overhead (all-caps − noop, mean) ≤ 0.05 ms",
      find((f) => f.scenario.endsWith(", FULL (all-caps)") && f.metric === "added per event vs SKIP")?.luthien,
      0.05,
      "ms",
      notRun("per-event"),
      4,
    ),
    atMost("gateway CPU per SKIP call ≤ 0.6 ms (1 connection)", byMetric("1 connection, SKIP (noop)", "gateway CPU per call")?.luthien, 0.6, "ms", notRun("latency")),
  );

  const monitorMib = byMetric("idle", "monitor RSS")?.luthien;
  const goalMonitor = `monitor idle RSS ≤ ${MONITOR_IDLE_RSS_MB} MB with its embedded PGlite`;
  const monitorWhy =
    notRun("memory") ??
    (context.monitorOnPostgres ? "n/a: the monitor ran on PostgreSQL (DATABASE_URL), not PGlite" : monitorMib === undefined ? "n/a: no monitor ran (see below)" : undefined);
  checks.push(atMost(goalMonitor, monitorMib === undefined ? undefined : monitorMib * MIB_IN_MB, MONITOR_IDLE_RSS_MB, "MB", monitorWhy, 1, true));

  const growth = report.figures.filter((f) => f.scenario.startsWith("soak") && f.metric.endsWith("RSS growth"));
  const goalGrowth = (who: string): string => `no RSS growth under a 5-minute load: ${who} (≤ ${GROWTH_TOLERANCE_MB_PER_MIN} MiB/min)`;
  if (growth.length === 0) {
    const why = notRun("memory") ?? (context.soakMs === 0 ? "n/a: no soak in this run (BENCH_SOAK_MS=0, the quick default)" : "n/a: the soak gave no figure");
    checks.push({ goal: goalGrowth("every service"), measured: why, met: undefined });
  }
  for (const f of growth) {
    const who = f.metric.replace(" RSS growth", "");
    // A shorter soak is shown, but it is not the 5-minute load the goal is about.
    if (context.soakMs < SOAK_GOAL_MS) {
      checks.push({ goal: goalGrowth(who), measured: `n/a: ${fmt(f.luthien, 2)} MiB/min over a ${fmt(context.soakMs / 60_000, 1)}-minute soak, shorter than 5`, met: undefined });
    } else checks.push(atMost(goalGrowth(who), f.luthien, GROWTH_TOLERANCE_MB_PER_MIN, "MiB/min", undefined, 2));
  }
  return checks;
}
