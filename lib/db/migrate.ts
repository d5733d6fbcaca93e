/**
 * Applies prisma/migrations/<name>/migration.sql in name order and records
 * each in `_prisma_migrations` the way Prisma Migrate does (same table, same
 * advisory lock, checksum = sha256 of the file), so `prisma migrate deploy`
 * on a machine that has Prisma's engine agrees with what ran here.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as mariadb from "mariadb";
import { connectionOptions } from "./pools.ts";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

// Prisma's own DDL for its bookkeeping table on MySQL.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;

// The lock name Prisma Migrate takes, so our runs and its runs exclude each other.
const LOCK = "prisma_migrate";
const LOCK_WAIT_SECONDS = 120;

export type Migration = { name: string; sql: string; checksum: string };

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, "migration.sql"));
      return { name, sql: bytes.toString("utf8"), checksum: createHash("sha256").update(bytes).digest("hex") };
    });
}

type Applied = { migration_name: string; checksum: string; finished_at: string | null; logs: string | null };

/** Applies pending migrations; returns the names it applied. Throws on a changed or failed migration. */
export async function migrate(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const conn = await mariadb.createConnection({ ...connectionOptions(databaseUrl), multipleStatements: true });
  try {
    const [lock] = await conn.query("SELECT GET_LOCK(?, ?) AS got", [LOCK, LOCK_WAIT_SECONDS]);
    if (Number(lock.got) !== 1) throw new Error(`could not take the migration lock within ${LOCK_WAIT_SECONDS}s`);
    try {
      return await applyPending(conn, readMigrations(dir));
    } finally {
      await conn.query("SELECT RELEASE_LOCK(?)", [LOCK]);
    }
  } finally {
    await conn.end();
  }
}

async function applyPending(conn: mariadb.Connection, migrations: Migration[]): Promise<string[]> {
  await conn.query(CREATE_MIGRATIONS_TABLE);
  const rows: Applied[] = await conn.query(
    "SELECT migration_name, checksum, finished_at, logs FROM _prisma_migrations WHERE rolled_back_at IS NULL",
  );
  const applied = new Map(rows.map((r) => [r.migration_name, r]));
  const done: string[] = [];
  for (const m of migrations) {
    const prior = applied.get(m.name);
    if (prior && prior.finished_at === null) {
      throw new Error(
        `migration ${m.name} failed earlier and must be resolved by hand before others can run` +
          (prior.logs ? `:\n${prior.logs}` : ""),
      );
    }
    if (prior && prior.checksum !== m.checksum) {
      throw new Error(
        `migration ${m.name} was changed after it was applied (checksum ${prior.checksum} in the database, ${m.checksum} on disk); add a new migration instead`,
      );
    }
    if (prior) continue;
    const id = randomUUID();
    await conn.query(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, CURRENT_TIMESTAMP(3), 0)",
      [id, m.checksum, m.name],
    );
    try {
      await conn.query(m.sql);
    } catch (err) {
      await conn.query("UPDATE _prisma_migrations SET logs = ? WHERE id = ?", [String(err), id]);
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
    await conn.query(
      "UPDATE _prisma_migrations SET finished_at = CURRENT_TIMESTAMP(3), applied_steps_count = 1 WHERE id = ?",
      [id],
    );
    done.push(m.name);
  }
  return done;
}
