/**
 * Writes one /sync batch into MySQL: a single transaction that validates and
 * upserts every table's rows by (source_device, source_id) with bulk
 * statements, and merges the batch into sync_history. Either all of it lands
 * or none of it does: invalid rows roll the whole batch back (RowsInvalid).
 *
 * Rows are validated and written in slices on one connection: while MariaDB
 * writes a slice, the next one is validated, so the CPU work of validation
 * overlaps the database's instead of adding to it.
 *
 * A bad body holds nothing while it is validated. The transaction (the
 * device's turn in the in-process queue, a pooled connection, BEGIN, the
 * device's row lock, the history row) is opened only once the first slice has
 * validated, so a body that is bad from its first rows never touches the
 * database. At the first invalid row the transaction is rolled back and all of
 * it released at once; validation then goes on with nothing held, only to
 * count the problems (the first MAX_PROBLEMS are kept), yielding to the event
 * loop after every slice as it always does.
 *
 * Exact counts: before a table's upsert the transaction counts which of the
 * batch's keys already exist. That count is exact because every sync of a
 * device first takes that device's row lock in `devices`, so a device's
 * batches run one at a time, and other devices never touch its keys.
 *
 * Another database's rows: for a table with identity columns (lib/tables.ts)
 * the same look at the existing keys reads their identity values instead of
 * counting them, and a key whose stored values differ from the sent ones
 * refuses the whole batch (DifferentDatabase, 409). Keys that do not exist
 * yet return nothing, so a first insert costs what the count did.
 */
import type { PoolConnection, Pool } from "mariadb";
import { DriveTouches, recordDrives } from "../drives/track.ts";
import { ApiError } from "../http/errors.ts";
import type { Turn } from "./device-queue.ts";
import { SLICE_ROWS, type Rows } from "./lazy-rows.ts";
import { Problems, validateRows, validateUnmappedRows, type SyncRow, type UnmappedRow } from "./row-schemas.ts";
import { EXTRA_COLUMN, TABLES, type MirroredTable, type TableName } from "../tables.ts";
import { sqlTimestamp, type Clock } from "../time.ts";

type TableReceipt = {
  inserted: number;
  updated: number;
  errors: number;
  /** Columns the server does not know, kept in the rows' `extra`. */
  unknownColumns?: string[];
  /** The table is not mirrored: its rows were kept in unmapped_rows. */
  unmapped?: true;
};


export type SyncBatch = {
  deviceId: string;
  batchId: string;
  lastDriveId?: number | null;
  /** Rows as received (an array, or a body's rows parsed a slice at a time); writeBatch validates them. */
  tables: { table: MirroredTable; rows: Rows }[];
  /** Tables the server does not know, with their rows' key column. */
  unmapped?: { name: string; key: string; rows: Rows }[];
};

/** The batch had invalid rows; it was rolled back and nothing was stored. */
export class RowsInvalid extends Error {
  constructor(readonly problems: Problems) {
    super(`${problems.count} invalid row values`);
  }
}

/** A key the device already has on the server, whose stored identity values differ from the ones sent. */
export type Conflict = { table: string; id: number | string; stored: Record<string, unknown>; sent: Record<string, unknown> };

/** How many conflicts a 409 lists. */
const MAX_CONFLICTS = 5;

/** The batch would overwrite rows that came from another database; it was rolled back and nothing was stored. */
export class DifferentDatabase extends Error {
  constructor(
    readonly conflicts: Conflict[],
    /** All conflicting keys found, of which `conflicts` lists the first MAX_CONFLICTS. */
    readonly total: number,
  ) {
    super(`${total} rows conflict with the device's stored rows`);
  }
}

const q = (name: string) => `\`${name}\``;

/** Identifiers come only from lib/tables.ts, never from the request. */
function upsertStatement(t: MirroredTable): string {
  const columns = ["source_id", ...t.columns.map((c) => c.name), EXTRA_COLUMN, "source_device", "synced_at", "sync_batch_id"];
  const updates = columns.filter((c) => c !== "source_id" && c !== "source_device").map((c) => `${q(c)} = VALUES(${q(c)})`);
  return `INSERT INTO ${q(t.name)} (${columns.map(q).join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON DUPLICATE KEY UPDATE ${updates.join(", ")}`;
}

