/**
 * The agent's own tables, kept in the Pi's database next to the app's tables
 * (which the agent only ever reads):
 *
 * - sync_log: one row per mirrored table with its high-water mark. Same DDL
 *   as the Pi's Python sync client, so an existing table (with or without
 *   its extra `last_synced_modified_at` column) is adopted as it is.
 * - sync_quarantine: rows the server rejected, with its message and a copy
 *   of the row as sent, so nothing is lost even if the Pi later deletes it.
 * - sync_row_hash: the hash of each mutable-table row as last accepted by
 *   the server; a row whose hash differs is sent again.
 * - sync_error: the last error per table, for `status`.
 * - sync_conflict: per table, the server's 409 when it holds other rows
 *   under this device id (another database's), for `status`; cleared when
 *   the table next syncs.
 * - sync_backup: the last database backup and what was uploaded of each log
 *   file (backup.ts writes it).
 *
 * Every write is one short transaction; a mark only ever moves forward,
 * except when `push --resend-all` sets it back to 0 (forgetSynced).
 */
import type { SqliteDb } from "./sqlite.ts";

const DDL = `
CREATE TABLE IF NOT EXISTS sync_log (
    table_name      TEXT    PRIMARY KEY,
    last_synced_id  INTEGER NOT NULL DEFAULT 0,
    last_synced_at  TEXT,
    last_batch_id   TEXT,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('ok','pending','failed'))
);
CREATE TABLE IF NOT EXISTS sync_quarantine (
    table_name      TEXT    NOT NULL,
    row_key         TEXT    NOT NULL,
    row_json        TEXT    NOT NULL,
    error           TEXT    NOT NULL,
    batch_id        TEXT,
    quarantined_at  TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (table_name, row_key)
);
CREATE TABLE IF NOT EXISTS sync_row_hash (
    table_name      TEXT    NOT NULL,
    row_key         TEXT    NOT NULL,
    row_hash        TEXT    NOT NULL,
    PRIMARY KEY (table_name, row_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_error (
    table_name      TEXT    PRIMARY KEY,
    error           TEXT    NOT NULL,
    at              TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_conflict (
    table_name      TEXT    PRIMARY KEY,
    device_id       TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    conflicts_json  TEXT    NOT NULL,
    at              TEXT    NOT NULL
);`;

/** sync_backup's DDL: initStore creates it with the others, and a backup, which may come before any push, when it records an upload. */
export const BACKUP_DDL = `
CREATE TABLE IF NOT EXISTS sync_backup (
    item        TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL CHECK (type IN ('database','logs')),
    file_size   INTEGER NOT NULL,
    file_mtime  INTEGER,
    stored_as   TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    uploaded_at TEXT    NOT NULL
)`;

export const AGENT_TABLES = ["sync_log", "sync_quarantine", "sync_row_hash", "sync_error", "sync_conflict", "sync_backup"] as const;

export type Mark = { lastSyncedId: number; lastSyncedAt: string | null; lastBatchId: string | null; status: string };

export type QuarantinedRow = { table: string; key: string; json: string; error: string; batchId: string | null; at: string; attempts: number };

/** A row the server rejected: the key as text and the JSON exactly as sent. */
export type Rejection = { key: string; json: string; error: string };

const now = () => new Date().toISOString();

