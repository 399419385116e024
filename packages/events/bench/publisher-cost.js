/**
 * What the activity publisher costs per gateway call: 7 events of realistic size (0.3–4 KB each) published to a
 * `nats-server -js` of its own, every ack awaited.
 *
 *   node packages/events/bench/publisher-cost.js [--dist label=path]... [--calls 2000] [--rounds 7] [--rate 1000]
 *
 * `--dist` names a built `@luthien/events` dist directory (default: this package's `dist`). Give it twice to compare
 * two builds in one run: their rounds alternate on one server, so both see the same machine noise.
 *
 * Two regimes, each a median over the rounds:
 * - burst: `--calls` calls published back to back, then `flush()`. Caller = CPU spent inside `publish()`
 *   (`process.cpuUsage()` around the synchronous publishing, so preemption by other processes does not count; the
 *   wall time inside `publish()` is printed beside it); process = `process.cpuUsage()` (user + system, every
 *   thread) from the first publish until every ack is in, its system part beside it.
 * - paced: calls arrive at `--rate` per second, each call's events spread over two event-loop turns the way a
 *   gateway emits them (start and request first, the rest later). Process CPU is reported net of an identical
 *   pacing loop that publishes nothing, measured in the same round.
 * Every round also checks that the stream gained exactly `calls × 7` messages.
 */
"use strict";
const path = require("node:path");
const { performance } = require("node:perf_hooks");
const { startNats } = require("@luthien/testkit");

const EVENTS_PER_CALL = 7;

function parseArgs(argv) {
  const o = { dists: [], calls: 2000, rounds: 7, rate: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === "--dist") {
      const eq = v.indexOf("=");
      o.dists.push(eq > 0 ? { label: v.slice(0, eq), dir: path.resolve(v.slice(eq + 1)) } : { label: v, dir: path.resolve(v) });
    } else if (a === "--calls") o.calls = Number(v);
    else if (a === "--rounds") o.rounds = Number(v);
    else if (a === "--rate") o.rate = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  if (o.dists.length === 0) o.dists.push({ label: "this", dir: path.join(__dirname, "..", "dist") });
  return o;
}

const LOREM = "The quick brown fox jumps over the lazy dog; élan, naïve café — 日本語 too. Refactor the parser so streamed tool calls keep their index. ";
const text = (bytes) => LOREM.repeat(Math.ceil(bytes / LOREM.length)).slice(0, bytes);

