import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { freePort } from "./nats";

/** A database of the test's own on the shared PostgreSQL server. */
export interface TestDatabase {
  /** `postgres://…/<name>`, for `DATABASE_URL` or a `pg` client. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, disconnecting whoever is still connected. Idempotent. */
  drop(): Promise<void>;
}

/** Options of {@link createTestDatabase}. */
export interface TestDatabaseOptions {
  /**
   * A URL of the server's maintenance database, with a role that may create databases.
   * @default `TEST_DATABASE_ADMIN_URL` or "postgres://postgres@127.0.0.1:5432/postgres"
   */
  adminUrl?: string;
}

function psql(adminUrl: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`psql failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/**
 * Creates `luthien_test_<random>` on the shared server (through `psql`, so the testkit needs no driver) and
 * returns its URL. Every test file gets a fresh, empty database; `drop()` it in `afterAll`.
 * @throws when psql is missing or the server refuses
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? process.env["TEST_DATABASE_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `luthien_test_${randomBytes(6).toString("hex")}`;
  await psql(adminUrl, `CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  /**
   * The directory holding `initdb` and `postgres`.
   * @default `PG_BIN_DIR`, else the newest `/usr/lib/postgresql/<version>/bin`, else whatever PATH finds
   */
  binDir?: string;
  /** How long to wait for "ready to accept connections". @default 30000 */
  startTimeoutMs?: number;
}

/** How {@link RunningPostgres.stop} shuts the server down (PostgreSQL's own modes). */
export type PostgresStopMode =
  /** SIGTERM: waits for every client to disconnect. */
  | "smart"
  /** SIGINT: ends every session at once with 57P01 `admin_shutdown`, as `pg_ctl restart` does by default. */
  | "fast"
  /** SIGQUIT: no shutdown checkpoint, crash recovery at the next start (a crash, short of losing the machine). */
  | "immediate";

/** A PostgreSQL server of the test's own (its own cluster in a temp dir, on a free port), to stop and restart. */
export interface RunningPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth): a maintenance URL for {@link createTestDatabase}. */
  readonly url: string;
  readonly port: number;
  /** The cluster's data directory (kept across restarts). */
  readonly dataDir: string;
  /** Everything the server printed since its last start. */
  output(): string;
  /** Whether the server process runs now. */
  running(): boolean;
  /** Stops the server and waits for it to exit. Idempotent. @param mode @default "fast" */
  stop(mode?: PostgresStopMode): Promise<void>;
  /** Starts it again on the same port with the same data (a no-op when it runs). */
  start(): Promise<void>;
  /** stop(mode), wait `downMs`, start(). */
  restart(options?: { mode?: PostgresStopMode; downMs?: number }): Promise<void>;
  /** Stops the server and deletes its cluster. */
  dispose(): Promise<void>;
}

function postgresBinDir(explicit: string | undefined): string {
  const dir = explicit ?? process.env["PG_BIN_DIR"];
  if (dir !== undefined && dir !== "") return dir;
  try {
    const versions = readdirSync("/usr/lib/postgresql")
      .filter((v) => existsSync(path.join("/usr/lib/postgresql", v, "bin", "postgres")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return path.join("/usr/lib/postgresql", versions[0], "bin");
  } catch {
    // No Debian layout: rely on PATH.
  }
  return "";
}

/** PostgreSQL refuses to run as root: under root, the cluster belongs to the `postgres` account. */
function postgresAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("running as root, and there is no postgres account to run PostgreSQL as");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Creates a cluster with `initdb` in a temp dir and runs `postgres` on a free port of 127.0.0.1 (trust auth, no
 * Unix socket, fsync off: a crash of the server loses nothing, a crash of the machine would). Tests that stop,
 * restart or crash PostgreSQL use their own server, never the shared one on 5432. Under root, the cluster is owned
 * by and runs as the `postgres` account.
 * @throws when initdb fails, or the server exits or stays silent past the start timeout; the error carries its output
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<RunningPostgres> {
  const binDir = postgresBinDir(options.binDir);
  const bin = (name: string): string => (binDir === "" ? name : path.join(binDir, name));
  const account = postgresAccount();
  const root = mkdtempSync(path.join(tmpdir(), "luthien-pg-"));
  if (account !== undefined) chownSync(root, account.uid, account.gid);
  const dataDir = path.join(root, "data");
  const spawnOptions = { cwd: root, ...(account ?? {}) };

  await new Promise<void>((resolve, reject) => {
    execFile(bin("initdb"), ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], { ...spawnOptions, timeout: 60_000 }, (err, stdout, stderr) =>
      err !== null ? reject(new Error(`initdb failed: ${err.message}\n${stdout}${stderr}`)) : resolve(),
    );
  }).catch((err: unknown) => {
    rmSync(root, { recursive: true, force: true });
    throw err;
  });

  const port = await freePort();
  let child: ChildProcess | undefined;
  let out = "";
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

  const start = (): Promise<void> => {
    if (running()) return Promise.resolve();
    const args = ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=100"];
    const c = spawn(bin("postgres"), args, { ...spawnOptions, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    out = "";
    c.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    c.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
    return new Promise((resolve, reject) => {
      const timeoutMs = options.startTimeoutMs ?? 30_000;
      const done = (err?: Error): void => {
        clearTimeout(timer);
        c.off("exit", onExit);
        c.stderr!.off("data", check);
        c.stdout!.off("data", check);
        if (err !== undefined) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        c.kill("SIGQUIT");
        done(new Error(`postgres did not start within ${timeoutMs} ms:\n${out}`));
      }, timeoutMs);
      const onExit = (code: number | null): void => done(new Error(`postgres exited (code ${code}) before it was ready:\n${out}`));
      const check = (): void => {
        if (/database system is ready to accept connections/.test(out)) done();
      };
      c.once("exit", onExit);
      c.once("error", (err) => done(new Error(`cannot run ${bin("postgres")}: ${err.message}`)));
      c.stderr!.on("data", check);
      c.stdout!.on("data", check);
    });
  };

  const SIGNALS: Record<PostgresStopMode, NodeJS.Signals> = { smart: "SIGTERM", fast: "SIGINT", immediate: "SIGQUIT" };
  const stop = async (mode: PostgresStopMode = "fast"): Promise<void> => {
    const c = child;
    if (c === undefined || !running()) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(SIGNALS[mode]);
    // A smart shutdown waits for clients for ever; past 10 s, any mode becomes immediate.
    const force = setTimeout(() => c.kill("SIGQUIT"), 10_000);
    await exited;
    clearTimeout(force);
  };

  // A crashed test run must not leave servers behind.
  const onProcessExit = (): void => {
    if (running()) child!.kill("SIGQUIT");
  };
  process.once("exit", onProcessExit);

  try {
    await start();
  } catch (err) {
    process.off("exit", onProcessExit);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    output: () => out,
    running,
    stop,
    start,
    restart: async ({ mode = "fast", downMs = 0 } = {}) => {
      await stop(mode);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    dispose: async () => {
      await stop("fast");
      process.off("exit", onProcessExit);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
