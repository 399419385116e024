import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";

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
