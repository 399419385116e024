#!/usr/bin/env node
/**
 * `pnpm luthien <command>`: small operator tools over the built packages (run `pnpm build` first).
 *
 *   pnpm luthien tail [filter] [--json]   prints activity events as they are published
 *   pnpm luthien keys <verb> …            virtual gateway keys (scripts/luthien-keys.js)
 *   pnpm luthien approvals <verb> …       tool calls held for a person (scripts/luthien-approvals.js)
 *   pnpm luthien replay --policies f.yaml what a candidate chain would have done to stored calls (scripts/luthien-replay.js)
 *
 * `filter` picks subjects under `luthien.activity.`: `policy.>` (every policy event), `call.*`, `call.ended`;
 * omitted, everything. `--json` prints each envelope as one JSON line instead of a summary. NATS_URL says where
 * NATS is (default nats://127.0.0.1:4222). Tail is a plain subscription: it sees what is published while it
 * runs; history is in the monitor.
 */
"use strict";
const { loadBuilt } = require("./cli-support");

function usage(code) {
  (code === 0 ? console.log : console.error)(
    [
      "usage: pnpm luthien tail [filter] [--json]",
      "       pnpm luthien keys <create|list|show|revoke|rotate> …   (pnpm luthien keys help)",
      "       pnpm luthien approvals <list|approve|deny> …           (pnpm luthien approvals help)",
      "       pnpm luthien replay --policies <candidate.yaml> [--since 24h] …   (pnpm luthien replay --help)",
      "",
      "  filter   subjects under luthien.activity. — e.g. 'policy.>', 'call.*', 'call.ended' (default: everything)",
      "  --json   one JSON envelope per line instead of a summary",
      "",
      "  NATS_URL  (default nats://127.0.0.1:4222)",
    ].join("\n"),
  );
  process.exit(code);
}

const loadEvents = () => loadBuilt("packages/events");

/** One readable line: time, source, type, call id, seq and a few fields of data. */
function summarize(ev) {
  const d = ev.data ?? {};
  let extra = "";
  switch (ev.type) {
    case "call.started":
      extra = [d.model, d.stream ? "stream" : "", d.format, d.keyId ? `key=${d.keyId}` : ""].filter((x) => x).join(" ");
      break;
    case "call.ended":
      extra = [`status=${d.status}`, d.outcome, d.latencyMs !== undefined ? `${d.latencyMs}ms` : "", ...(d.policyActions ?? [])].filter((x) => x).join(" ");
      break;
    default: {
      const json = JSON.stringify(d);
      extra = json.length > 160 ? json.slice(0, 157) + "..." : json;
    }
  }
  const src = ev.source === "control-plane" ? "engine " : "gateway";
  return `${ev.time.slice(11, 23)} ${src} ${ev.type.padEnd(28)} ${ev.callId} #${ev.seq} ${extra}`;
}

const MAX_PENDING = 8 * 1024 * 1024;
let skipped = 0;

function tail(args) {
  const json = args.includes("--json");
  const rest = args.filter((a) => a !== "--json");
  if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) usage(2);
  const events = loadEvents();
  const url = process.env.NATS_URL || "nats://127.0.0.1:4222";
  const subject = events.activitySubjectFilter(rest[0]);
  const logger = {
    info: (msg) => console.error(`# ${msg}`),
    warn: (msg) => console.error(`# ${msg}`),
    error: (msg) => console.error(`# ${msg}`),
  };
  console.error(`# tailing ${subject} on ${url} (Ctrl-C to stop)`);
  const sub = events.subscribeActivity({ url, subject, logger, name: "luthien-tail" }, (d) => {
    if (d.event === undefined) {
      console.error(`# invalid message on ${d.subject}: ${d.error.message}`);
      return;
    }
    // A subscription cannot be paused, so a reader slower than the traffic (a stopped `less`) would grow memory
    // without bound: past MAX_PENDING unwritten bytes, lines are skipped and counted, and the count is printed
    // once stdout drains.
    if (process.stdout.writableLength > MAX_PENDING) {
      skipped++;
      return;
    }
    if (skipped > 0) {
      console.error(`# ${skipped} event(s) skipped: output too slow`);
      skipped = 0;
    }
    process.stdout.write((json ? JSON.stringify(d.event) : summarize(d.event)) + "\n");
  });
  const stop = () => {
    sub.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // Exit quietly when the reader goes away (`pnpm luthien tail | head`).
  process.stdout.on("error", (err) => {
    if (err.code === "EPIPE") stop();
  });
}

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case "tail":
    tail(args);
    break;
  case "keys":
  case "approvals":
  case "replay":
    require(`./luthien-${command}`)
      [command](args)
      .then(
        () => process.exit(process.exitCode ?? 0),
        (err) => {
          console.error(err.message);
          process.exit(1);
        },
      );
    break;
  case undefined:
  case "help":
  case "--help":
  case "-h":
    usage(command === undefined ? 2 : 0);
    break;
  default:
    console.error(`unknown command: ${command}`);
    usage(2);
}
