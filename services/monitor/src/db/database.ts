import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { setFlagsFromString } from "node:v8";
import type { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Logger } from "@luthien/runtime";
import type { PoolClient } from "pg";
import { DatabaseStartError } from "../errors";
import * as schema from "./schema";

/** The drizzle database, the same type over `pg` and PGlite. */
export type MonitorDb = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Where the monitor keeps its data. */
export type DatabaseConfig =
  /** A PostgreSQL server (`DATABASE_URL`). */
  | { kind: "postgres"; url: string; poolSize?: number }
  /**
   * Embedded PGlite persisted in `dataDir` (created when missing, by a child process); `dataDir` undefined = in
   * memory, for tests (initdb then runs in this process, whose RSS keeps its ~450 MiB). `optimize`
   * (`MONITOR_PGLITE_OPTIMIZE`) lets V8 optimise PGlite's hot WASM code: large scans ~3x faster for ~80 MiB more
   * RSS, process-wide. @default false
   */
  | { kind: "pglite"; dataDir: string | undefined; optimize?: boolean };

/** An open, migrated database. */
export interface MonitorDatabase {
  readonly db: MonitorDb;
  readonly kind: "postgres" | "pglite";
  /** Resolves true when a trivial query answers within `timeoutMs`. Never rejects. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Where lost connections are reported (once per outage, not per client). @default silent */
  logger?: Logger;
}

// SQLSTATE classes that say "the database (or the connection to it) is away or busy", never "this data is wrong":
// 08 connection exception, 40 transaction rollback (serialization, deadlock), 53 insufficient resources,
// 57 operator intervention (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 57014 canceled),
// 58 system error (I/O).
const TRANSIENT_SQLSTATE_CLASSES = new Set(["08", "40", "53", "57", "58"]);
const TRANSIENT_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Connection ended|connection error|ECONNREFUSED|ECONNRESET/i;

/**
 * Whether a driver error means "the database is unreachable or going away, try again later" rather than "the
 * database refuses this data". A batch that failed transiently is retried whole; only a refusal while the
 * database answers may make a message a dead letter.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      // A Node socket error (ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, EAI_AGAIN, ...): no SQLSTATE
      // class begins with E.
      if (/^E[A-Z_]+$/.test(code)) return true;
      if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
    }
    if (e instanceof Error && TRANSIENT_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** The driver's own message under drizzle's "Failed query: …" wrapper (which repeats the statement). */
export function rootCauseMessage(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error && e.cause instanceof Error; depth++) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** The committed drizzle-kit migrations: `services/monitor/drizzle`, next to `dist/` and `src/`. */
export const MIGRATIONS_FOLDER = path.resolve(__dirname, "..", "..", "drizzle");

// Each driver is loaded only when it is used (`require` below, types imported above): a monitor on PGlite never
// loads pg and drizzle's node-postgres driver, one on PostgreSQL never loads PGlite (measured: ~4 MiB of RSS).

/**
 * PostgreSQL settings of the embedded database, on top of PGlite's own (single-user mode, no parallel workers).
 * They are command-line settings, so they also apply to a data directory an older monitor created (its
 * postgresql.conf says 128MB).
 *
 * PGlite's WASM heap only grows, and each page Postgres touches in it stays resident for the life of the process:
 * - `shared_buffers` 16MB instead of initdb's 128MB, which Postgres touches in full at start (measured: ~150 MiB
 *   of RSS with 128MB, ~30 MiB with 16MB). PGlite reads the data files through Node's fs, so a buffer miss is a
 *   copy from the OS page cache, not a disk read; the monitor's hot set (the newest `calls` rows, the tail of
 *   `events`, their index pages) fits. With 10k stored calls the call list and search queries took the same time
 *   as with 128MB; only `/api/stats` (a count over every event) is slower.
 */
const PGLITE_SETTINGS: readonly string[] = ["-c", "shared_buffers=16MB"];

/**
 * Keeps V8 from optimising PGlite's WASM functions with TurboFan. V8 compiles them with its baseline compiler
 * (Liftoff) on first call and recompiles the hot ones with TurboFan on background threads; those compilations'
 * working memory stays in glibc's per-thread arenas after they finish, ~80 MiB of RSS at start and more as other
 * queries get hot. Without them, queries that scan many rows in WASM (a `q` search over every call) take about 3x as
 * long; ingest and indexed queries barely change. The flag is process-wide and is read whenever V8 compiles a
 * WASM function, so it is set before PGlite compiles its module.
 */
function keepPgliteUnoptimised(): void {
  setFlagsFromString("--liftoff-only");
}

/** How long creating a new embedded database may take before the start fails. */
const PGLITE_INIT_TIMEOUT_MS = 120_000;

// The child that runs initdb: argv = [pglite entry, data dir, JSON start params]. It exits 0 only after the new
// database is closed (flushed to the directory).
const PGLITE_INIT_SCRIPT = `
const [entry, dataDir, params] = process.argv.slice(1);
require(entry).PGlite.create({ dataDir, startParams: JSON.parse(params) })
  .then((pg) => pg.close())
  .then(() => process.exit(0), (err) => { process.stderr.write(String((err && err.stack) || err)); process.exit(1); });
`;

