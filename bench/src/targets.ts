import { fmt, type Figure, type Report, type TargetCheck } from "./report";

/** Idle RSS bound per service, MiB. */
const IDLE_RSS_MB = 120;
/**
 * What "no RSS growth" tolerates, MiB per minute over the soak's second half: below this the slope is noise from GC
 * timing and allocator reuse (a leak of a few KiB per call at hundreds of calls/s shows as many MiB/min).
 */
const GROWTH_TOLERANCE_MB_PER_MIN = 1;

const added = (f: Figure | undefined): number | undefined => (f === undefined || f.baseline === undefined ? undefined : f.luthien - f.baseline);

function atMost(goal: string, value: number | undefined, bound: number, unit: string, digits = 3): TargetCheck {
  if (value === undefined || Number.isNaN(value)) return { goal, measured: "not measured", met: undefined };
  return { goal, measured: `${fmt(value, digits)} ${unit}`, met: value <= bound };
}

/**
 * The goals a run is judged by (2-core box, from the design's targets), each met, not met, or n/a when its scenario
 * did not run. Latency goals are on figures added over the direct baseline of the same run.
 */
export function evaluateTargets(report: Report): TargetCheck[] {
  const find = (pred: (f: Figure) => boolean): Figure | undefined => report.figures.find(pred);
  const byMetric = (scenario: string, metric: string): Figure | undefined => find((f) => f.scenario === scenario && f.metric === metric);
  const checks: TargetCheck[] = [
    atMost("added latency, 1 connection, SKIP, p50 ≤ 0.8 ms", added(byMetric("1 connection, SKIP (noop)", "latency p50")), 0.8, "ms"),
    atMost("added latency, 1 connection, SKIP, p99 ≤ 3 ms", added(byMetric("1 connection, SKIP (noop)", "latency p99")), 3, "ms"),
    atMost("added latency, 1 connection, FULL non-streaming, p50 ≤ 1.2 ms", added(byMetric("1 connection, FULL (all-caps)", "latency p50")), 1.2, "ms"),
    atMost("added time to first byte, SKIP, p50 ≤ 1 ms", added(byMetric("stream TTFB, SKIP (noop)", "TTFB p50")), 1, "ms"),
    atMost(
      "FULL per-event overhead (all-caps − noop, mean, pipelined) ≤ 0.1 ms",
      find((f) => f.scenario.endsWith(", FULL (all-caps)") && f.metric === "added per event vs SKIP")?.luthien,
      0.1,
      "ms",
      4,
    ),
  ];
  const rps = find((f) => f.metric === "throughput" && f.scenario.endsWith("connections, SKIP (noop)"));
  if (rps?.portkey === undefined) checks.push({ goal: "≥ 2× Portkey's requests/s at 50 connections", measured: "Portkey not measured", met: undefined });
  else {
    const ratio = rps.luthien / rps.portkey;
    checks.push({ goal: "≥ 2× Portkey's requests/s at 50 connections", measured: `${fmt(rps.luthien, 0)} vs ${fmt(rps.portkey, 0)} (${fmt(ratio, 2)}×)`, met: ratio >= 2 });
  }
  for (const service of ["gateway", "control-plane", "monitor", "mock-llm"]) {
    checks.push(atMost(`idle RSS ${service} ≤ ${IDLE_RSS_MB} MB`, byMetric("idle", `${service} RSS`)?.luthien, IDLE_RSS_MB, "MiB", 1));
  }
  const growth = report.figures.filter((f) => f.scenario.startsWith("soak") && f.metric.endsWith("RSS growth"));
  if (growth.length === 0) checks.push({ goal: `no RSS growth under steady load (≤ ${GROWTH_TOLERANCE_MB_PER_MIN} MiB/min)`, measured: "no soak in this run", met: undefined });
  for (const f of growth) {
    checks.push(atMost(`no RSS growth under steady load: ${f.metric.replace(" RSS growth", "")} (≤ ${GROWTH_TOLERANCE_MB_PER_MIN} MiB/min)`, f.luthien, GROWTH_TOLERANCE_MB_PER_MIN, "MiB/min", 2));
  }
  return checks;
}
