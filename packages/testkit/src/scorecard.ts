import { appendFileSync } from "node:fs";

/** The env variable naming the JSON-lines file scenario results go to; unset → results are not recorded. */
export const FAULTS_REPORT_ENV = "LUTHIEN_FAULTS_REPORT";

/** One fault or robustness scenario's outcome, as `pnpm faults` aggregates it into the scorecard. */
export interface ScenarioResult {
  /** The test suite (e.g. "control-plane faults"). */
  suite: string;
  /** Catalogue id and short name (e.g. "CP-02 SIGKILL mid-stream"). */
  scenario: string;
  /** The gateway's POLICY_FAILURE_MODE; undefined where it plays no part. */
  failMode?: "closed" | "open";
  /** Every assertion of the scenario held. */
  passed: boolean;
  /** Calls served without a verdict: a bypass header, or bytes the engine never approved reaching the client. */
  bypasses?: number;
  /** Bypass classes: how many generated variants the scenario tried (its `bypasses` count among them). */
  variants?: number;
  /** Activity events the calls made should have published, and how many the monitor stored. */
  eventsExpected?: number;
  eventsStored?: number;
  /** From the fault clearing until a new call succeeded. */
  recoveryMs?: number;
  /** Latency the fault added to a call that still succeeded. */
  addedLatencyMs?: number;
  /** Bad inputs sent, by category, and how many of the answers were 5xx. */
  badInputs?: Record<string, number>;
  fiveXx?: number;
  /** Planted secrets found in answers or logs. */
  canaryHits?: number;
  /** Anything worth a line in the report. */
  note?: string;
}

/**
 * Appends one JSON line to the file named by `LUTHIEN_FAULTS_REPORT`. A no-op when it is unset, so tests can record
 * unconditionally and `pnpm test` writes nothing.
 */
export function recordScenario(result: ScenarioResult): void {
  const file = process.env[FAULTS_REPORT_ENV];
  if (file === undefined || file === "") return;
  appendFileSync(file, JSON.stringify({ ...result, at: new Date().toISOString() }) + "\n");
}

/**
 * Runs a scenario body and records its result either way: `passed` is whether the body completed, and the body
 * fills in the figures on the result it is handed. The body's error is rethrown, so the test still fails.
 */
export async function runScenario(meta: Omit<ScenarioResult, "passed">, body: (result: ScenarioResult) => Promise<void>): Promise<ScenarioResult> {
  const result: ScenarioResult = { ...meta, passed: false };
  try {
    await body(result);
    result.passed = true;
    return result;
  } finally {
    recordScenario(result);
  }
}
