import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT, startNats, waitFor, type RunningNats } from "@luthien/testkit";
import { checkoutRoot, resolveDataDir } from "../src/index";
import { ADMIN_KEY, createPublishers, getJson, GATEWAY_EVENTS_PER_CALL, publishCall, type Stats } from "./helpers";

// One PGlite directory however the monitor is started: `pnpm start` runs services/monitor/dist/main.js from the
// repository root, `pnpm --filter @luthien/monitor start` runs it from services/monitor. A relative
// MONITOR_DATA_DIR (the default `.luthien/monitor-db` is one) is taken from the checkout root in both.

let nats: RunningNats;
let pubs: ReturnType<typeof createPublishers>;
// Relative, like the default, but of this test's own: the developer's .luthien/monitor-db stays untouched.
const relative = path.join(".luthien", `test-monitor-db-${randomBytes(4).toString("hex")}`);
const absolute = path.join(REPO_ROOT, relative);
const hadLuthienDir = existsSync(path.join(REPO_ROOT, ".luthien"));

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  pubs = createPublishers(nats.url);
});

afterAll(async () => {
  await pubs?.close();
  await nats?.dispose();
  rmSync(absolute, { recursive: true, force: true });
  if (!hadLuthienDir) rmSync(path.join(REPO_ROOT, ".luthien"), { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Runs a monitor the way an operator does (a command in a working directory) and reads its log. */
function run(command: string, args: string[], cwd: string): Promise<Started> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("JEST") && k !== "NODE_OPTIONS") env[k] = v;
  delete env["DATABASE_URL"];
  Object.assign(env, { MONITOR_PORT: "0", NATS_URL: nats.url, ADMIN_API_KEY: ADMIN_KEY, MONITOR_DATA_DIR: relative, LOG_LEVEL: "info" });
  // Its own process group, so that pnpm, its shell and the monitor under them stop together.
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, "SIGTERM");
    const force = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 10_000);
    await exited;
    // pnpm may exit before the monitor under it has closed the database: wait for the whole group to be gone.
    await waitFor(
      () => {
        try {
          process.kill(-child.pid!, 0);
          return false;
        } catch {
          return true;
        }
      },
      { timeoutMs: 12_000, what: "every process of the group to exit" },
    );
    clearTimeout(force);
  };
  return waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`${command} ${args.join(" ")} exited (${child.exitCode}):\n${out}`);
      const port = /listening\b.*\bport=(\d+)/.exec(out);
      const dir = /opening database kind=pglite dataDir=(\S+)/.exec(out);
      return port !== null && dir !== null ? { child, url: `http://127.0.0.1:${port[1]}`, dataDir: dir[1]!, stop } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: `${command} ${args.join(" ")} listening` },
  ).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
}

describe("monitor PGlite data directory", () => {
  it("defaults to .luthien/monitor-db under the checkout root, whatever the working directory", () => {
    expect(checkoutRoot()).toBe(REPO_ROOT);
    expect(resolveDataDir(undefined)).toBe(path.join(REPO_ROOT, ".luthien", "monitor-db"));
    expect(resolveDataDir("")).toBe(path.join(REPO_ROOT, ".luthien", "monitor-db"));
    expect(resolveDataDir("/data/monitor-db")).toBe("/data/monitor-db");
    expect(resolveDataDir("db", undefined)).toBe(path.resolve(process.cwd(), "db"));
  });

  it("is the same directory for `pnpm --filter @luthien/monitor start` and for `pnpm start`'s way of running it", async () => {
    // `pnpm --filter`: pnpm runs the package's start script in services/monitor.
    const filtered = await run("pnpm", ["--filter", "@luthien/monitor", "start"], REPO_ROOT);
    try {
      expect(filtered.dataDir).toBe(absolute);
      for (let i = 0; i < 3; i++) publishCall(pubs, { callId: `dir-${i}` });
      await pubs.flush();
      await waitFor(async () => (await getJson<Stats>(`${filtered.url}/api/stats`)).events === 3 * GATEWAY_EVENTS_PER_CALL, {
        timeoutMs: 20_000,
        what: "the events stored",
      });
    } finally {
      await filtered.stop();
    }
    // `pnpm start` (scripts/start.js) spawns node on the built main from the repository root; and some other
    // working directory for good measure. Both open the database the first one wrote.
    for (const cwd of [REPO_ROOT, tmpdir()]) {
      const direct = await run(process.execPath, [path.join(REPO_ROOT, "services", "monitor", "dist", "main.js")], cwd);
      try {
        expect(direct.dataDir).toBe(absolute);
        expect((await getJson<Stats>(`${direct.url}/api/stats`)).events).toBe(3 * GATEWAY_EVENTS_PER_CALL);
      } finally {
        await direct.stop();
      }
    }
  }, 120_000);
});
