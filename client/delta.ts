/**
 * What is not on the server yet. Reads the Pi's tables (never writes them)
 * in short statements of at most PAGE_ROWS rows, so the logger writing at
 * the same moment is never held up for long.
 *
 * - Append-only tables: the rows with id > the table's mark, in id order.
 * - Mutable tables (text keys, calibration_sessions, dtc_log,
 *   battery_health_log): every row whose hash differs from the hash stored
 *   when the server last accepted it.
 *
 * Every column the Pi's table has is sent: the server keeps the ones it does
 * not know in the row's `extra`. A mirrored table an older Pi lacks is
 * skipped. A table the server does not know is sent too (the server keeps
 * it in unmapped_rows), unless it is the Pi's own (PI_ONLY_TABLES), the
 * agent's, or SQLite's; with an INTEGER PRIMARY KEY it is appended by id,
 * with another single-column key it is hash-tracked, and without one it is
 * skipped (see docs/client.md, "Tables the server does not know").
 */
import { PI_ONLY_TABLES, TABLES, UNMAPPED_TABLE_NAME, type MirroredTable, type TableName } from "../lib/tables.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { sha256Hex } from "./native.ts";
import type { Row, SqliteDb } from "./sqlite.ts";
import { AGENT_TABLES } from "./store.ts";

/** Rows per SELECT: bounds both memory and how long one read holds the database. */
const PAGE_ROWS = 500;

/** How a table is drained: what lib/tables.ts says of a mirrored one, what its primary key says of another. */
type Drain = Pick<MirroredTable, "key" | "keyType" | "mutable"> & { name: string };

export type SourceTable = {
  table: Drain;
  name: string;
  /** A table the server mirrors (else it keeps the rows in unmapped_rows). */
  mirrored: boolean;
  /** The server refuses another database's rows for this table (409): it has identity columns. */
  guarded: boolean;
  /** The key column, then the data columns this Pi's table has: lib/tables.ts's first, in its order, then the others. */
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

function columnsOf(db: SqliteDb, table: string): { name: string; type: string; pk: number }[] {
  return db.prepare("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid").all(table).map((r) => ({ name: String(r.name), type: String(r.type), pk: Number(r.pk) }));
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

/** A table of this database that is not sent, and why. */
export type Skipped = { table: string; reason: string };

const NOT_SENT = new Set<string>([...PI_ONLY_TABLES, ...AGENT_TABLES]);

/** How an unknown table can be drained, from its primary key; a string says why it cannot. */
function drainOf(db: SqliteDb, name: string, columns: { name: string; type: string; pk: number }[]): Drain | string {
  if (!UNMAPPED_TABLE_NAME.test(name)) return `the server keeps only tables named like ${UNMAPPED_TABLE_NAME.source}`;
  const pk = columns.filter((c) => c.pk > 0);
  if (pk.length !== 1) return pk.length ? "its primary key has several columns" : "it has no primary key to tell its rows apart";
  const key = pk[0]!;
  const sql = String(db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name)?.sql ?? "");
  // INTEGER PRIMARY KEY in a rowid table is the rowid: new rows get higher ids, so the table can be appended by id.
  const rowid = key.type.toUpperCase() === "INTEGER" && !/\bWITHOUT\s+ROWID\b/i.test(sql);
  return { name, key: key.name, keyType: key.type.toUpperCase() === "INTEGER" ? "int" : "text", mutable: !rowid };
}

/**
 * The tables this database has that are sent, the mirrored ones it lacks,
 * and the others that cannot be sent. Sent first are the tables the server
 * guards against another database's rows (in lib/tables.ts order, parents
 * first), then profiles and vehicle_info, then the tables the server does
 * not know: a database that is not this device's meets its 409 before
 * anything unguarded is sent, and sync.ts then holds the unguarded back.
 */
export function discoverTables(db: SqliteDb): { present: SourceTable[]; missing: TableName[]; skipped: Skipped[] } {
  const present: SourceTable[] = [];
  const missing: TableName[] = [];
  const skipped: Skipped[] = [];
  for (const table of TABLES) {
    const have = columnsOf(db, table.name);
    if (!have.some((c) => c.name === table.key)) {
      missing.push(table.name);
      continue;
    }
    const data = table.columns.filter((c) => have.some((h) => h.name === c.name));
    const known = new Set([table.key, ...data.map((c) => c.name)]);
    const columns = [table.key, ...data.map((c) => c.name), ...have.map((c) => c.name).filter((c) => !known.has(c))];
    const datetimes = data.filter((c) => c.type.kind === "datetime").map((c) => c.name);
    const drive = columns.includes("drive_id") ? ', "drive_id" AS d' : "";
    present.push({
      table,
      name: table.name,
      mirrored: true,
      guarded: table.identity.length > 0,
      columns,
      // A profile edited today is "unsynced since today", not since it was created.
      timeColumn: table.mutable && datetimes.includes("updated_at") ? "updated_at" : datetimes[0],
      select: `SELECT ${q(table.key)} AS k${drive}, ${rowJson(columns)} AS j FROM ${q(table.name)}`,
    });
  }
  const others = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .all()
    .map((r) => String(r.name))
    .filter((name) => !TABLES.some((t) => t.name === name) && !NOT_SENT.has(name));
  for (const name of others) {
    const have = columnsOf(db, name);
    const drain = drainOf(db, name, have);
    if (typeof drain === "string") {
      skipped.push({ table: name, reason: drain });
      continue;
    }
    const columns = [drain.key, ...have.map((c) => c.name).filter((c) => c !== drain.key)];
    present.push({ table: drain, name, mirrored: false, guarded: false, columns, select: `SELECT ${q(drain.key)} AS k, ${rowJson(columns)} AS j FROM ${q(name)}` });
  }
  const rank = (s: SourceTable) => (s.guarded ? 0 : s.mirrored ? 1 : 2);
  // Array.prototype.sort is stable: within each rank the order above stays.
  return { present: present.sort((a, b) => rank(a) - rank(b)), missing, skipped };
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

export type StoredHash = (table: string, key: string) => string | undefined;

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