const UPSERT = Object.fromEntries(TABLES.map((t) => [t.name, upsertStatement(t)])) as Record<TableName, string>;

// Rows are validated and written SLICE_ROWS (1,000) at a time: small enough that validation and writing
// overlap well, large enough that the bulk statements stay efficient (measured: 1,000 beats 2,500 and 5,000).
// Slices written but not yet confirmed: enough that the next slice is validated while MariaDB writes,
// few enough that a large body's parameter rows never pile up in the driver's queue.
const IN_FLIGHT = 2;
// Slices counted between full collections on Bun (see collectGarbage).
const COLLECT_EVERY = 200;
// Keys per IN (…) when counting existing rows.
const IN_LIST = 1000;

/**
 * WHERE clauses (after `source_device = ?`) that together select `keys`,
 * with their parameters: one range when integer keys fill it, else IN lists.
 */
function keyFilters(keys: (number | string)[], intKeys: boolean): [string, unknown[]][] {
  if (intKeys && keys.length) {
    const ints = keys as number[];
    let min = ints[0]!;
    let max = min;
    for (const k of ints) {
      if (k < min) min = k;
      if (k > max) max = k;
    }
    // Keys are distinct, so a batch that fills its whole range can be selected by range, a cheap index scan.
    if (max - min + 1 === ints.length) return [["source_id BETWEEN ? AND ?", [min, max]]];
  }
  const filters: [string, unknown[]][] = [];
  for (let i = 0; i < keys.length; i += IN_LIST) {
    const slice = keys.slice(i, i + IN_LIST);
    filters.push([`source_id IN (${slice.map(() => "?").join(", ")})`, slice]);
  }
  return filters;
}

/** How many of `keys` exist in `table` for the device (and, in unmapped_rows, the table name `scope`). */
async function countExisting(conn: PoolConnection, table: string, intKeys: boolean, scope: [string, string][], keys: (number | string)[]): Promise<number> {
  const where = scope.map(([column]) => `${q(column)} = ? AND `).join("");
  let n = 0;
  for (const [filter, params] of keyFilters(keys, intKeys)) {
    const [row] = await conn.query(`SELECT COUNT(*) AS n FROM ${q(table)} WHERE ${where}${filter}`, [...scope.map(([, v]) => v), ...params]);
    n += Number(row.n);
  }
  return n;
}

/** The stored identity values of those of `keys` the device already has, as the server stores them (datetimes as DATETIME(6) text). */
async function storedIdentities(conn: PoolConnection, t: MirroredTable, deviceId: string, keys: (number | string)[]): Promise<Record<string, unknown>[]> {
  const columns = ["source_id", ...t.identity].map(q).join(", ");
  const stored: Record<string, unknown>[] = [];
  for (const [filter, params] of keyFilters(keys, t.keyType === "int")) {
    const rows = await conn.query({ sql: `SELECT ${columns} FROM ${q(t.name)} WHERE source_device = ? AND ${filter}`, dateStrings: true }, [deviceId, ...params]);
    for (const row of rows) stored.push(row);
  }
  return stored;
}

const same = (a: unknown, b: unknown) => (typeof a === "bigint" ? Number(a) : a) === (typeof b === "bigint" ? Number(b) : b);

/** Adds to `found` each stored row whose identity differs from the row sent under its key; values compare as stored (validation normalised the sent ones). */
function collectConflicts(t: MirroredTable, stored: Record<string, unknown>[], slice: SyncRow[], found: { list: Conflict[]; total: number }) {
  if (stored.length === 0) return;
  const sent = new Map(slice.map((r) => [String(r[t.key]), r]));
  for (const row of stored) {
    const mine = sent.get(String(row.source_id))!;
    if (t.identity.every((c) => same(row[c], mine[c]))) continue;
    found.total++;
    if (found.list.length < MAX_CONFLICTS) {
      const pick = (r: Record<string, unknown>) => Object.fromEntries(t.identity.map((c) => [c, typeof r[c] === "bigint" ? Number(r[c]) : r[c]]));
      found.list.push({ table: t.name, id: mine[t.key] as number | string, stored: pick(row), sent: pick(mine) });
    }
  }
}