/**
 * Creates a new PGlite database in `dataDir` in a short-lived child process. PGlite runs initdb in a second
 * PostgreSQL instance (and initdb's own WASM module) next to the one it opens, and their ~450 MiB of WASM memory
 * and compiled code would stay in this process until a full GC that an idle monitor never triggers; a child
 * returns all of it to the OS when it exits. The monitor then opens the directory like an existing one.
 * @throws Error with the child's stderr when it fails or takes longer than {@link PGLITE_INIT_TIMEOUT_MS}
 */
async function initPgliteDataDir(dataDir: string, startParams: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, ["-e", PGLITE_INIT_SCRIPT, require.resolve("@electric-sql/pglite"), dataDir, JSON.stringify(startParams)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    // The end of a stack trace says enough; a runaway child cannot fill the monitor's memory.
    stderr = (stderr + d).slice(-4000);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), PGLITE_INIT_TIMEOUT_MS);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (c, s) => resolve([c, s]));
    });
    if (code !== 0) {
      const why = signal === "SIGKILL" ? `no answer within ${PGLITE_INIT_TIMEOUT_MS} ms` : signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      throw new Error(`initdb failed (${why})${stderr !== "" ? `: ${stderr.trim()}` : ""}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens the database and applies the migrations (drizzle's migrator, the same folder for both drivers; a no-op
 * when up to date).
 * @throws DatabaseStartError when it cannot connect or a migration fails
 */
export async function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<MonitorDatabase> {
  if (config.kind === "postgres") {
    const { Pool } = require("pg") as typeof import("pg");
    const { drizzle: drizzleNodePg } = require("drizzle-orm/node-postgres") as typeof import("drizzle-orm/node-postgres");
    const { migrate: migrateNodePg } = require("drizzle-orm/node-postgres/migrator") as typeof import("drizzle-orm/node-postgres/migrator");
    const pool = new Pool({
      connectionString: config.url,
      max: config.poolSize ?? 5,
      // A database that does not answer must not hang /ready, a batch or shutdown for ever: the batch fails and is
      // retried instead.
      connectionTimeoutMillis: 5000,
      query_timeout: 30_000,
      // A server that vanished without closing the socket (a network partition) is noticed, not waited on.
      keepAlive: true,
    });
    // A server going away (a restart sends 57P01 admin_shutdown to every session, then closes) makes each of its
    // clients emit 'error': an idle one through the pool, a checked-out one (inside a transaction, between two
    // statements) on the client itself. An 'error' without a listener kills the process, so every client gets one
    // as it connects. The client is then unusable and pg-pool discards it on release; the batch that was using it
    // fails and the consumer retries it with backoff on fresh connections, acking only after a commit.
    let outage = false;
    const lost = (err: Error): void => {
      if (outage) return;
      outage = true;
      options.logger?.warn("lost a database connection; batches are retried on new connections", { error: err.message, code: (err as { code?: string }).code });
    };
    pool.on("error", lost);
    pool.on("connect", (client: PoolClient) => {
      client.on("error", lost);
      if (outage) {
        outage = false;
        options.logger?.info("connected to the database again");
      }
    });
    const db = drizzleNodePg({ client: pool, schema });
    try {
      await migrateNodePg(db, { migrationsFolder: MIGRATIONS_FOLDER });
    } catch (err) {
      await pool.end().catch(() => {});
      throw new DatabaseStartError(`cannot migrate the PostgreSQL database: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return {
      db: db as unknown as MonitorDb,
      kind: "postgres",
      ping: (timeoutMs) => ping(db as unknown as MonitorDb, timeoutMs),
      close: () => pool.end(),
    };
  }
  if (config.optimize !== true) keepPgliteUnoptimised();
  const { PGlite } = require("@electric-sql/pglite") as typeof import("@electric-sql/pglite");
  const { drizzle: drizzlePglite } = require("drizzle-orm/pglite") as typeof import("drizzle-orm/pglite");
  const { migrate: migratePglite } = require("drizzle-orm/pglite/migrator") as typeof import("drizzle-orm/pglite/migrator");
  const startParams = [...PGlite.defaultStartParams, ...PGLITE_SETTINGS];
  let client: PGlite;
  try {
    if (config.dataDir !== undefined) {
      mkdirSync(config.dataDir, { recursive: true });
      if (!existsSync(path.join(config.dataDir, "PG_VERSION"))) await initPgliteDataDir(config.dataDir, startParams);
      client = await PGlite.create({ dataDir: config.dataDir, startParams });
    } else {
      client = await PGlite.create({ startParams });
    }
  } catch (err) {
    throw new DatabaseStartError(`cannot open the embedded database in ${config.dataDir ?? "memory"} (is another monitor using it?): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const db = drizzlePglite({ client, schema });
  try {
    await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (err) {
    await client.close().catch(() => {});
    throw new DatabaseStartError(`cannot migrate the embedded database: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return {
    db: db as unknown as MonitorDb,
    kind: "pglite",
    ping: (timeoutMs) => ping(db as unknown as MonitorDb, timeoutMs),
    close: () => client.close(),
  };
}

async function ping(db: MonitorDb, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([
      db.execute(sql`select 1`).then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
