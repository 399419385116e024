import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { MachineInfo } from "./machine";

/** One measured figure, next to its baseline (the mock called directly, same run) and a peer when one ran. */
export interface Figure {
  scenario: string;
  metric: string;
  unit: string;
  /** The same figure for direct calls to the mock; undefined where there is no such thing (e.g. RSS). */
  baseline: number | undefined;
  luthien: number;
  /** The same figure through Portkey, when it ran. */
  portkey?: number;
}

/** A goal and whether this run met it; `met` undefined means it could not be judged (n/a). */
export interface TargetCheck {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/** Everything a run produced: what docs/benchmarks.json holds and docs/benchmarks.md renders. */
export interface Report {
  machine: MachineInfo;
  settings: Record<string, unknown>;
  figures: Figure[];
  targets: TargetCheck[];
  /** Scenarios (or parts) that did not run, and why. */
  skipped: string[];
  /** Raw results per scenario: every summary, load result and RSS sample. */
  raw: Record<string, unknown>;
}

/** Formats a number for a table: NaN and undefined as "–", else `digits` decimals. */
export function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits);
}

/** Prints a table (GitHub markdown, so it can be pasted) under a title. */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(`\n${title}\n`);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => " --- ").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

/** Decimals that suit a unit: ms to the µs, rates and sizes whole or to one decimal. */
function digitsFor(unit: string): number {
  if (unit === "ms" || unit === "ms/event") return 3;
  if (unit === "MiB" || unit === "MiB/min") return 1;
  return 0;
}

function figureRow(f: Figure): string[] {
  const d = digitsFor(f.unit);
  // A difference reads as "added" only for times; for rates and sizes the ratio says it.
  const added = f.baseline === undefined || !f.unit.startsWith("ms") ? undefined : f.luthien - f.baseline;
  const ratio = f.baseline === undefined || f.baseline === 0 ? undefined : f.luthien / f.baseline;
  return [f.scenario, `${f.metric} (${f.unit})`, fmt(f.baseline, d), fmt(f.luthien, d), fmt(added, d), ratio === undefined ? "–" : `${fmt(ratio, 2)}×`, fmt(f.portkey, d)];
}

/** Prints the run's verdicts on the targets. */
export function printTargets(targets: readonly TargetCheck[]): void {
  printTable(
    "Targets",
    ["goal", "measured", "verdict"],
    targets.map((t) => [t.goal, t.measured, verdict(t.met)]),
  );
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "n/a" : met ? "met" : "**not met**";
}

/** The markdown page: machine, targets, every figure, what was skipped, how it was measured. */
export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const lines: string[] = [
    "# Benchmarks",
    "",
    "What the Luthien gateway adds to calls against the mock provider (`services/mock-llm`), measured by `pnpm bench`",
    "(`bench/src`) in one run against direct calls to the same mock, so both sides see the same machine state.",
    "Regenerate with `pnpm bench` (about ten minutes; it rewrites this page and `benchmarks.json`, which holds every raw figure).",
    "",
    "## Machine",
    "",
    "| | |",
    "| --- | --- |",
    `| CPU | ${m.cpu} |`,
    `| cores | ${m.cores} |`,
    `| RAM | ${m.ramGb} GB |`,
    `| Node | ${m.node} |`,
    `| OS | ${m.os} |`,
    `| date | ${m.date} |`,
    `| commit | ${m.commit} |`,
    "",
    "Every process (mock, gateway, control plane, monitor, load generator, peer) shares these cores over loopback,",
    "so absolute figures are lower than on a dedicated box; the added latency and the ratios are the comparable part.",
    "",
    "## Targets",
    "",
    "| goal | measured | verdict |",
    "| --- | --- | --- |",
    ...report.targets.map((t) => `| ${t.goal} | ${t.measured} | ${verdict(t.met)} |`),
    "",
    "## Figures",
    "",
    "Baseline = the mock called directly (in the workers rows: the gateway with one worker); added = Luthien − baseline",
    "(for p99: gateway p99 − direct p99); ratio = Luthien / baseline. Portkey ran no policies: compare it with the SKIP rows.",
    "",
    "| scenario | metric | baseline (direct) | Luthien | added | ratio | Portkey |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...report.figures.map((f) => `| ${figureRow(f).join(" | ")} |`),
    "",
  ];
  if (report.skipped.length > 0) lines.push("## Not measured in this run", "", ...report.skipped.map((s) => `- ${s}`), "");
  lines.push(
    "## Method",
    "",
    ...Object.entries(report.settings).map(([k, v]) => `- \`${k}\`: ${JSON.stringify(v)}`),
    "",
    "- Client: `node:http` with keep-alive agents, in the bench's own process. Sequential figures use one connection",
    "  per target, warmed up, then measured in interleaved halves (direct, gateway, direct, gateway) so load drift hits",
    "  every side alike. Quantiles are nearest-rank.",
    "- Throughput: a closed loop of concurrent keep-alive clients for a fixed time after a warm-up, each target's time",
    "  cut into rounds taken in turn (direct, gateway, …, direct, gateway, …) so load drift hits every side alike; the",
    "  direct row shows what the load generator itself can drive.",
    "- Time to first byte: until the first byte of the response body (the first SSE event).",
    "- Per-event cost: long streams through a SKIP (`noop`) and a FULL (`all-caps`) chain; (FULL − SKIP) mean stream",
    "  time over the event count is what one pipelined engine round trip adds per event.",
    "- RSS: `VmRSS` from `/proc/<pid>/status`, summed over a process and its children; growth is the least-squares",
    "  slope of the second half of the soak's samples (the first half is warm-up).",
    "- Services run with `LOG_LEVEL=warn`. Activity is on unless the run says otherwise (`activity` above): gateway and",
    "  control plane publish every event to a `nats-server -js` of the bench's own and the monitor stores them in its",
    "  embedded PGlite, as `pnpm start` runs it. Rows whose scenario ends in `--no-activity` come from a control plane",
    "  and gateway with `NATS_URL=off` on the same mock, measured in the same run (interleaved at 1 connection): the",
    "  difference is what activity costs.",
    "- CPU per call: user + system time from `/proc/<pid>/stat` (10 ms ticks) over the scenario's calls, divided by",
    "  their number; only that process's own calls reach it. At 50 connections it covers the measured part only.",
    "- Portkey is measured when it is installed in the bench cache (`BENCH_PEERS=portkey` installs it).",
    "",
  );
  return lines.join("\n");
}

/** Writes `<dir>/benchmarks.md` and `<dir>/benchmarks.json`. */
export function writeReport(report: Report, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "benchmarks.md"), renderMarkdown(report));
  writeFileSync(path.join(dir, "benchmarks.json"), JSON.stringify(report, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
}