/**
 * How many of the slice's keys the device already has. For a table with
 * identity columns it reads their identity values and records conflicts;
 * the statement is issued now, before the slice's upsert on the same
 * connection, so it sees the rows as they were.
 */
function existingKeys(conn: PoolConnection, t: MirroredTable, deviceId: string, slice: SyncRow[], conflicts: { list: Conflict[]; total: number }): Promise<number> {
  const keys = slice.map((r) => r[t.key] as number | string);
  if (keys.length === 0) return Promise.resolve(0);
  if (t.identity.length === 0) return countExisting(conn, t.name, t.keyType === "int", [["source_device", deviceId]], keys);
  return storedIdentities(conn, t, deviceId, keys).then((stored) => {
    collectConflicts(t, stored, slice, conflicts);
    return stored.length;
  });
}

/**
 * One parameter row per Pi row, every value a string or NULL. The driver's
 * bulk protocol declares parameter types once per command and starts a new
 * command whenever a row's types differ (an integral 0 next to 912.5, a NULL
 * next to a number), which fragments a batch into many round trips. Strings
 * keep one type throughout; String(number) is the shortest representation
 * that reads back as the same double, so MySQL stores exactly the number sent.
 */
function parameterRows(t: MirroredTable, rows: SyncRow[], provenance: [string, string, string]): (string | null)[][] {
  const names = [t.key, ...t.columns.map((c) => c.name), EXTRA_COLUMN];
  return rows.map((row) => {
    const values: (string | null)[] = new Array(names.length + 3);
    for (let i = 0; i < names.length; i++) {
      const v = row[names[i]!];
      values[i] = v === null || v === undefined ? null : String(v);
    }
    values[names.length] = provenance[0];
    values[names.length + 1] = provenance[1];
    values[names.length + 2] = provenance[2];
    return values;
  });
}

/** How many unknown column names a receipt lists per table (a row can only bring so many, but a hostile one could bring thousands). */
const MAX_UNKNOWN_LISTED = 100;

function receipt(valid: number, updated: number, unknown: Set<string>): TableReceipt {
  const out: TableReceipt = { inserted: valid - updated, updated, errors: 0 };
  if (unknown.size) out.unknownColumns = [...unknown].sort().slice(0, MAX_UNKNOWN_LISTED);
  return out;
}

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/**
 * Bun's collector lets the garbage of a long count (parsed rows, zod's
 * issues) grow the heap to several times what is alive: 3.3 million bad rows
 * took RSS from 80 to 160 MB. A full collection every COLLECT_EVERY slices
 * (about a second of counting, a few milliseconds each) keeps it near the
 * live size. Node's collector needs no help.
 */
function collectGarbage(slice: number) {
  if (isBun && slice % COLLECT_EVERY === 0) Bun.gc(true);
}

/**
 * Validates and upserts one table's rows, a slice at a time. The connection
 * runs its statements in order, so each slice's look at existing keys sees
 * the table before that slice's upsert. After the first problem nothing more
 * is written (the transaction is let go at once), but validation goes on so
 * every problem is counted.
 */
