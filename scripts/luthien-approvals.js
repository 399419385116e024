/**
 * `pnpm luthien approvals …`: tool calls held for a person. The list comes from the monitor (it stores every
 * `approval.*` event); a decision goes straight to the engine holding the call over NATS, the way a bot would send
 * it (packages/approvals), so it works with several engine and monitor replicas and without the monitor.
 */
"use strict";
const os = require("node:os");
const { parseArgs } = require("node:util");
const { loadBuilt, monitorApi } = require("./cli-support");

const USAGE = [
  "usage: pnpm luthien approvals <list|approve|deny> [options]",
  "",
  "  list [--all] [--json]                         pending approvals (--all: decided ones too), from the monitor",
  "  approve <id> [--note <text>] [--session [--pattern <glob>]] [--by <name>]",
  "         --session: the same tool with the same arguments (or arguments matching --pattern, a glob over their",
  "         canonical JSON) passes without asking again in this session",
  "  deny <id> [--note <text>] [--by <name>]     the note reaches the client in the block message",
  "",
  "  MONITOR_URL (default http://127.0.0.1:8001), ADMIN_API_KEY; NATS_URL (default nats://127.0.0.1:4222)",
  "  --by defaults to your login name",
].join("\n");

const ago = (iso) => {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s >= 0 ? `in ${s}s` : `${-s}s ago`;
};

function printList(approvals) {
  if (approvals.length === 0) {
    console.log("no approvals");
    return;
  }
  for (const a of approvals) {
    const r = a.requested ?? {};
    const who = [r.owner && `owner=${r.owner}`, r.keyId && `key=${r.keyId}`, r.sessionId && `session=${r.sessionId}`].filter(Boolean).join(" ");
    const state = a.state === "pending" ? `pending, expires ${ago(a.expiresAt)}` : `${a.state}${a.decided?.by ? ` by ${a.decided.by}` : ""}${a.decided?.note ? `: ${a.decided.note}` : ""}`;
    console.log(`${a.approvalId}  ${r.policy ?? "?"}  ${r.tool ?? "?"}  [${state}]`);
    console.log(`    call ${a.callId}  ${who}`);
    console.log(`    reason: ${r.reason ?? ""}`);
    console.log(`    input:  ${JSON.stringify(r.input)}`);
    for (const x of a.refused ?? []) console.log(`    refused ${x.decision ?? "decision"}${x.by ? ` by ${x.by}` : ""}: ${x.reason} — ${x.message}`);
  }
}

async function decide(verb, args) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { note: { type: "string" }, session: { type: "boolean" }, pattern: { type: "string" }, by: { type: "string" }, json: { type: "boolean" } },
  });
  if (positionals.length !== 1) throw new Error(`${verb} needs one approval id\n\n${USAGE}`);
  if (verb === "deny" && (values.session || values.pattern !== undefined)) throw new Error("--session and --pattern are for approve");
  if (values.pattern !== undefined && !values.session) throw new Error("--pattern needs --session");
  const approvals = loadBuilt("packages/approvals");
  const [id] = positionals;
  if (!approvals.isApprovalId(id)) throw new Error(`not an approval id: ${JSON.stringify(id)}`);
  const decision = {
    decision: verb,
    by: values.by ?? os.userInfo().username,
    note: values.note ?? "",
    ...(values.session ? { scope: "session" } : {}),
    ...(values.pattern !== undefined ? { pattern: values.pattern } : {}),
  };
  const client = await approvals.openApprovalClient({ url: process.env.NATS_URL || "nats://127.0.0.1:4222", name: "luthien-approvals-cli" });
  try {
    const reply = await client.decide(id, decision);
    if (values.json) console.log(JSON.stringify(reply));
    else if (reply.ok) console.log(`${id}: ${reply.state}`);
    else console.error(`${id}: refused (${reply.reason}): ${reply.message}`);
    if (!reply.ok) process.exitCode = 1;
  } finally {
    await client.close();
  }
}

async function approvalsCommand(args) {
  const [verb, ...rest] = args;
  switch (verb) {
    case "list": {
      const { values } = parseArgs({ args: rest, options: { all: { type: "boolean" }, json: { type: "boolean" } } });
      const body = await monitorApi(`/api/approvals?state=${values.all ? "all" : "pending"}`);
      if (values.json) console.log(JSON.stringify(body.approvals));
      else printList(body.approvals);
      return;
    }
    case "approve":
    case "deny":
      return decide(verb, rest);
    case undefined:
    case "help":
    case "--help":
      console.log(USAGE);
      return;
    default:
      throw new Error(`unknown approvals command: ${verb}\n\n${USAGE}`);
  }
}

module.exports = { approvals: approvalsCommand };
