/**
 * Where each table stands (its mark, backlog, oldest unsynced row,
 * quarantine and last error), for `status` and for the summary after a push,
 * and the plain-text table both print.
 */
import type { TableName } from "../lib/tables.ts";
import { backlog, discoverTables, type Skipped } from "./delta.ts";
import type { SqliteDb } from "./sqlite.ts";
import { hasTable, quarantineCounts, readConflicts, readErrors, readMarks, readQuarantine, storedHash, type Conflict } from "./store.ts";

type TableState = {
  table: string;
  /** A table the server mirrors; else it keeps the rows in unmapped_rows. */
  mirrored: boolean;
  /** append: synced by id above the mark; mutable: synced by row hash. */
  mode: "append" | "mutable";
  mark: number;
  backlog: number;
  /** The oldest unsynced row's time (ISO, UTC), when it has a parseable one. */
  oldestUnsynced: string | null;
  oldestUnsyncedAgeSeconds: number | null;
  quarantined: number;
  lastSyncedAt: string | null;
  lastBatchId: string | null;
  lastError: string | null;
  /** The server's last 409 for this table: it holds another database's rows under that device id. */
  conflict: Conflict | null;
};

export type DbState = { tables: TableState[]; missing: TableName[]; skipped: Skipped[]; initialised: boolean };

export function collectState(db: SqliteDb, now = Date.now()): DbState {
  const { present, missing, skipped } = discoverTables(db);
  const marks = readMarks(db);
  const errors = readErrors(db);
  const conflicts = readConflicts(db);
  const quarantined = quarantineCounts(db);
  const stored = storedHash(db);
  const tables = present.map((src): TableState => {
    const mark = marks.get(src.name);
    const b = backlog(db, src, mark?.lastSyncedId ?? 0, stored);
    return {
      table: src.name,
      mirrored: src.mirrored,
      mode: src.table.mutable ? "mutable" : "append",
      mark: mark?.lastSyncedId ?? 0,
      backlog: b.rows,
      oldestUnsynced: b.oldest === undefined ? null : new Date(b.oldest).toISOString(),
      oldestUnsyncedAgeSeconds: b.oldest === undefined ? null : Math.max(0, Math.round((now - b.oldest) / 1000)),
      quarantined: quarantined.get(src.name) ?? 0,
      lastSyncedAt: mark?.lastSyncedAt ?? null,
      lastBatchId: mark?.lastBatchId ?? null,
      lastError: errors.get(src.name)?.error ?? null,
      conflict: conflicts.get(src.name) ?? null,
    };
  });
  return { tables, missing, skipped, initialised: hasTable(db, "sync_log") };
}

/** Up to `limit` quarantined rows across tables, for `status`. */
export function quarantineSample(db: SqliteDb, tables: string[], limit: number) {
  return tables.flatMap((t) => readQuarantine(db, t, 0, limit)).slice(0, limit);
}

/** What to do when the server holds another database's rows under the device id. */
export const conflictHint = (deviceId: string) =>
  `give this database its own --device-id (for example ${deviceId}-2); if it is a restored backup, use obd2-sync restore`;

/** One line for a table the server refused with a 409: which key, and what it holds against what this database has. */
export function conflictLine(table: string, c: Pick<Conflict, "conflicts">): string {
  const first = c.conflicts[0] as { id?: unknown; stored?: Record<string, unknown>; sent?: Record<string, unknown> } | undefined;
  const values = (o: Record<string, unknown> = {}) => Object.entries(o).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ");
  return first ? `${table} ${JSON.stringify(first.id)}: the server has ${values(first.stored)}, this database ${values(first.sent)}` : table;
}

/** "3d 4h", "12m 5s", "40s" */
export function formatAge(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

export const count = (n: number) => n.toLocaleString("en-US");

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === "number" ? count(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  return cells
    .map((r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n");
}