async function upsertTable(
  tx: Transaction,
  t: MirroredTable,
  batch: SyncBatch,
  rows: Rows,
  syncedAt: string,
  problems: Problems,
  conflicts: { list: Conflict[]; total: number },
  drives: DriveTouches,
): Promise<TableReceipt> {
  const seen = new Map<unknown, number>();
  const unknown = new Set<string>();
  const counts: Promise<number>[] = [];
  const writes: Promise<unknown>[] = [];
  let valid = 0;
  for (let from = 0; from < rows.length; from += SLICE_ROWS) {
    const slice = validateRows(t, rows.slice(from, from + SLICE_ROWS), from, seen, problems, unknown);
    if (problems.count === 0) {
      const { conn } = await tx.open();
      if (writes.length >= IN_FLIGHT) await writes[writes.length - IN_FLIGHT];
      valid += slice.length;
      drives.see(t.name, slice);
      counts.push(tx.started(existingKeys(conn, t, batch.deviceId, slice, conflicts)));
      writes.push(tx.started(conn.batch(UPSERT[t.name], parameterRows(t, slice, [batch.deviceId, syncedAt, batch.batchId]))));
    } else {
      tx.release();
      collectGarbage(from / SLICE_ROWS);
    }
    // Let the statements go out on the socket before the next slice keeps the CPU busy (and other requests in).
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (problems.count) return { inserted: 0, updated: 0, errors: 0 };
  const updated = (await Promise.all(counts)).reduce((n, c) => n + c, 0);
  await Promise.all(writes);
  return receipt(valid, updated, unknown);
}

const UPSERT_UNMAPPED =
  "INSERT INTO unmapped_rows (source_device, table_name, source_id, data, synced_at, sync_batch_id) VALUES (?, ?, ?, ?, ?, ?) " +
  "ON DUPLICATE KEY UPDATE data = VALUES(data), synced_at = VALUES(synced_at), sync_batch_id = VALUES(sync_batch_id)";

/**
 * Keeps the rows of a table the server does not know in unmapped_rows,
 * upserted by (device, table, key) like a mirrored table's. There is no
 * identity to compare, so a row is replaced by whatever is sent under its key.
 */
async function upsertUnmapped(tx: Transaction, table: { name: string; key: string; rows: Rows }, batch: SyncBatch, syncedAt: string, problems: Problems): Promise<TableReceipt> {
  const seen = new Map<string, number>();
  let valid = 0;
  let updated = 0;
  for (let from = 0; from < table.rows.length; from += SLICE_ROWS) {
    const slice: UnmappedRow[] = validateUnmappedRows(table.name, table.key, table.rows.slice(from, from + SLICE_ROWS), from, seen, problems);
    if (problems.count === 0 && slice.length) {
      const { conn } = await tx.open();
      valid += slice.length;
      updated += await tx.started(countExisting(conn, "unmapped_rows", false, [["source_device", batch.deviceId], ["table_name", table.name]], slice.map((r) => r.sourceId)));
      await tx.started(conn.batch(UPSERT_UNMAPPED, slice.map((r) => [batch.deviceId, table.name, r.sourceId, r.data, syncedAt, batch.batchId])));
    } else if (problems.count) {
      tx.release();
      collectGarbage(from / SLICE_ROWS);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { ...receipt(valid, updated, new Set()), unmapped: true };
}

/** Creates or touches the device row. Its row lock, held to commit, serialises the device's batches. */
async function touchDevice(conn: PoolConnection, batch: SyncBatch, now: string) {
  await conn.query(
    `INSERT INTO devices (device_id, last_seen, last_drive_id, created_at) VALUES (?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE last_seen = VALUES(last_seen),
       last_drive_id = CASE WHEN VALUES(last_drive_id) IS NULL THEN last_drive_id
                            WHEN last_drive_id IS NULL THEN VALUES(last_drive_id)
                            ELSE GREATEST(last_drive_id, VALUES(last_drive_id)) END`,
    [batch.deviceId, now, batch.lastDriveId ?? null, now],
  );
}

/** A table's line in sync_history.tables_synced (lib/dashboard/sync-history.ts reads it). */
export type TableHistory = { inserted: number; updated: number; status: "success" | "failed"; attempts: number; unknownColumns?: string[]; unmapped?: true };
type History = Record<string, TableHistory>;

/** Locks (creating if new) the batch's sync_history row. A batchId belongs to one device. */
async function lockHistory(conn: PoolConnection, batch: SyncBatch, startedAt: string): Promise<History> {
  await conn.query(
    "INSERT IGNORE INTO sync_history (batch_id, device_id, started_at, tables_synced, status) VALUES (?, ?, ?, '{}', 'failed')",
    [batch.batchId, batch.deviceId, startedAt],
  );
  const [row] = await conn.query("SELECT device_id, tables_synced FROM sync_history WHERE batch_id = ? FOR UPDATE", [
    batch.batchId,
  ]);
  if (row.device_id !== batch.deviceId) {
    throw new ApiError(409, `batchId ${batch.batchId} was already used by another device`, { batchId: batch.batchId });
  }
  return typeof row.tables_synced === "string" ? JSON.parse(row.tables_synced) : row.tables_synced;
}

/**
 * Adds this attempt to the batch's history: counts accumulate per table, each
 * table keeps the status of its latest attempt, and the batch is success when
 * all its tables succeeded, failed when none did, partial otherwise.
 */
async function saveHistory(conn: PoolConnection, batchId: string, prior: History, attempt: Record<string, TableReceipt | undefined>, completedAt: string) {
  const tables = { ...prior };
  for (const [name, receipt] of Object.entries(attempt)) {
    // Own keys only: an unmapped table may be called "constructor".
    const before = Object.hasOwn(tables, name) ? tables[name]! : { inserted: 0, updated: 0, status: "failed" as const, attempts: 0 };
    tables[name] = {
      inserted: before.inserted + (receipt?.inserted ?? 0),
      updated: before.updated + (receipt?.updated ?? 0),
      status: receipt ? "success" : "failed",
      attempts: before.attempts + 1,
      // What the server kept without knowing it, for the dashboard's sync history.
      ...(receipt?.unknownColumns ?? before.unknownColumns ? { unknownColumns: receipt?.unknownColumns ?? before.unknownColumns } : {}),
      ...(receipt?.unmapped ?? before.unmapped ? { unmapped: true as const } : {}),
    };
  }
  const all = Object.values(tables);
  const ok = all.filter((t) => t.status === "success").length;
  const status = ok === all.length ? "success" : ok === 0 ? "failed" : "partial";
  const sum = (k: "inserted" | "updated") => all.reduce((n, t) => n + t[k], 0);
  await conn.query(
    "UPDATE sync_history SET completed_at = ?, tables_synced = ?, rows_inserted = ?, rows_updated = ?, status = ? WHERE batch_id = ?",
    [completedAt, JSON.stringify(tables), sum("inserted"), sum("updated"), status, batchId],
  );
}

const isLockConflict = (err: unknown) => [1205, 1213].includes((err as { errno?: number }).errno ?? 0); // lock wait timeout, deadlock
// InnoDB picks a deadlock victim; running the whole transaction again is the documented remedy.
const ATTEMPTS = 3;

/**
 * A batch's transaction, opened on first use: the device's turn, a
 * connection, BEGIN, the device row and the batch's history row locked.
 * release() rolls back and lets go of all of it (at once, and only once).
 */
type Transaction = {
  open(): Promise<{ conn: PoolConnection; history: History }>;
  /** A statement started now and awaited later; marked handled, so its failure is not reported as unhandled before then. */
  started<T>(statement: Promise<T>): Promise<T>;
  commit(): Promise<void>;
  release(): void;
};

function transaction(pool: Pool, batch: SyncBatch, at: string, turn: Turn): Transaction {
  let opened: Promise<{ conn: PoolConnection; history: History }> | undefined;
  let conn: PoolConnection | undefined;
  let endTurn: (() => void) | undefined;
  let inFlight: Promise<unknown>[] = [];
  const letGo = () => {
    const held = conn;
    const pending = inFlight;
    conn = undefined;
    inFlight = [];
    // The rollback waits for the statements still in flight: one sent after it would run outside the
    // transaction, in autocommit. The connection goes back to the pool after the rollback.
    if (held) void Promise.allSettled(pending).then(() => held.rollback().catch(() => {})).finally(() => held.release().catch(() => {}));
    endTurn?.();
    endTurn = undefined;
  };
  return {
    started(statement) {
      statement.catch(() => {});
      inFlight.push(statement);
      return statement;
    },
    open: () =>
      (opened ??= (async () => {
        endTurn = await turn(batch.deviceId);
        conn = await pool.getConnection();
        await conn.beginTransaction();
        await touchDevice(conn, batch, at);
        return { conn, history: await lockHistory(conn, batch, at) };
      })()),
    async commit() {
      const held = conn!;
      await held.commit();
      conn = undefined;
      await held.release();
      letGo();
    },
    release: letGo,
  };
}

async function inTransaction<T>(pool: Pool, batch: SyncBatch, at: string, work: (tx: Transaction) => Promise<T>, turn: Turn): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const tx = transaction(pool, batch, at, turn);
    try {
      const out = await work(tx);
      await tx.commit();
      return out;
    } catch (err) {
      if (attempt < ATTEMPTS && isLockConflict(err)) continue;
      throw err;
    } finally {
      tx.release();
    }
  }
}

export type BatchReceipt = {
  /** Per table, mirrored and unmapped, in the order of the request. */
  tables: Record<string, TableReceipt>;
  /** The batch's connection_log rows include a drive_end event. */
  driveDataReceived: boolean;
  /** The batch brought rows of at least one drive (lib/drives/track.ts): the worker has drives to look at. */
  drivesTouched: boolean;
  /** Drives the batch closed, by their drive_end or the next drive's start; the worker summarises each and queues its analysis. */
  drivesClosed: number;
};

/** The connection_log rows that end a drive, read a slice at a time. */
function driveEnds(rows: Rows): unknown[] {
  const ends: unknown[] = [];
  for (let from = 0; from < rows.length; from += SLICE_ROWS) {
    for (const row of rows.slice(from, from + SLICE_ROWS)) if ((row as { event_type?: unknown }).event_type === "drive_end") ends.push(row);
  }
  return ends;
}

/** No queue: for callers that serialise a device's batches themselves. */
const anyTime: Turn = async () => () => {};

/**
 * Validates and writes the batch atomically; returns exact per-table counts,
 * or throws RowsInvalid or DifferentDatabase. The drives the rows belong
 * to are recorded (and closed) in the same transaction, so a drive exists
 * exactly when its rows do. `turn` is the device's place in line, waited for
 * before the transaction opens.
 */
export function writeBatch(pool: Pool, batch: SyncBatch, startedAt: Date, clock: Clock, turn: Turn = anyTime): Promise<BatchReceipt> {
  const syncedAt = sqlTimestamp(startedAt);
  return inTransaction(
    pool,
    batch,
    syncedAt,
    async (tx) => {
      const receipts: Record<string, TableReceipt> = Object.create(null);
      const problems = new Problems();
      const conflicts = { list: [] as Conflict[], total: 0 };
      const drives = new DriveTouches();
      for (const { table, rows } of batch.tables) receipts[table.name] = await upsertTable(tx, table, batch, rows, syncedAt, problems, conflicts, drives);
      for (const table of batch.unmapped ?? []) receipts[table.name] = await upsertUnmapped(tx, table, batch, syncedAt, problems);
      if (problems.count) throw new RowsInvalid(problems);
      if (conflicts.total) throw new DifferentDatabase(conflicts.list, conflicts.total);
      // A batch without rows opens its transaction here, to record itself.
      const { conn, history } = await tx.open();
      const connectionLog = batch.tables.find((t) => t.table.name === "connection_log")?.rows ?? [];
      const found = await recordDrives(conn, batch.deviceId, batch.batchId, drives, syncedAt);
      await saveHistory(conn, batch.batchId, history, receipts, sqlTimestamp(clock.now()));
      return { tables: receipts, driveDataReceived: driveEnds(connectionLog).length > 0, drivesTouched: found.touched, drivesClosed: found.closed };
    },
    turn,
  );
}

/** After a failed writeBatch: records the attempt as failed for its tables (nothing else was kept). */
export function recordFailure(pool: Pool, batch: SyncBatch, startedAt: Date, clock: Clock, turn: Turn = anyTime): Promise<void> {
  return inTransaction(
    pool,
    batch,
    sqlTimestamp(startedAt),
    async (tx) => {
      const { conn, history } = await tx.open();
      const names = [...batch.tables.map((t) => t.table.name), ...(batch.unmapped ?? []).map((t) => t.name)];
      await saveHistory(conn, batch.batchId, history, Object.fromEntries(names.map((name) => [name, undefined])), sqlTimestamp(clock.now()));
    },
    turn,
  );
}
