#!/usr/bin/env node
/**
 * How fast the call list loads with many stored calls (PostgreSQL): a fresh database on the shared server, migrated
 * by a real monitor, filled with N calls shaped like real traffic (mixed verdicts, policies, models, keys, sessions;
 * a policy event per intervention, as engines publish them), then measured
 * - the API: the list's first page (default, by verdict, by policy, sorted by latency, text search), the facets,
 *   the dashboard over the whole range, each run R times; medians and maxima
 * - the page: Debian's Chromium opens the monitor logged in and waits until the call list shows its first 50 rows
 *   (navigation start to rows painted), R times
 * Exits 1 when the median page load is over the budget.
 *
 *   pnpm build && node services/monitor/scripts/bench-list.js [--calls 100000] [--runs 7] [--budget-ms 1000]
 */
"use strict";
const path = require("node:path");
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");

const root = path.resolve(__dirname, "..", "..", "..");
const { startNats, startService, createTestDatabase } = require(path.join(root, "packages/testkit/dist/index.js"));
const { Client } = require("pg");

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CALLS = arg("--calls", 100_000);
const RUNS = arg("--runs", 7);
const BUDGET_MS = arg("--budget-ms", 1000);
const ADMIN = "bench-admin-key";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/** N calls over the last 7 days: 90 % allowed, 4 % modified, 2 % blocked, 1 % denied, 3 % failed. */
async function fill(url, n) {
  const db = new Client({ connectionString: url });
  await db.connect();
  await db.query(`
    insert into calls (call_id, started_at, ended_at, last_event_at, model, key_id, owner, session_id, format, provider, route, stream,
      status, outcome, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, chunks_in, chunks_out, policy_actions, error_type,
      error_message, event_count, engine, chain, config_version, search_text)
    select 'bench-' || lpad(i::text, 7, '0'),
      t, t + (lat || ' ms')::interval, t + (lat || ' ms')::interval,
      (array['gpt-4o-mini', 'gpt-4.1', 'claude-sonnet-4-5', 'claude-haiku-4-5'])[1 + i % 4],
      'vk_' || lpad((i % 40)::text, 12, '0'), 'team-' || (i % 7), 'session-' || (i / 25), 'openai', 'openai', '/v1/chat/completions', i % 3 = 0,
      case when v = 'failed' then 502 when v = 'denied' then 400 else 200 end,
      case when v = 'failed' then 'error' when v = 'denied' then 'denied' else 'ok' end,
      lat, case when i % 3 = 0 then lat / 4 else null end, 200 + i % 900, 50 + i % 400, (i % 1000) / 100000.0, 20, 20,
      case v when 'modified' then array['secret-redaction.redacted'] when 'blocked' then array['dangerous-commands.blocked']
        when 'denied' then array['regex-filter.blocked'] else array[]::text[] end,
      case when v = 'failed' then 'upstream_error' end, case when v = 'failed' then 'provider answered 502' end,
      7, 'engine-' || (i % 3), 'default', '0123456789ab',
      'bench-' || i || ' gpt-4o-mini write a haiku about load testing number ' || i
    from (
      select i, now() - (i * (7 * 86400000.0 / ${n}) || ' ms')::interval as t, 40 + (i * 7919) % 3000 as lat,
        case when i % 100 < 90 then 'allowed' when i % 100 < 94 then 'modified' when i % 100 < 96 then 'blocked'
          when i % 100 < 97 then 'denied' else 'failed' end as v
      from generate_series(1, ${n}) as i
    ) g`);
  await db.query(`
    insert into events (id, call_id, seq, type, source, time, data)
    select gen_random_uuid(), call_id, 1, 'policy.' || policy_actions[1], 'control-plane', started_at,
      case when policy_actions[1] = 'dangerous-commands.blocked'
        then json_build_object('tool', 'Bash', 'id', 'toolu_1', 'reason', 'recursive delete: "rm -rf /"')
        else json_build_object('side', 'response', 'kinds', json_build_object('aws_access_key', 1)) end
    from calls where cardinality(policy_actions) > 0`);
  await db.query("analyze");
  await db.end();
}

async function main() {
  const [nats, database] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  let monitor;
  let browser;
  let exitCode = 0;
  const profile = mkdtempSync(path.join(tmpdir(), "luthien-bench-chromium-"));
  try {
    // Started once first, so its migrations make the schema the rows go into.
    monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: database.url, ADMIN_API_KEY: ADMIN, LOG_LEVEL: "warn" } });
    const t0 = Date.now();
    await fill(database.url, CALLS);
    console.log(`stored ${CALLS} calls in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const auth = { authorization: `Bearer ${ADMIN}` };
    const queries = {
      "list, first page": "/api/calls?limit=50",
      "list, verdict=blocked,denied": "/api/calls?limit=50&verdict=blocked,denied",
      "list, policy=dangerous-commands": "/api/calls?limit=50&policy=dangerous-commands",
      "list, sort=latency": "/api/calls?limit=50&sort=latency",
      "list, model + key": "/api/calls?limit=50&model=gpt-4.1&keyId=vk_000000000005",
      "list, text search": "/api/calls?limit=50&q=number%2099999",
      facets: "/api/facets",
      "dashboard, 7 days": `/api/dashboard?from=${new Date(Date.now() - 7 * 86400e3).toISOString()}`,
    };
    console.log(`\nAPI, ${RUNS} runs each (ms)          median     max`);
    for (const [name, q] of Object.entries(queries)) {
      const times = [];
      for (let r = 0; r < RUNS; r++) {
        const t = performance.now();
        const res = await fetch(monitor.url + q, { headers: auth });
        if (!res.ok) throw new Error(`${q}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        times.push(performance.now() - t);
      }
      console.log(
        `  ${name.padEnd(34)} ${median(times).toFixed(1).padStart(7)} ${Math.max(...times)
          .toFixed(1)
          .padStart(7)}`,
      );
    }

    const { chromium } = require(require.resolve("playwright-core", { paths: [path.join(root, "services/monitor")] }));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(monitor.url);
    await page.locator("#login-key").fill(ADMIN);
    await page.locator("#login-form button[type=submit]").click();
    await page.locator("#calls-body tr").nth(49).waitFor({ timeout: 30_000 });
    const loads = [];
    for (let r = 0; r < RUNS; r++) {
      await page.goto("about:blank");
      await page.goto(monitor.url + "/#/");
      await page.locator("#calls-body tr").nth(49).waitFor({ timeout: 30_000 });
      // From navigation start to the 50th row in the page, as the browser timed it.
      loads.push(await page.evaluate("performance.now()"));
    }
    const med = median(loads);
    console.log(
      `\npage load, call list with ${CALLS} calls (navigation start → 50 rows shown), ${RUNS} runs: median ${med.toFixed(0)} ms, max ${Math.max(...loads).toFixed(0)} ms (budget ${BUDGET_MS} ms)`,
    );
    if (med > BUDGET_MS) {
      console.log("over budget");
      exitCode = 1;
    }
  } finally {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
    await monitor?.stop();
    await database.drop();
    await nats.dispose();
  }
  process.exit(exitCode);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