/** One call's events, shaped like the gateway's (Anthropic format, one tool, a short conversation). */
function callPayloads() {
  const request = {
    model: "claude-sonnet-4-5",
    max_tokens: 4096,
    stream: true,
    system: text(600),
    tools: [{ name: "Bash", description: text(200), input_schema: { type: "object", properties: { command: { type: "string" } }, required: ["command"] } }],
    messages: [
      { role: "user", content: [{ type: "text", text: text(1200) }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: text(400) },
          { type: "tool_use", id: "toolu_01A", name: "Bash", input: { command: "ls -la src" } },
        ],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01A", content: text(900) }] },
    ],
  };
  const response = {
    id: "msg_01XFDUDYJgAACzvnptvVoYEL",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5",
    content: [{ type: "text", text: text(1500) }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 1834, output_tokens: 412, cache_read_input_tokens: 0 },
  };
  return [
    [
      "call.started",
      {
        model: "claude-sonnet-4-5",
        stream: true,
        route: "/v1/messages",
        keyId: "key_7f3a9c",
        userId: "user_42",
        sessionId: "sess_0193a7e2",
        format: "anthropic",
        provider: "anthropic",
        headers: {
          "user-agent": "claude-cli/2.1.3 (external, cli)",
          "anthropic-version": "2023-06-01",
          "anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        },
      },
    ],
    ["request.received", { body: request }],
    ["request.sent", { body: request }],
    ["response.received", { body: response }],
    ["policy.all-caps.rewrote", { policy: "all-caps", action: "rewrote", detail: text(160) }],
    ["response.sent", { body: response }],
    [
      "call.ended",
      {
        status: 200,
        outcome: "ok",
        latencyMs: 1843,
        ttftMs: 412,
        usage: { inputTokens: 1834, outputTokens: 412 },
        chunksIn: 58,
        chunksOut: 58,
        policyActions: ["all-caps.rewrote"],
      },
    ],
  ];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuMs = (since) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};
const sysMs = (since) => process.cpuUsage(since).system / 1000;
const nextTurn = () => new Promise((r) => setImmediate(r));

async function storedCount(jsm) {
  try {
    return (await jsm.streams.info("LUTHIEN_ACTIVITY")).state.messages;
  } catch {
    return 0;
  }
}

async function burstRound(pub, calls, payloads, prefix) {
  let wall = 0;
  const cpu0 = process.cpuUsage();
  for (let c = 0; c < calls; c++) {
    const callId = `${prefix}-${c}`;
    const t0 = performance.now();
    for (const [type, data] of payloads) pub.publish(callId, type, data);
    wall += performance.now() - t0;
  }
  // Nothing but publish() ran since cpu0: no I/O or timer can run inside a synchronous loop.
  const caller = cpuMs(cpu0);
  await pub.flush(120_000);
  return { caller: caller / calls, callerWall: wall / calls, process: cpuMs(cpu0) / calls, sys: sysMs(cpu0) / calls };
}

/**
 * Issues `calls` calls at `rate` per second; each call's first 2 events go at once, the other 5 one turn later.
 * With `pub` undefined the same loop runs without publishing (the baseline).
 */
async function pacedLoop(pub, calls, rate, payloads, prefix) {
  let caller = 0;
  let wall = 0;
  const emit = (callId, from, to) => {
    if (pub === undefined) return;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = from; i < to; i++) pub.publish(callId, payloads[i][0], payloads[i][1]);
    wall += performance.now() - t0;
    caller += cpuMs(c0);
  };
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let issued = 0;
  let later = [];
  while (issued < calls || later.length > 0) {
    const due = Math.min(calls, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    const now = later;
    later = [];
    for (const callId of now) emit(callId, 2, EVENTS_PER_CALL);
    for (; issued < due; issued++) {
      const callId = `${prefix}-${issued}`;
      emit(callId, 0, 2);
      later.push(callId);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  if (pub !== undefined) await pub.flush(120_000);
  return { caller: caller / calls, callerWall: wall / calls, process: cpuMs(cpu0) / calls, sys: sysMs(cpu0) / calls };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const nats = await startNats({ jetstream: true });
  const { connect } = require("@nats-io/transport-node");
  const { jetstreamManager } = require("@nats-io/jetstream");
  const admin = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(admin);
  const payloads = callPayloads();
  const bytesPerCall = payloads.reduce((n, [, d]) => n + Buffer.byteLength(JSON.stringify(d)), 0);
  const subjects = opts.dists.map((d) => {
    const events = require(path.join(d.dir, "index.js"));
    const pub = events.createEventPublisher({ url: nats.url, source: "gateway", outboxLimit: 1_000_000, outboxMaxBytes: 2 ** 31 });
    return { ...d, pub, burst: [], paced: [] };
  });
  try {
    // Warm-up: connects, creates the stream, lets the JIT settle.
    for (const s of subjects) {
      await burstRound(s.pub, 500, payloads, `warm-${s.label}`);
      await pacedLoop(s.pub, 200, opts.rate, payloads, `warmp-${s.label}`);
    }
    const baseline = [];
    for (let r = 0; r < opts.rounds; r++) {
      baseline.push(await pacedLoop(undefined, opts.calls, opts.rate, payloads, "none"));
      for (const s of subjects) {
        const before = await storedCount(jsm);
        s.burst.push(await burstRound(s.pub, opts.calls, payloads, `b${r}-${s.label}`));
        const paced = await pacedLoop(s.pub, opts.calls, opts.rate, payloads, `p${r}-${s.label}`);
        s.paced.push(paced);
        const stored = (await storedCount(jsm)) - before;
        const expected = 2 * opts.calls * EVENTS_PER_CALL;
        if (stored !== expected) throw new Error(`${s.label}: stream gained ${stored} messages, expected ${expected}`);
        await nextTurn();
      }
    }
    const base = median(baseline.map((x) => x.process));
    const baseSys = median(baseline.map((x) => x.sys));
    console.log(`${opts.calls} calls × ${EVENTS_PER_CALL} events (${bytesPerCall} B of data per call), ${opts.rounds} rounds, ` + `paced at ${opts.rate} calls/s; medians, ms per call`);
    console.log(`paced baseline (loop without publishing): ${base.toFixed(4)} ms process CPU per call`);
    console.log("caller = CPU inside publish() [wall time inside it]; process = whole-process CPU until every ack is in [of it, system]");
    console.log("build         burst caller        burst process     paced caller        paced process (net)   counters");
    const med = (xs, k, minus = 0) => (median(xs.map((x) => x[k])) - minus).toFixed(4);
    const pair = (a, b, width) => `${a} [${b}]`.padEnd(width);
    for (const s of subjects) {
      const c = s.pub.counters();
      const cells = [
        s.label.padEnd(12),
        pair(med(s.burst, "caller"), med(s.burst, "callerWall"), 18),
        pair(med(s.burst, "process"), med(s.burst, "sys"), 16),
        pair(med(s.paced, "caller"), med(s.paced, "callerWall"), 18),
        pair(med(s.paced, "process", base), med(s.paced, "sys", baseSys), 20),
        `published=${c.published} retried=${c.retried} dropped=${c.dropped}`,
      ];
      console.log(cells.join("  "));
    }
  } finally {
    await Promise.all(subjects.map((s) => s.pub.close()));
    await admin.close();
    await nats.dispose();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
