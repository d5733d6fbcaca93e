/** A fresh, migrated database per test file, on the run's MariaDB (see tests/setup.ts). */
import { randomBytes } from "node:crypto";
import * as mariadb from "mariadb";
import { connectionOptions, createDb, type Db } from "../../lib/db/pools.ts";
import { migrate } from "../../lib/db/migrate.ts";

export type TestDb = Db & { url: string; name: string; query<T = any>(sql: string, values?: unknown[]): Promise<T>; drop(): Promise<void> };

function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_DATABASE_URL is not set (tests/setup.ts should have set it)");
  return url;
}

/** Runs one statement on a fresh connection to `url`, for tests that check what a given user may do. */
export async function queryOnce<T = any>(url: string, sql: string): Promise<T> {
  const conn = await mariadb.createConnection(connectionOptions(url));
  try {
    return await conn.query(sql);
  } finally {
    await conn.end();
  }
}

/** Runs SQL on the test server with no default database. */
async function admin(sql: string) {
  const conn = await mariadb.createConnection({ ...connectionOptions(serverUrl()), database: undefined });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

/** An empty database (no migrations), for tests of the migrator itself. */
export async function emptyDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `obd2_t_${randomBytes(5).toString("hex")}`;
  await admin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin(`DROP DATABASE IF EXISTS \`${name}\``) };
}

export async function freshDatabase(): Promise<TestDb> {
  const empty = await emptyDatabase();
  await migrate(empty.url);
  const db = createDb(empty.url, { connectionLimit: 4 });
  return {
    ...db,
    ...empty,
    query: (sql, values) => db.pool.query(sql, values),
    async drop() {
      await db.close();
      await empty.drop();
    },
  };
}
