#!/usr/bin/env node
/**
 * `pnpm faults`: runs the fault and robustness suites (control-plane faults, events accounting, the flapping-engine
 * soak, fuzzing, secret canaries, engine failures, security, HTTP hardening, PostgreSQL restarts under the monitor)
 * with scenario recording on, then prints the scorecard. Exits non-zero when a test failed or an invariant broke:
 * - no bypass in fail-closed runs (I1: a policy is never silently bypassed);
 * - events stored = events expected (I2: no activity event is silently lost);
 * - no 5xx among the bad inputs, no secret-canary hit, every recorded scenario passed.
 *
 * `--no-soak` leaves out the ~2 minute soak. Extra arguments go to jest (e.g. `-t CP-03`).
 */
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const SUITES = [
  "services/gateway/test/faults/",
  "services/gateway/test/fuzz.test.ts",
  "services/gateway/test/secret-canary.test.ts",
  "services/gateway/test/engine-failures.test.ts",
  "services/gateway/test/security.test.ts",
  "services/gateway/test/http-hardening.test.ts",
  "services/monitor/test/postgres-restart.test.ts",
];

const args = process.argv.slice(2);
const soak = !args.includes("--no-soak");
const jestArgs = args.filter((a) => a !== "--no-soak");
const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "luthien-faults-")), "scenarios.jsonl");

const run = spawnSync(process.execPath, [path.join(root, "node_modules/jest/bin/jest.js"), "--runInBand", ...SUITES, ...jestArgs], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    NODE_OPTIONS: "--experimental-vm-modules --no-warnings=ExperimentalWarning",
    LUTHIEN_FAULTS_REPORT: report,
    ...(soak ? { LUTHIEN_FAULTS_SOAK: "1" } : {}),
  },
});

const results = fs.existsSync(report)
  ? fs
      .readFileSync(report, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l))
  : [];

const sum = (list, f) => list.reduce((a, r) => a + (f(r) ?? 0), 0);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const failures = [];
const lines = [];
const out = (s = "") => lines.push(s);

out("");
out("Luthien fault scorecard");
out("=======================");
out(`report: ${report}`);
out("");

// Scenarios passed per fail mode.
out("Scenarios passed");
for (const mode of ["closed", "open", undefined]) {
  const of = results.filter((r) => r.failMode === mode);
  if (of.length === 0) continue;
  const passed = of.filter((r) => r.passed).length;
  out(`  fail-${mode ?? "n/a"}: ${passed}/${of.length}`);
}
for (const r of results.filter((x) => !x.passed)) failures.push(`scenario failed: ${r.suite} / ${r.scenario} (${r.failMode ?? "n/a"})`);
out("");

// I1: bypasses in fail-closed.
const closedBypasses = sum(
  results.filter((r) => r.failMode === "closed"),
  (r) => r.bypasses,
);
const openBypasses = sum(
  results.filter((r) => r.failMode === "open"),
  (r) => r.bypasses,
);
out(`Bypasses in fail-closed: ${closedBypasses} (must be 0); in fail-open, marked: ${openBypasses}`);
if (closedBypasses !== 0) failures.push(`${closedBypasses} bypasses in fail-closed`);

// Bypass classes: real built-in policies against generated variants, on a healthy engine (both fail modes).
const classes = results.filter((r) => r.variants !== undefined);
if (classes.length > 0) {
  out("Policy bypasses by class (real built-in policies, healthy engine; must be 0 in both modes)");
  const byClass = new Map();
  for (const r of classes) byClass.set(r.scenario, { ...(byClass.get(r.scenario) ?? {}), [r.failMode]: r });
  for (const [name, modes] of byClass) {
    const cell = (r) => (r === undefined ? "-" : `${r.bypasses ?? 0}/${r.variants}`);
    out(`  ${name.padEnd(34)} closed ${cell(modes.closed).padStart(9)}   open ${cell(modes.open).padStart(9)}`);
  }
  const openClassBypasses = sum(
    classes.filter((r) => r.failMode === "open"),
    (r) => r.bypasses,
  );
  if (openClassBypasses !== 0) failures.push(`${openClassBypasses} bypasses of a healthy engine in fail-open`);
} else failures.push("the bypass suite did not run");
out("");

// I2: events.
const withEvents = results.filter((r) => r.eventsExpected !== undefined);
const expected = sum(withEvents, (r) => r.eventsExpected);
const stored = sum(withEvents, (r) => r.eventsStored);
out(`Events expected / stored: ${expected} / ${stored}${withEvents.length === 0 ? " (no accounting scenario ran)" : ""}`);
if (expected !== stored) failures.push(`events expected ${expected}, stored ${stored}`);
if (withEvents.length === 0) failures.push("no events-accounting scenario ran");

// Bad inputs.
const categories = {};
for (const r of results) for (const [k, v] of Object.entries(r.badInputs ?? {})) categories[k] = (categories[k] ?? 0) + v;
const fiveXx = sum(results, (r) => r.fiveXx);
const badTotal = Object.values(categories).reduce((a, b) => a + b, 0);
out(`Bad inputs tried: ${badTotal}; 5xx among them: ${fiveXx} (must be 0)`);
for (const [k, v] of Object.entries(categories).sort()) out(`  ${k.padEnd(18)} ${v}`);
if (fiveXx !== 0) failures.push(`${fiveXx} 5xx answers to bad inputs`);

// Recovery.
const recoveries = results.filter((r) => typeof r.recoveryMs === "number");
if (recoveries.length > 0) {
  const all = recoveries.map((r) => r.recoveryMs).sort((a, b) => a - b);
  out(`Recovery after a fault clears: p50 ${pct(all, 50)} ms, max ${all.at(-1)} ms (${all.length} measurements)`);
  const byScenario = new Map();
  for (const r of recoveries) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r.recoveryMs]);
  for (const [name, list] of byScenario) {
    const sorted = list.sort((a, b) => a - b);
    out(`  ${name.padEnd(34)} p50 ${String(pct(sorted, 50)).padStart(6)} ms   max ${String(sorted.at(-1)).padStart(6)} ms`);
  }
} else out("Recovery after a fault clears: none measured");
for (const r of results.filter((x) => typeof x.addedLatencyMs === "number")) out(`Added latency, ${r.scenario} (${r.failMode}): ${r.addedLatencyMs} ms`);

// Canaries.
const canaryRuns = results.filter((r) => r.canaryHits !== undefined);
const canaryHits = sum(canaryRuns, (r) => r.canaryHits);
out(`Secret-canary hits: ${canaryHits} (must be 0)${canaryRuns.length === 0 ? " (the canary suite did not run)" : ""}`);
if (canaryHits !== 0) failures.push(`${canaryHits} secret-canary hits`);

const notes = results.filter((r) => r.note !== undefined);
if (notes.length > 0) {
  out("");
  out("Notes");
  for (const r of notes) out(`  ${r.scenario} (${r.failMode ?? "n/a"}): ${r.note}`);
}

out("");
if (run.status !== 0) failures.push(`jest exited with ${run.status ?? run.signal}`);
if (results.length === 0) failures.push("no scenario was recorded");
out(failures.length === 0 ? "All invariants hold." : `FAILED:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
process.stdout.write(lines.join("\n") + "\n");
process.exit(failures.length === 0 ? 0 : 1);
