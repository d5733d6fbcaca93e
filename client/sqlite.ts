/**
 * The small SQLite interface the agent (and the drive simulator) use:
 * `bun:sqlite` under Bun, `better-sqlite3` under Node, same subset of API.
 * Only positional `?` parameters are used, because the two libraries spell
 * named parameters differently.
 */

export type SqlValue = string | number | bigint | null | Uint8Array;
export type Row = Record<string, SqlValue>;

export interface Statement {
  all(...params: SqlValue[]): Row[];
  get(...params: SqlValue[]): Row | undefined;
  run(...params: SqlValue[]): { changes: number };
}

export interface SqliteDb {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  /** Runs fn in BEGIN IMMEDIATE … COMMIT (rolled back if fn throws). */
  transaction<T>(fn: () => T): T;
  close(): void;
}

type Driver = new (path: string, options?: Record<string, unknown>) => any;

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
// better-sqlite3 is a native Node addon; it is never loaded under Bun (and is left out of the compiled binary).
const Database: Driver = isBun
  ? (await import("bun:sqlite")).Database
  : ((await import("better-sqlite3")) as unknown as { default: Driver }).default;

/** @public Named by tests/simulate.test.ts inside a script it runs under Node, which knip cannot see. */
export const sqliteDriver = isBun ? "bun:sqlite" : "better-sqlite3";

/**
 * Opens a database file. Lock waits are bounded by busy_timeout so a logger
 * writing at the same moment delays us briefly instead of failing us.
 */
export function openDb(path: string, { readonly = false, create = false, busyTimeoutMs = 5000 } = {}): SqliteDb {
  const raw = isBun
    ? new Database(path, readonly ? { readonly: true } : { readwrite: true, create })
    : new Database(path, { readonly, fileMustExist: !create });
  raw.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  return {
    exec: (sql) => void raw.exec(sql),
    prepare(sql) {
      const stmt = raw.prepare(sql);
      return {
        all: (...params) => stmt.all(...params),
        get: (...params) => stmt.get(...params) ?? undefined,
        run: (...params) => ({ changes: Number(stmt.run(...params).changes) }),
      };
    },
    transaction<T>(fn: () => T): T {
      raw.exec("BEGIN IMMEDIATE");
      try {
        const out = fn();
        raw.exec("COMMIT");
        return out;
      } catch (err) {
        raw.exec("ROLLBACK");
        throw err;
      }
    },
    close: () => raw.close(),
  };
}
