/**
 * A restored database is as old as its backup, but the server may hold rows
 * this Pi pushed after the backup was taken. Their ids are above the
 * backup's, so the logger would hand them out again and the next push would
 * overwrite the server's rows. `restore` therefore moves the restored file
 * (still its temp file) past what the server holds for the device, per
 * integer-keyed table:
 *
 * - the AUTOINCREMENT counter (sqlite_sequence) up to the server's highest
 *   id, so the logger's next row gets the id after it;
 * - for append-only tables, the sync_log mark up to that id: the rows the
 *   file has at or below it are already on the server, as they are here.
 *
 * A table without AUTOINCREMENT takes max(id) + 1 as its next id, which
 * cannot be raised without adding a row; it is reported, not changed.
 *
 * Drive ids come from the Pi's drive_counter, not from a table's counter:
 * it is raised to the highest drive the server knows of (the device's drive
 * counter, and drive_summary's highest id), so the next drive does not reuse
 * an id whose drive_summary the server holds (the server would refuse that
 * row as another database's, 409).
 */
import type { TableName } from "../lib/tables.ts";
import { discoverTables, q } from "./delta.ts";
import { count } from "./report.ts";
import type { SqliteDb } from "./sqlite.ts";
import { hasTable, initStore, raiseMark, readMarks } from "./store.ts";
import type { ServerState } from "./transport.ts";

/** One integer-keyed table of the restored file, before and after. */
export type CaughtUp = {
  table: TableName;
  /** The highest id the server holds for the device; null when it holds none. */
  serverMaxId: number | null;
  autoincrement: boolean;
  /** The id the next row inserted without one gets. */
  nextIdBefore: number;
  nextIdAfter: number;
  /** The sync_log mark of an append-only table; null for a mutable one. */
  markBefore: number | null;
  markAfter: number | null;
};

function isAutoincrement(db: SqliteDb, table: string): boolean {
  const sql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)?.sql;
  return /\bAUTOINCREMENT\b/i.test(String(sql ?? ""));
}

/** sqlite_sequence's counter for `table`, or undefined when it has no row there. */
function sequenceOf(db: SqliteDb, table: string): number | undefined {
  if (!hasTable(db, "sqlite_sequence")) return undefined;
  const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?").get(table)?.seq;
  return seq === undefined || seq === null ? undefined : Number(seq);
}

/** Raises the counters and marks of `db` to what the server holds (never lowers them) and returns what it found and changed. */
export function catchUpWithServer(db: SqliteDb, state: ServerState): CaughtUp[] {
  const { present } = discoverTables(db);
  // The server reports its mirrored tables; a table it keeps in unmapped_rows has no state to catch up with.
  const tables = present.filter((src) => src.mirrored && src.table.keyType === "int");
  const serverMax = (name: string) => state.tables[name as TableName] ?? null;
  const marks = readMarks(db);
  // sync_log as push creates it, for a backup taken before the agent's first push.
  if (tables.some((src) => !src.table.mutable && (serverMax(src.name) ?? 0) > (marks.get(src.name)?.lastSyncedId ?? 0))) {
    initStore(db, present.map((src) => src.name));
  }
  return db.transaction(() =>
    tables.map((src): CaughtUp => {
      const serverMaxId = serverMax(src.name);
      const autoincrement = isAutoincrement(db, src.name);
      const seq = sequenceOf(db, src.name);
      const maxId = Number(db.prepare(`SELECT MAX(${q(src.table.key)}) AS n FROM ${q(src.name)}`).get()?.n ?? 0);
      const lastUsed = Math.max(maxId, autoincrement ? (seq ?? 0) : 0);
      let nextIdAfter = lastUsed + 1;
      if (autoincrement && serverMaxId !== null && serverMaxId > lastUsed) {
        if (seq === undefined) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)").run(src.name, serverMaxId);
        else db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = ?").run(serverMaxId, src.name);
        nextIdAfter = serverMaxId + 1;
      }
      let markBefore: number | null = null;
      let markAfter: number | null = null;
      if (!src.table.mutable) {
        markBefore = marks.get(src.name)?.lastSyncedId ?? 0;
        markAfter = Math.max(markBefore, serverMaxId ?? 0);
        if (markAfter > markBefore) raiseMark(db, src.name, markAfter);
      }
      return { table: src.name as TableName, serverMaxId, autoincrement, nextIdBefore: lastUsed + 1, nextIdAfter, markBefore, markAfter };
    }),
  );
}

/** Raises the file's drive_counter (when it has one) to the highest drive id the server knows of; before and after, or undefined when there is none. */
export function raiseDriveCounter(db: SqliteDb, state: ServerState): { before: number; after: number } | undefined {
  if (!hasTable(db, "drive_counter")) return undefined;
  const before = Number(db.prepare("SELECT max(last_drive_id) AS n FROM drive_counter").get()?.n ?? 0);
  const after = Math.max(before, state.lastDriveId ?? 0, state.tables.drive_summary ?? 0);
  if (after > before) db.prepare("INSERT INTO drive_counter (id, last_drive_id) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET last_drive_id = excluded.last_drive_id").run(after);
  return { before, after };
}

/**
 * What a table's result means when its next id is still one the server
 * holds (a table without AUTOINCREMENT); undefined when all is well.
 */
export function idWarning(t: CaughtUp, driveCounter?: number): string | undefined {
  if (t.serverMaxId === null || t.nextIdAfter > t.serverMaxId) return undefined;
  // drive_summary's ids are handed out by drive_counter, which raiseDriveCounter moved past the server's.
  if (t.table === "drive_summary" && driveCounter !== undefined && driveCounter >= t.serverMaxId) return undefined;
  const ids = `ids ${count(t.nextIdAfter)} to ${count(t.serverMaxId)}`;
  const fate =
    t.markAfter === null
      ? `the next push sends such rows, overwriting the server's rows with ${ids}`
      : `rows the logger writes with ${ids} are at or below the mark, so they stay on the Pi and are never pushed (pushing them would overwrite the server's rows)`;
  return `${t.table} has no AUTOINCREMENT, so its next id is max(rowid) + 1 = ${count(t.nextIdAfter)} and cannot be raised without adding a row; ${fate}`;
}
