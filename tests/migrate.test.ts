/**
 * lib/db/migrate.ts on empty databases: records like Prisma Migrate, idempotent,
 * serialised by its lock, refuses edited and failed migrations; and
 * `npm run migrate` as a subprocess.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, MIGRATIONS_DIR, readMigrations } from "../lib/db/migrate.ts";
import { emptyDatabase, queryOnce as query } from "./helpers/db.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

async function database() {
  const db = await emptyDatabase();
  cleanups.push(db.drop);
  return db;
}

const recorded = (url: string) =>
  query<{ migration_name: string; checksum: string; finished: number; applied_steps_count: number; logs: string | null }[]>(
    url,
    "SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, applied_steps_count, logs FROM _prisma_migrations ORDER BY migration_name",
  );

/** A migrations directory holding `files` as <name>/migration.sql. */
function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "obd2-migrations-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("migrate", () => {
  test("the first run should apply every migration and record it as Prisma Migrate does", async () => {
    const { url } = await database();
    const names = readMigrations().map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);
    expect(await migrate(url)).toEqual(names);
    expect(await recorded(url)).toEqual(
      names.map((name) => ({
        migration_name: name,
        checksum: sha256(join(MIGRATIONS_DIR, name, "migration.sql")),
        finished: 1,
        applied_steps_count: 1,
        logs: null,
      })),
    );
  });

  test("a second run should apply nothing", async () => {
    const { url } = await database();
    await migrate(url);
    const before = await recorded(url);
    expect(await migrate(url)).toEqual([]);
    expect(await recorded(url)).toEqual(before);
  });

  test("a new migration should be applied on the next run, after the old ones", async () => {
    const { url } = await database();
    const dir = migrationsDir({ "001_a": "CREATE TABLE a (id INT PRIMARY KEY);" });
    expect(await migrate(url, dir)).toEqual(["001_a"]);
    mkdirSync(join(dir, "002_b"));
    writeFileSync(join(dir, "002_b", "migration.sql"), "CREATE TABLE b (id INT PRIMARY KEY);\nINSERT INTO b VALUES (1), (2);");
    expect(await migrate(url, dir)).toEqual(["002_b"]);
    expect(await query(url, "SELECT COUNT(*) AS n FROM b")).toEqual([{ n: 2n }]);
  });

  test("two concurrent runs on an empty database should both succeed and record each migration once", async () => {
    const { url } = await database();
    const [first, second] = await Promise.all([migrate(url), migrate(url)]);
    expect([...first!, ...second!].sort()).toEqual(readMigrations().map((m) => m.name));
    const rows = await recorded(url);
    expect(rows.map((r) => r.migration_name)).toEqual(readMigrations().map((m) => m.name));
    expect(rows.every((r) => r.finished === 1)).toBe(true);
  });

  test("a migration changed after it was applied should be refused, naming it", async () => {
    const { url } = await database();
    const dir = migrationsDir({ "001_a": "CREATE TABLE a (id INT PRIMARY KEY);", "002_b": "CREATE TABLE b (id INT PRIMARY KEY);" });
    await migrate(url, dir);
    const file = join(dir, "002_b", "migration.sql");
    const applied = sha256(file);
    writeFileSync(file, "CREATE TABLE b (id BIGINT PRIMARY KEY);");
    mkdirSync(join(dir, "003_c"));
    writeFileSync(join(dir, "003_c", "migration.sql"), "CREATE TABLE c (id INT PRIMARY KEY);");
    await expect(migrate(url, dir)).rejects.toThrow(
      `migration 002_b was changed after it was applied (checksum ${applied} in the database, ${sha256(file)} on disk); add a new migration instead`,
    );
    // Nothing after the changed migration ran.
    expect(await query(url, "SHOW TABLES LIKE 'c'")).toEqual([]);
  });

  test("a failed migration should be recorded unfinished with its error, and block later runs", async () => {
    const { url } = await database();
    const dir = migrationsDir({
      "001_ok": "CREATE TABLE ok (id INT PRIMARY KEY);",
      "002_bad": "CREATE TABLE half (id INT PRIMARY KEY);\nCREATE TABLE ok (id INT PRIMARY KEY);",
      "003_next": "CREATE TABLE next (id INT PRIMARY KEY);",
    });
    const failure = "migration 002_bad failed: (conn:";
    await expect(migrate(url, dir)).rejects.toThrow(failure);
    const rows = await recorded(url);
    expect(rows.map((r) => [r.migration_name, r.finished, r.applied_steps_count])).toEqual([
      ["001_ok", 1, 1],
      ["002_bad", 0, 0],
    ]);
    expect(rows[1]!.logs).toContain("Table 'ok' already exists");

    await expect(migrate(url, dir)).rejects.toThrow(`migration 002_bad failed earlier and must be resolved by hand before others can run:\n${rows[1]!.logs}`);
    expect(await query(url, "SHOW TABLES LIKE 'next'")).toEqual([]);
  });
});

describe("npm run migrate", () => {
  function npmMigrate(databaseUrl: string) {
    const run = Bun.spawnSync(["npm", "run", "--silent", "migrate"], {
      cwd: join(import.meta.dir, ".."),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl },
    });
    return { code: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
  }

  test("should apply pending migrations, then report the database up to date", async () => {
    const { url } = await database();
    const names = readMigrations().map((m) => m.name);
    expect(npmMigrate(url)).toMatchObject({ code: 0, stdout: `Applied: ${names.join(", ")}\n` });
    expect(npmMigrate(url)).toMatchObject({ code: 0, stdout: "Database is up to date.\n" });
    expect((await recorded(url)).map((r) => r.migration_name)).toEqual(names);
  });

  test("an unreachable database should fail with Error: and exit 1", async () => {
    const run = npmMigrate("mysql://nobody:nothing@127.0.0.1:1/obd2");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: .*connect ECONNREFUSED 127\.0\.0\.1:1/m);
  });

  test("an invalid DATABASE_URL should be named, exit 1", () => {
    const run = npmMigrate("postgres://u@h/db");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "Error: Invalid configuration (environment or .env):\n  DATABASE_URL: must be a mysql:// URL, e.g. mysql://user:pass@127.0.0.1:3306/obd2\n",
    );
  });
});
