/**
 * `pnpm luthien replay --since 24h --policies candidate.yaml`: what a candidate policy chain would have done to the
 * calls the monitor stored. Calls are read page by page from the monitor (original request and response; a stream's
 * events when they were stored, else re-chunked from its assembled response), run through the candidate chain with
 * the engine's own chain run — no provider is called — and reported per policy: calls it would change, block,
 * redact, hold or rewrite, with examples and diffs against what the client got, and precision and recall against the
 * calls labelled in the monitor. The report is also stored in the monitor (its Replay page) unless --no-upload.
 */
"use strict";
const path = require("node:path");
const { parseArgs } = require("node:util");
const { loadBuilt, monitorApi, timeAgo } = require("./cli-support");

const USAGE = [
  "usage: pnpm luthien replay --policies <candidate.yaml> [--since 24h] [--until <time>] [--labelled] [--limit <n>] [--json] [--no-upload]",
  "",
  "  --policies   the candidate POLICY_CONFIG (its rules pick each call's chain, as in production)",
  "  --since      24h, 90m, 7d or an ISO time (default 24h)      --until  an ISO time (default now)",
  "  --labelled   only calls labelled in the monitor (should have been blocked / fine)",
  "  --limit      at most this many calls (default 10000)",
  "  --json       the report as JSON on stdout instead of the table",
  "  --no-upload  do not store the report in the monitor",
  "",
  "  MONITOR_URL (default http://127.0.0.1:8001), ADMIN_API_KEY",
].join("\n");

const PAGE = 200;

/** The monitor's stored calls in the range, oldest first, page by page. */
async function* storedCalls({ from, to, labelled, limit }) {
  let cursor;
  let n = 0;
  while (n < limit) {
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: String(Math.min(PAGE, limit - n)) });
    if (labelled) q.set("labelled", "true");
    if (cursor !== undefined) q.set("cursor", cursor);
    const page = await monitorApi(`/api/replay/calls?${q}`);
    for (const c of page.calls) {
      n++;
      yield c;
    }
    if (page.nextCursor === null || page.nextCursor === undefined || page.calls.length === 0) return;
    cursor = page.nextCursor;
  }
}

/** Lines only one side has, marked - (before) and + (after). */
function diffLines(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  const inB = new Set(b);
  const inA = new Set(a);
  return [...a.filter((l) => !inB.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `+ ${l}`)];
}

const pct = (x) => (x === null ? "—" : x.toFixed(2));
const cut = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function printReport(report, meta) {
  console.log(`replay of ${report.calls} calls (${report.labelled} labelled) from ${meta.since} to ${meta.until}; candidate ${meta.file}`);
  if (report.failed.length > 0) console.log(`${report.failed.length} call(s) could not be replayed (first: ${report.failed[0].callId}: ${report.failed[0].error})`);
  const head = ["policy", "changed", "blocked", "redacted", "held", "rewritten", "precision", "recall", "tp/fp/fn/tn"];
  const rows = report.policies.map((p) => [p.policy, p.changed, p.blocked, p.redacted, p.held, p.rewritten, pct(p.precision), pct(p.recall), `${p.tp}/${p.fp}/${p.fn}/${p.tn}`].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log("");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  for (const p of report.policies) {
    if (p.examples.length === 0) continue;
    console.log(`\n${p.policy}: examples`);
    for (const e of p.examples) {
      console.log(`  ${e.callId}  ${e.actions.join(", ")}`);
      for (const l of diffLines(e.before, e.after).slice(0, 8)) console.log(`    ${cut(l, 160)}`);
    }
  }
}

async function replay(args) {
  const { values } = parseArgs({
    args,
    options: {
      policies: { type: "string" },
      since: { type: "string", default: "24h" },
      until: { type: "string" },
      labelled: { type: "boolean" },
      limit: { type: "string", default: "10000" },
      json: { type: "boolean" },
      "no-upload": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return console.log(USAGE);
  if (values.policies === undefined) throw new Error(`--policies is required\n\n${USAGE}`);
  const limit = Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new Error("--limit must be a positive integer");
  const from = timeAgo("--since", values.since);
  const to = values.until === undefined ? new Date() : timeAgo("--until", values.until);
  const plane = loadBuilt("services/control-plane");
  const file = path.resolve(values.policies);
  const config = plane.loadPolicyConfig(file);
  const report = await plane.replayCalls({ config, calls: storedCalls({ from, to, labelled: values.labelled === true, limit }) });
  const meta = { since: from.toISOString(), until: to.toISOString(), file };
  const full = { ...meta, config: require("node:fs").readFileSync(file, "utf8"), ...report };
  if (!values["no-upload"]) {
    const stored = await monitorApi("/api/replays", { method: "POST", body: JSON.stringify(full) });
    if (!values.json) console.error(`# report stored in the monitor: ${stored.id ?? "?"}`);
  }
  if (values.json) console.log(JSON.stringify(full));
  else printReport(report, meta);
}

module.exports = { replay };
