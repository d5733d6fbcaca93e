/**
 * What is not on the server yet. Reads the Pi's tables (never writes them)
 * in short statements of at most PAGE_ROWS rows, so the logger writing at
 * the same moment is never held up for long.
 *
 * - Append-only tables: the rows with id > the table's mark, in id order.
 * - Mutable tables (text keys, calibration_sessions): every row whose hash
 *   differs from the hash stored when the server last accepted it.
 *
 * Only columns that lib/tables.ts lists and the Pi's table actually has are
 * selected; a table an older Pi lacks is skipped.
 */
import { TABLES, type MirroredTable, type TableName } from "../lib/tables.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { sha256Hex } from "./native.ts";
import type { Row, SqliteDb } from "./sqlite.ts";

/** Rows per SELECT: bounds both memory and how long one read holds the database. */
const PAGE_ROWS = 500;

export type SourceTable = {
  table: MirroredTable;
  name: TableName;
  /** The key column, then the data columns this Pi's table has, in lib/tables.ts order. */
  columns: string[];
  /** The datetime column `status` uses for the age of the oldest unsynced row. */
  timeColumn?: string;
  /** Selects k (the key), d (drive_id, when the table has it) and j (the row as JSON). */
  select: string;
};

/** One row ready to send: its key, its JSON exactly as sent (UTF-8 bytes) and, for mutable tables, that JSON's hash. */
export type Item = { key: number | string; json: Uint8Array; hash: string; driveId?: number };

export type Limits = { maxRows: number; maxBytes: number };

/** A SQLite identifier, quoted. */
export const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

function columnsOf(db: SqliteDb, table: string): Set<string> {
  return new Set(db.prepare("SELECT name FROM pragma_table_info(?)").all(table).map((r) => String(r.name)));
}

/**
 * SQLite writes each row's JSON itself, as UTF-8 bytes ready for the body
 * (json_object renders doubles so that they read back exactly). The agent
 * then makes no per-column values or strings, which keeps its memory small
 * on the Pi. JSON cannot hold a BLOB, so a blob goes as {"blobHex": …}: the
 * server rejects it and the row, bytes intact, waits in quarantine.
 */
function rowJson(columns: string[]): string {
  const value = (c: string) => `CASE WHEN typeof(${q(c)}) = 'blob' THEN json_object('blobHex', hex(${q(c)})) ELSE ${q(c)} END`;
  return `CAST(json_object(${columns.map((c) => `'${c.replaceAll("'", "''")}', ${value(c)}`).join(", ")}) AS BLOB)`;
}

/** The mirrored tables this database has (parents first), and the ones it lacks. */
export function discoverTables(db: SqliteDb): { present: SourceTable[]; missing: TableName[] } {
  const present: SourceTable[] = [];
  const missing: TableName[] = [];
  for (const table of TABLES) {
    const have = columnsOf(db, table.name);
    if (!have.has(table.key)) {
      missing.push(table.name);
      continue;
    }
    const data = table.columns.filter((c) => have.has(c.name));
    const columns = [table.key, ...data.map((c) => c.name)];
    const datetimes = data.filter((c) => c.type.kind === "datetime").map((c) => c.name);
    const drive = columns.includes("drive_id") ? ', "drive_id" AS d' : "";
    present.push({
      table,
      name: table.name,
      columns,
      // A profile edited today is "unsynced since today", not since it was created.
      timeColumn: table.mutable && datetimes.includes("updated_at") ? "updated_at" : datetimes[0],
      select: `SELECT ${q(table.key)} AS k${drive}, ${rowJson(columns)} AS j FROM ${q(table.name)}`,
    });
  }
  return { present, missing };
}

export const rowHash = (json: Uint8Array) => sha256Hex(json).slice(0, 32);

/** A row from `select` as the server will see it. */
function toItem(src: SourceTable, row: Row): Item {
  const json = row.j as Uint8Array;
  return { key: row.k as number | string, json, hash: src.table.mutable ? rowHash(json) : "", driveId: typeof row.d === "number" ? row.d : undefined };
}

const utf8 = new TextDecoder();
/** An item's JSON as text (for quarantine and messages). */
export const jsonText = (item: Item) => utf8.decode(item.json);

