import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createTestDatabase, REPO_ROOT, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import { ADMIN_KEY, AUTH } from "./helpers";

/**
 * `pnpm luthien replay` over a day of real calls: made with the official SDKs through gateway, engine and mock,
 * stored by a real monitor (PostgreSQL, then PGlite), some labelled through its API; the CLI's counts and
 * precision/recall per policy are checked against counts worked out by hand, and the provider is never called.
 */

const run = promisify(execFile);
const bash = (command: string) => ({ name: "Bash", arguments: JSON.stringify({ command }) });
const query = (sql: string) => ({ name: "Query", arguments: JSON.stringify({ sql }) });

/** The calls, what the candidate does to each (worked out by hand), and the label each gets (or none). */
const CALLS = [
  { format: "openai", stream: false, script: { text: "ok", toolCalls: [bash("rm -rf /")] }, label: "should_block" }, // dc blocks
  { format: "openai", stream: true, script: { text: "listing", toolCalls: [bash("ls -la")] }, label: "fine" }, // nothing
  { format: "anthropic", stream: true, script: { text: "cleaning", toolCalls: [bash("rm -rf ~")] }, label: "should_block" }, // dc blocks
  { format: "anthropic", stream: false, script: { text: "hello there" }, label: "fine" }, // nothing
  { format: "openai", stream: true, script: { text: "dropping", toolCalls: [query("DROP TABLE users")] }, label: "should_block" }, // sql-guard blocks
  { format: "anthropic", stream: true, script: { text: "status", toolCalls: [bash("git status")] }, label: "should_block" }, // nothing: missed by both
  { format: "openai", stream: false, script: { text: "done", toolCalls: [bash("echo done")] }, label: null }, // nothing, unlabelled
] as const;

const CANDIDATE = "policies:\n  - use: dangerous-commands\n  - use: sql-guard\n";

interface Report {
  calls: number;
  labelled: number;
  failed: unknown[];
  policies: {
    policy: string;
    changed: number;
    blocked: number;
    redacted: number;
    held: number;
    tp: number;
    fp: number;
    fn: number;
    tn: number;
    precision: number | null;
    recall: number | null;
    examples: { callId: string; before: string; after: string }[];
  }[];
  results: { callId: string; actions: string[]; changed: boolean; label: string | null }[];
}

