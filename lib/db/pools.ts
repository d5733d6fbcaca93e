/**
 * The MySQL connections: a mariadb pool for Prisma Client (through its driver
 * adapter) and for small raw queries, and a second, small pool for /sync's
 * bulk writes.
 */
import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import * as mariadb from "mariadb";
import { PrismaClient } from "./generated/prisma/client.ts";

/** mariadb connector options for a mysql:// (or mariadb://) URL. */
export function connectionOptions(url: string): mariadb.ConnectionConfig {
  const u = new URL(url);
  if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") {
    throw new Error(`DATABASE_URL must start with mysql:// or mariadb://, not ${u.protocol}//`);
  }
  return {
    host: u.hostname || "127.0.0.1",
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    socketPath: u.searchParams.get("socket") ?? undefined,
    connectTimeout: 3000,
    // Every server-side time (CURRENT_TIMESTAMP defaults included) is UTC.
    initSql: "SET time_zone = '+00:00'",
  };
}

export type Db = {
  pool: mariadb.Pool;
  prisma: PrismaClient;
  /**
   * For /sync's bulk upserts. Unlike `pool`, it caches prepared statements:
   * without the cache every bulk call waits a round trip for its PREPARE, and
   * that wait breaks the overlap of validation and writing (lib/sync/write-batch.ts).
   * The adapter needs the cache off, hence two pools.
   */
  bulkPool: mariadb.Pool;
  close(): Promise<void>;
};

export function createDb(url: string, { connectionLimit = 10, acquireTimeout = 10_000 } = {}): Db {
  const pool = mariadb.createPool({
    ...connectionOptions(url),
    connectionLimit,
    acquireTimeout,
    // The adapter turns the prepared-statement cache off on pools it creates itself.
    prepareCacheLength: 0,
  });
  const prisma = new PrismaClient({ adapter: new PrismaMariaDb(pool) });
  // The sync path prepares a handful of fixed statements, so a small cache holds them all.
  const bulkPool = mariadb.createPool({ ...connectionOptions(url), connectionLimit: 4, acquireTimeout, prepareCacheLength: 32 });
  return {
    pool,
    prisma,
    bulkPool,
    async close() {
      await prisma.$disconnect();
      await Promise.all([pool.end(), bulkPool.end()]);
    },
  };
}