/** The next chunk of an append-only table: rows with id > `after`, in id order, within both limits (but at least one row). */
export function readAppendChunk(db: SqliteDb, src: SourceTable, after: number, { maxRows, maxBytes }: Limits): Item[] {
  const stmt = db.prepare(`${src.select} WHERE ${q(src.table.key)} > ? ORDER BY ${q(src.table.key)} LIMIT ?`);
  const items: Item[] = [];
  let bytes = 0;
  let cursor = after;
  while (items.length < maxRows) {
    const want = Math.min(PAGE_ROWS, maxRows - items.length);
    const page = stmt.all(cursor, want);
    for (const row of page) {
      const item = toItem(src, row);
      if (items.length > 0 && bytes + item.json.length > maxBytes) return items;
      items.push(item);
      bytes += item.json.length + 1;
    }
    if (page.length < want) break;
    cursor = items[items.length - 1]!.key as number;
  }
  return items;
}

/** Pages through a table in key order, from after `after` (undefined: the start). */
function* pages(db: SqliteDb, src: SourceTable, after?: number | string): Generator<Row[]> {
  const key = q(src.table.key);
  const first = db.prepare(`${src.select} WHERE ${key} IS NOT NULL ORDER BY ${key} LIMIT ?`);
  const next = db.prepare(`${src.select} WHERE ${key} > ? ORDER BY ${key} LIMIT ?`);
  let cursor = after;
  for (;;) {
    const page = cursor === undefined ? first.all(PAGE_ROWS) : next.all(cursor, PAGE_ROWS);
    if (page.length) yield page;
    if (page.length < PAGE_ROWS) return;
    cursor = page[page.length - 1]!.k as number | string;
  }
}

export type StoredHash = (table: TableName, key: string) => string | undefined;

/**
 * The next chunk of a mutable table's changed rows, scanning from after
 * `after`. `next` is where the following call continues; undefined when the
 * scan reached the end.
 */
export function readChangedChunk(
  db: SqliteDb,
  src: SourceTable,
  after: number | string | undefined,
  { maxRows, maxBytes }: Limits,
  stored: StoredHash,
): { items: Item[]; next?: number | string } {
  const items: Item[] = [];
  let bytes = 0;
  for (const page of pages(db, src, after)) {
    for (const row of page) {
      const item = toItem(src, row);
      if (stored(src.name, String(item.key)) === item.hash) continue;
      if (items.length > 0 && bytes + item.json.length > maxBytes) return { items, next: items[items.length - 1]!.key };
      items.push(item);
      bytes += item.json.length + 1;
      if (items.length >= maxRows) return { items, next: item.key };
    }
  }
  return { items };
}

/** A Pi datetime as epoch ms, or undefined when it is not one. */
function parseTime(value: unknown): number | undefined {
  const sql = typeof value === "string" ? toSqlDatetime(value) : undefined;
  return sql ? Date.parse(`${sql.replace(" ", "T").slice(0, 23)}Z`) : undefined;
}

export type Backlog = { rows: number; oldest?: number };

/** Rows not yet on the server, and the time of the oldest of them (epoch ms) when it has one. */
export function backlog(db: SqliteDb, src: SourceTable, mark: number, stored: StoredHash): Backlog {
  const key = q(src.table.key);
  if (!src.table.mutable) {
    const rows = Number(db.prepare(`SELECT COUNT(*) AS n FROM ${q(src.name)} WHERE ${key} > ?`).get(mark)?.n ?? 0);
    if (rows === 0 || !src.timeColumn) return { rows };
    const first = db.prepare(`SELECT ${q(src.timeColumn)} AS t FROM ${q(src.name)} WHERE ${key} > ? ORDER BY ${key} LIMIT 1`).get(mark);
    return { rows, oldest: parseTime(first?.t) };
  }
  let rows = 0;
  let oldest: number | undefined;
  for (const page of pages(db, src)) {
    for (const row of page) {
      const item = toItem(src, row);
      if (stored(src.name, String(item.key)) === item.hash) continue;
      rows++;
      const t = src.timeColumn ? parseTime(JSON.parse(jsonText(item))[src.timeColumn]) : undefined;
      if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
    }
  }
  return { rows, oldest };
}

/** The current row for a key, for resending a quarantined row the Pi may have fixed since. */
export function readRow(db: SqliteDb, src: SourceTable, key: string): Item | undefined {
  const value = src.table.keyType === "int" && /^-?\d+$/.test(key) ? Number(key) : key;
  const row = db.prepare(`${src.select} WHERE ${q(src.table.key)} = ?`).get(value);
  return row ? toItem(src, row) : undefined;
}
