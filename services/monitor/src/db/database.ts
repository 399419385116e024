import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { migrate as migrateNodePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type { Logger } from "@luthien/runtime";
import { Pool, type PoolClient } from "pg";
import { DatabaseStartError } from "../errors";
import * as schema from "./schema";

/** The drizzle database, the same type over `pg` and PGlite. */
export type MonitorDb = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Where the monitor keeps its data. */
export type DatabaseConfig =
  /** A PostgreSQL server (`DATABASE_URL`). */
  | { kind: "postgres"; url: string; poolSize?: number }
  /** Embedded PGlite persisted in `dataDir` (created when missing); `dataDir` undefined = in memory. */
  | { kind: "pglite"; dataDir: string | undefined };

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
const TRANSIENT_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Connection ended|connection error|ECONNREFUSED|ECONNRESET/i;

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

/**
 * Opens the database and applies the migrations (drizzle's migrator, the same folder for both drivers; a no-op
 * when up to date).
 * @throws DatabaseStartError when it cannot connect or a migration fails
 */
export async function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<MonitorDatabase> {
  if (config.kind === "postgres") {
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
  if (config.dataDir !== undefined) mkdirSync(config.dataDir, { recursive: true });
  let client: PGlite;
  try {
    client = config.dataDir !== undefined ? await PGlite.create({ dataDir: config.dataDir }) : await PGlite.create();
  } catch (err) {
    throw new DatabaseStartError(
      `cannot open the embedded database in ${config.dataDir ?? "memory"} (is another monitor using it?): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
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
    return await Promise.race([db.execute(sql`select 1`).then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
