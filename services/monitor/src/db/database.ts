import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { migrate as migrateNodePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { Pool } from "pg";
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

/** The committed drizzle-kit migrations: `services/monitor/drizzle`, next to `dist/` and `src/`. */
export const MIGRATIONS_FOLDER = path.resolve(__dirname, "..", "..", "drizzle");

/**
 * Opens the database and applies the migrations (drizzle's migrator, the same folder for both drivers; a no-op
 * when up to date).
 * @throws DatabaseStartError when it cannot connect or a migration fails
 */
export async function openDatabase(config: DatabaseConfig): Promise<MonitorDatabase> {
  if (config.kind === "postgres") {
    const pool = new Pool({
      connectionString: config.url,
      max: config.poolSize ?? 5,
      // A database that does not answer must not hang /ready, a batch or shutdown for ever: the batch fails and is
      // retried instead.
      connectionTimeoutMillis: 5000,
      query_timeout: 30_000,
    });
    // An idle client losing its server emits 'error' on the pool; without a listener that kills the process.
    pool.on("error", () => {});
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