describe.each(["postgres", "pglite"] as const)("pnpm luthien replay over calls stored in %s", (kind) => {
  let nats: RunningNats;
  let stack: Stack;
  let monitor: RunningService;
  let db: TestDatabase | undefined;
  const callIds: string[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    db = kind === "postgres" ? await createTestDatabase() : undefined;
    const database = db !== undefined ? { DATABASE_URL: db.url } : { MONITOR_DATA_DIR: mkdtempSync(path.join(tmpdir(), "luthien-replay-db-")) };
    monitor = await startService("monitor", { env: { NATS_URL: nats.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_CONSUMER: `replay-${kind}`, ...database }, startTimeoutMs: 30_000 });
    // What ran at the time: nothing but secret redaction.
    stack = await startStack({ natsUrl: nats.url, policies: "policies:\n  - use: secret-redaction\n" });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    const tools = {
      openai: [{ type: "function" as const, function: { name: "Bash", parameters: { type: "object" } } }],
      anthropic: [{ name: "Bash", input_schema: { type: "object" as const } }],
    };
    for (const c of CALLS) {
      await stack.mockControl.script(c.script);
      const messages = [{ role: "user" as const, content: "go" }];
      if (c.format === "openai") {
        if (c.stream) {
          const { data, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, tools: tools.openai, stream: true }).withResponse();
          for await (const _ of data);
          callIds.push(response.headers.get("x-luthien-call-id") ?? "");
        } else {
          const { response } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, tools: tools.openai }).withResponse();
          callIds.push(response.headers.get("x-luthien-call-id") ?? "");
        }
      } else if (c.stream) {
        const { data, response } = await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 100, messages, tools: tools.anthropic, stream: true }).withResponse();
        for await (const _ of data);
        callIds.push(response.headers.get("x-luthien-call-id") ?? "");
      } else {
        const { response } = await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 100, messages, tools: tools.anthropic }).withResponse();
        callIds.push(response.headers.get("x-luthien-call-id") ?? "");
      }
    }
    // Stored, with their responses.
    await waitFor(
      async () => {
        const res = await fetch(`${monitor.url}/api/replay/calls?from=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`, { headers: AUTH });
        if (!res.ok) return false;
        const body = (await res.json()) as { calls: { callId: string; response: unknown; finalResponse: unknown }[] };
        return callIds.every((id) => body.calls.some((c) => c.callId === id && c.response !== null && c.finalResponse !== null));
      },
      { timeoutMs: 30_000, what: "the calls stored with their responses" },
    );
    for (const [i, c] of CALLS.entries()) {
      if (c.label === null) continue;
      const res = await fetch(`${monitor.url}/api/calls/${callIds[i]}/label`, {
        method: "PUT",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ label: c.label }),
      });
      expect(res.status).toBeLessThan(300);
    }
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await monitor?.stop();
    await db?.drop();
    await nats?.dispose();
  });

  it("counts per policy and precision/recall match the hand-worked figures; no provider call", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "luthien-candidate-"));
    const file = path.join(dir, "candidate.yaml");
    writeFileSync(file, CANDIDATE);
    const providerCalls = (await stack.mockControl.requests()).length;
    const { stdout } = await run("node", [path.join(REPO_ROOT, "scripts", "luthien.js"), "replay", "--since", "1h", "--policies", file, "--json"], {
      env: { ...process.env, MONITOR_URL: monitor.url, ADMIN_API_KEY: ADMIN_KEY },
      maxBuffer: 32 * 1024 * 1024,
    });
    const report = JSON.parse(stdout) as Report;
    expect((await stack.mockControl.requests()).length).toBe(providerCalls);
    expect(report).toMatchObject({ calls: 7, labelled: 6, failed: [] });
    const dc = report.policies.find((p) => p.policy === "dangerous-commands");
    const sql = report.policies.find((p) => p.policy === "sql-guard");
    // dangerous-commands: flags calls 1 and 3 (both should_block); misses 5 and 6; 2 and 4 fine.
    expect(dc).toMatchObject({ changed: 2, blocked: 2, tp: 2, fp: 0, fn: 2, tn: 2, precision: 1, recall: 0.5 });
    // sql-guard: flags call 5; misses 1, 3 and 6.
    expect(sql).toMatchObject({ changed: 1, blocked: 1, tp: 1, fp: 0, fn: 3, tn: 2, precision: 1, recall: 0.25 });
    // The examples are the flagged calls, diffed against what the client got: the tool call gone, the block text in.
    expect(dc?.examples.map((e) => e.callId).sort()).toEqual([callIds[0], callIds[2]].sort());
    for (const e of dc?.examples ?? []) {
      expect(e.before).toMatch(/rm -rf/);
      expect(e.after).toContain("BLOCKED by dangerous-commands");
    }
    expect(
      report.results
        .filter((r) => r.changed)
        .map((r) => r.callId)
        .sort(),
    ).toEqual([callIds[0], callIds[2], callIds[4]].sort());
    // Stored in the monitor's replay reports.
    const list = (await (await fetch(`${monitor.url}/api/replays`, { headers: AUTH })).json()) as unknown;
    expect(JSON.stringify(list)).toContain('"calls":7');
  }, 60_000);

  it("prints a readable table, and --labelled replays only labelled calls", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "luthien-candidate-"));
    const file = path.join(dir, "candidate.yaml");
    writeFileSync(file, CANDIDATE);
    const { stdout } = await run("node", [path.join(REPO_ROOT, "scripts", "luthien.js"), "replay", "--since", "1h", "--policies", file, "--labelled", "--no-upload"], {
      env: { ...process.env, MONITOR_URL: monitor.url, ADMIN_API_KEY: ADMIN_KEY },
    });
    expect(stdout).toContain("replay of 6 calls (6 labelled)");
    expect(stdout).toMatch(/dangerous-commands\s+2\s+2\s+0\s+0\s+0\s+1\.00\s+0\.50\s+2\/0\/2\/2/);
    expect(stdout).toMatch(/sql-guard\s+1\s+1\s+0\s+0\s+0\s+1\.00\s+0\.25\s+1\/0\/3\/2/);
  }, 60_000);
});
