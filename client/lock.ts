/**
 * One pusher per database. The lock is a small SQLite file next to the
 * database (`<db>.sync-lock`) held in BEGIN EXCLUSIVE for the whole run. The
 * operating system releases it when the process ends, even on SIGKILL, so a
 * stale lock cannot exist and needs no clean-up.
 */
import { openDb, type SqliteDb } from "./sqlite.ts";

export type Lock = { path: string; release(): void };

const POLL_MS = 250;

// Held here, not only by the caller: a connection the collector reclaims is closed, and its lock with it.
const held = new Set<SqliteDb>();

const isBusy = (err: unknown) => /^SQLITE_BUSY|^SQLITE_LOCKED/.test(String((err as { code?: string }).code ?? ""));

function tryLock(path: string): SqliteDb | undefined {
  const db = openDb(path, { create: true, busyTimeoutMs: 0 });
  try {
    db.exec("BEGIN EXCLUSIVE");
    return db;
  } catch (err) {
    db.close();
    if (isBusy(err)) return undefined;
    throw err;
  }
}

/**
 * Takes the lock for `dbPath`. Returns undefined when another process holds
 * it, unless `wait` is set: then it polls until the lock is free or `signal`
 * aborts (never blocking the event loop, so signals are still handled).
 */
export async function acquireLock(dbPath: string, { wait = false, signal }: { wait?: boolean; signal?: AbortSignal } = {}): Promise<Lock | undefined> {
  const path = `${dbPath}.sync-lock`;
  for (;;) {
    const db = tryLock(path);
    if (db) {
      held.add(db);
      return {
        path,
        release() {
          held.delete(db);
          db.exec("ROLLBACK");
          db.close();
        },
      };
    }
    if (!wait || signal?.aborted) return undefined;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