export function hasTable(db: SqliteDb, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/**
 * Creates the agent's tables when missing and a sync_log row for each given
 * table. Idempotent; existing rows and marks are left as they are.
 * Returns whether sync_log already existed (an adopted Python-client table).
 */
export function initStore(db: SqliteDb, tables: readonly string[]): { adopted: boolean } {
  const adopted = hasTable(db, "sync_log");
  db.transaction(() => {
    db.exec(DDL);
    db.exec(BACKUP_DDL);
    const add = db.prepare("INSERT OR IGNORE INTO sync_log (table_name, last_synced_id, status) VALUES (?, 0, 'pending')");
    for (const t of tables) add.run(t);
  });
  return { adopted };
}

/** The marks per table; empty before `init`. */
export function readMarks(db: SqliteDb): Map<string, Mark> {
  const marks = new Map<string, Mark>();
  if (!hasTable(db, "sync_log")) return marks;
  const rows = db.prepare("SELECT table_name, last_synced_id, last_synced_at, last_batch_id, status FROM sync_log ORDER BY table_name").all();
  for (const r of rows) {
    marks.set(String(r.table_name), {
      lastSyncedId: Number(r.last_synced_id ?? 0),
      lastSyncedAt: r.last_synced_at === null ? null : String(r.last_synced_at),
      lastBatchId: r.last_batch_id === null ? null : String(r.last_batch_id),
      status: String(r.status),
    });
  }
  return marks;
}

export function readMark(db: SqliteDb, table: string): number {
  const row = db.prepare("SELECT last_synced_id FROM sync_log WHERE table_name = ?").get(table);
  return Number(row?.last_synced_id ?? 0);
}

/** Moves a table's mark up to `id`, never down; its sync_log row must exist (initStore). */
export function raiseMark(db: SqliteDb, table: string, id: number) {
  db.prepare("UPDATE sync_log SET last_synced_id = MAX(last_synced_id, ?) WHERE table_name = ?").run(id, table);
}

function quarantine(db: SqliteDb, table: string, batchId: string, rejected: Rejection[]) {
  const put = db.prepare(
    `INSERT INTO sync_quarantine (table_name, row_key, row_json, error, batch_id, quarantined_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (table_name, row_key) DO UPDATE SET row_json = excluded.row_json, error = excluded.error,
       batch_id = excluded.batch_id, quarantined_at = excluded.quarantined_at, attempts = attempts + 1`,
  );
  const at = now();
  for (const r of rejected) put.run(table, r.key, r.json, r.error, batchId, at);
}

function markDone(db: SqliteDb, table: string, batchId: string, mark?: number) {
  db.prepare(
    `INSERT INTO sync_log (table_name, last_synced_id, last_synced_at, last_batch_id, status) VALUES (?, ?, ?, ?, 'ok')
     ON CONFLICT (table_name) DO UPDATE SET last_synced_id = MAX(last_synced_id, excluded.last_synced_id),
       last_synced_at = excluded.last_synced_at, last_batch_id = excluded.last_batch_id, status = 'ok'`,
  ).run(table, mark ?? 0, now(), batchId);
  db.prepare("DELETE FROM sync_error WHERE table_name = ?").run(table);
  db.prepare("DELETE FROM sync_conflict WHERE table_name = ?").run(table);
}

/**
 * Quarantined rows of an append-only table with ids from `first` to `last`
 * that the server now accepted leave quarantine. Only a resend from a mark
 * set back to 0 (forgetSynced) meets them: a normal chunk lies above every
 * quarantined id.
 */
function releaseAccepted(db: SqliteDb, table: string, first: number, last: number, rejected: Rejection[]) {
  const still = new Set(rejected.map((r) => r.key));
  const release = db.prepare("DELETE FROM sync_quarantine WHERE table_name = ? AND row_key = ?");
  const inRange = db.prepare("SELECT row_key FROM sync_quarantine WHERE table_name = ? AND CAST(row_key AS INTEGER) BETWEEN ? AND ?").all(table, first, last);
  for (const { row_key } of inRange) if (!still.has(String(row_key))) release.run(table, String(row_key));
}

/**
 * After the server accepted a chunk of an append-only table (ids `first` to
 * `mark`): the rejected rows go to quarantine and the mark advances to the
 * chunk's last id, in one local transaction, so a crash leaves either both
 * or neither.
 */
export function commitAppendChunk(db: SqliteDb, table: string, { first, mark, batchId, rejected }: { first: number; mark: number; batchId: string; rejected: Rejection[] }) {
  db.transaction(() => {
    releaseAccepted(db, table, first, mark, rejected);
    quarantine(db, table, batchId, rejected);
    markDone(db, table, batchId, mark);
  });
}

/**
 * For `push --resend-all`, after the server lost its data: the tables' marks
 * go back to 0 and their stored row hashes are forgotten, in one
 * transaction, so this push (or, if it is cut short, the next one) sends
 * every row again; the server upserts by (device, key), so a row it still
 * has is only rewritten. Quarantine is kept: a row the server still rejects
 * stays there, one it now accepts leaves it, and the saved copy of a row the
 * Pi has deleted since waits for --retry-quarantined.
 */
export function forgetSynced(db: SqliteDb, tables: readonly string[]) {
  db.transaction(() => {
    const reset = db.prepare("UPDATE sync_log SET last_synced_id = 0, status = 'pending' WHERE table_name = ?");
    const forget = db.prepare("DELETE FROM sync_row_hash WHERE table_name = ?");
    for (const t of tables) {
      reset.run(t);
      forget.run(t);
    }
  });
}

/**
 * After the server accepted a chunk of a mutable table: each row's hash is
 * stored (rejected rows too, so they are not resent until they change again),
 * and rows the server now accepted leave quarantine.
 */
export function commitMutableChunk(
  db: SqliteDb,
  table: string,
  { batchId, accepted, rejected, mark }: { batchId: string; accepted: { key: string; hash: string }[]; rejected: (Rejection & { hash: string })[]; mark?: number },
) {
  db.transaction(() => {
    const setHash = db.prepare("INSERT OR REPLACE INTO sync_row_hash (table_name, row_key, row_hash) VALUES (?, ?, ?)");
    const release = db.prepare("DELETE FROM sync_quarantine WHERE table_name = ? AND row_key = ?");
    for (const r of accepted) {
      setHash.run(table, r.key, r.hash);
      release.run(table, r.key);
    }
    for (const r of rejected) setHash.run(table, r.key, r.hash);
    quarantine(db, table, batchId, rejected);
    markDone(db, table, batchId, mark);
  });
}

/** After `push --retry-quarantined`: accepted rows leave quarantine, rejected ones get the new message. */
export function commitRetried(db: SqliteDb, table: string, { batchId, accepted, rejected, hashes }: { batchId: string; accepted: string[]; rejected: Rejection[]; hashes?: Map<string, string> }) {
  db.transaction(() => {
    const release = db.prepare("DELETE FROM sync_quarantine WHERE table_name = ? AND row_key = ?");
    const setHash = db.prepare("INSERT OR REPLACE INTO sync_row_hash (table_name, row_key, row_hash) VALUES (?, ?, ?)");
    for (const key of accepted) {
      release.run(table, key);
      const hash = hashes?.get(key);
      if (hash) setHash.run(table, key, hash);
    }
    quarantine(db, table, batchId, rejected);
  });
}

export function storedHash(db: SqliteDb): (table: string, key: string) => string | undefined {
  if (!hasTable(db, "sync_row_hash")) return () => undefined;
  const get = db.prepare("SELECT row_hash FROM sync_row_hash WHERE table_name = ? AND row_key = ?");
  return (table, key) => get.get(table, key)?.row_hash as string | undefined;
}

/** Records why a table stopped; `status` shows it until the table next syncs. */
export function recordError(db: SqliteDb, table: string, error: string) {
  db.transaction(() => writeError(db, table, error));
}

function writeError(db: SqliteDb, table: string, error: string) {
  db.prepare("INSERT OR REPLACE INTO sync_error (table_name, error, at) VALUES (?, ?, ?)").run(table, error, now());
  db.prepare("UPDATE sync_log SET status = 'failed' WHERE table_name = ?").run(table);
}

/** A 409 from the server: it holds other rows under this device id. */
export type Conflict = { deviceId: string; detail: string; conflicts: unknown[]; at: string };

/**
 * Records that the server refused a table because it holds another
 * database's rows under `deviceId`, with the table's error; marks, hashes
 * and quarantine stay as they were.
 */
export function recordConflict(db: SqliteDb, table: string, conflict: Omit<Conflict, "at">) {
  db.transaction(() => {
    db.prepare("INSERT OR REPLACE INTO sync_conflict (table_name, device_id, detail, conflicts_json, at) VALUES (?, ?, ?, ?, ?)").run(
      table,
      conflict.deviceId,
      conflict.detail,
      JSON.stringify(conflict.conflicts),
      now(),
    );
    writeError(db, table, conflict.detail);
  });
}

export function readConflicts(db: SqliteDb): Map<string, Conflict> {
  if (!hasTable(db, "sync_conflict")) return new Map();
  return new Map(
    db
      .prepare("SELECT table_name, device_id, detail, conflicts_json, at FROM sync_conflict ORDER BY table_name")
      .all()
      .map((r) => [String(r.table_name), { deviceId: String(r.device_id), detail: String(r.detail), conflicts: JSON.parse(String(r.conflicts_json)), at: String(r.at) }]),
  );
}

export function readErrors(db: SqliteDb): Map<string, { error: string; at: string }> {
  if (!hasTable(db, "sync_error")) return new Map();
  return new Map(db.prepare("SELECT table_name, error, at FROM sync_error").all().map((r) => [String(r.table_name), { error: String(r.error), at: String(r.at) }]));
}

export function quarantineCounts(db: SqliteDb): Map<string, number> {
  if (!hasTable(db, "sync_quarantine")) return new Map();
  return new Map(db.prepare("SELECT table_name, COUNT(*) AS n FROM sync_quarantine GROUP BY table_name").all().map((r) => [String(r.table_name), Number(r.n)]));
}

/** One page of a table's quarantined rows, oldest first, after rowid `after`. */
export function readQuarantine(db: SqliteDb, table: string, after: number, limit: number): (QuarantinedRow & { rowid: number })[] {
  if (!hasTable(db, "sync_quarantine")) return [];
  return db
    .prepare(
      `SELECT rowid, row_key, row_json, error, batch_id, quarantined_at, attempts FROM sync_quarantine
       WHERE table_name = ? AND rowid > ? ORDER BY rowid LIMIT ?`,
    )
    .all(table, after, limit)
    .map((r) => ({
      rowid: Number(r.rowid),
      table,
      key: String(r.row_key),
      json: String(r.row_json),
      error: String(r.error),
      batchId: r.batch_id === null ? null : String(r.batch_id),
      at: String(r.quarantined_at),
      attempts: Number(r.attempts),
    }));
}
