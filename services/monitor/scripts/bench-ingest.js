#!/usr/bin/env node
/**
 * Measures how many events per second the monitor stores (batching on), on PostgreSQL (DATABASE_URL-style, a fresh
 * database on the shared server) or PGlite (`--pglite`). Starts its own nats-server and monitor process.
 *
 *   pnpm build && node services/monitor/scripts/bench-ingest.js [--events 20000] [--batch 500] [--pglite]
 *
 * Two figures:
 * - backlog: the events are in JetStream before the monitor starts; time from its first stored row to the last
 *   (pure ingest: fetch, parse, escape, insert, upsert calls, commit, ack)
 * - live: the monitor runs while a publisher sends the events as fast as it can; time from the first publish to
 *   the last row stored
 */
"use strict";
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..", "..", "..");
const { startNats, startService, createTestDatabase } = require(path.join(root, "packages/testkit/dist/index.js"));
const { createEventPublisher } = require(path.join(root, "packages/events/dist/index.js"));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const EVENTS = arg("--events", 20_000);
const BATCH = arg("--batch", 500);
const PGLITE = args.includes("--pglite");
const ADMIN = "bench-admin-key";

/** Publishes `n` events shaped like real calls (7 per call, small bodies) under `prefix`. */
function publishCalls(publisher, prefix, n) {
  const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Write a haiku about load testing." }] };
  const resp = { id: "chatcmpl-x", choices: [{ index: 0, message: { role: "assistant", content: "Queues fill and drain / rows arrive in ordered waves / the disk hums along" } }] };
  const types = [
    ["call.started", { model: "gpt-4o-mini", stream: true, route: "/v1/chat/completions", keyId: "bench", format: "openai", provider: "openai" }],
    ["request.received", { body }],
    ["request.sent", { body }],
    ["response.received", { body: resp }],
    ["policy.bench.observed", { ok: true }],
    ["response.sent", { body: resp }],
    ["call.ended", { status: 200, outcome: "ok", latencyMs: 123, ttftMs: 45, usage: { inputTokens: 12, outputTokens: 20 }, chunksIn: 20, chunksOut: 20, policyActions: ["bench.observed"] }],
  ];
  for (let i = 0; i < n; i++) {
    const [type, data] = types[i % types.length];
    publisher.publish(`${prefix}-${Math.floor(i / types.length)}`, type, data);
  }
}

async function storedCount(monitor) {
  const res = await fetch(`${monitor.url}/api/stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()).events;
}

async function waitForCount(monitor, target, onFirst) {
  let first;
  for (;;) {
    const n = await storedCount(monitor);
    if (n > 0 && first === undefined) {
      first = Date.now();
      onFirst?.(first);
    }
    if (n >= target) return { first, last: Date.now() };
    await new Promise((r) => setTimeout(r, 50));
  }
}

(async () => {
  const nats = await startNats({ jetstream: true });
  const db = PGLITE ? undefined : await createTestDatabase();
  const dataDir = PGLITE ? mkdtempSync(path.join(tmpdir(), "luthien-bench-pglite-")) : undefined;
  const env = {
    NATS_URL: nats.url,
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: "warn",
    MONITOR_BATCH: String(BATCH),
    ...(db !== undefined ? { DATABASE_URL: db.url } : { MONITOR_DATA_DIR: dataDir }),
  };
  const publisher = createEventPublisher({ url: nats.url, source: "gateway", outboxLimit: EVENTS * 2 });
  let monitor;
  try {
    // Backlog: everything waits in JetStream first.
    publishCalls(publisher, "backlog", EVENTS);
    await publisher.flush(120_000);
    monitor = await startService("monitor", { env, startTimeoutMs: 60_000 });
    const backlog = await waitForCount(monitor, EVENTS);
    const backlogMs = backlog.last - backlog.first;

    // Live: the monitor runs while events are published.
    const start = Date.now();
    publishCalls(publisher, "live", EVENTS);
    await waitForCount(monitor, EVENTS * 2);
    const liveMs = Date.now() - start;

    const kind = PGLITE ? "PGlite" : "PostgreSQL";
    console.log(`monitor ingest on ${kind}, batch ${BATCH}, ${EVENTS} events each:`);
    console.log(`  backlog: ${Math.round((EVENTS / backlogMs) * 1000)} events/s (${backlogMs} ms from first to last row)`);
    console.log(`  live:    ${Math.round((EVENTS / liveMs) * 1000)} events/s (${liveMs} ms from first publish to last row)`);
  } finally {
    await publisher.close();
    await monitor?.stop();
    await db?.drop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    await nats.dispose();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
