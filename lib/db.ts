/**
 * The MySQL connection: one mariadb pool, shared by Prisma Client (through its
 * driver adapter) and by the raw bulk-upsert path of /sync.
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
  close(): Promise<void>;
};

export function createDb(url: string, { connectionLimit = 10 } = {}): Db {
  const pool = mariadb.createPool({
    ...connectionOptions(url),
    connectionLimit,
    acquireTimeout: 10_000,
    // The adapter turns the prepared-statement cache off on pools it creates itself.
    prepareCacheLength: 0,
  });
  const prisma = new PrismaClient({ adapter: new PrismaMariaDb(pool) });
  return {
    pool,
    prisma,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
