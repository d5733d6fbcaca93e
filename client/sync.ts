/**
 * One push: drains the Pi's tables in discoverTables' order (the mirrored
 * tables the server guards, then profiles and vehicle_info, then the tables
 * the server does not know, which it keeps in unmapped_rows), chunk by chunk.
 *
 * A chunk's local state (its mark, or its rows' hashes, and any quarantined
 * rows) is written in one transaction only after the server has accounted
 * for every row in it: accepted with a receipt whose counts add up, or
 * rejected on its own (then quarantined). Until then nothing local changes,
 * so a failure, a timeout, a crash or SIGKILL means the chunk is simply sent
 * again, and the server's upsert by (device, Pi key) makes that harmless.
 *
 * A 409 with conflicts (the server holds another database's rows under this
 * device id) stops that table with nothing changed locally but the recorded
 * conflict, and the unguarded tables (no identity the server could check)
 * are not sent for the rest of the run.
 */
import { KEY_ALIAS, type TableName } from "../lib/tables.ts";
import type { AgentConfig } from "./config.ts";
import { discoverTables, jsonText, readAppendChunk, readChangedChunk, readRow, rowHash, type Item, type Limits, type Skipped, type SourceTable } from "./delta.ts";
import { collectGarbage, sha256Hex as sha } from "./native.ts";
import type { SqliteDb } from "./sqlite.ts";
import {
  commitAppendChunk,
  commitMutableChunk,
  commitRetried,
  forgetSynced,
  initStore,
  readMark,
  readQuarantine,
  recordConflict,
  recordError,
  storedHash,
  type Rejection,
} from "./store.ts";
import { Stopped, type Shutdown } from "./shutdown.ts";
import { AuthError, DatabaseConflict, NotFound, ServerRefused, Unreachable, syncBody, type Problem, type SyncClient } from "./transport.ts";

/**
 * The most rows of one chunk that may be quarantined. More than this usually
 * means the server and the agent disagree (e.g. a column one of them lacks),
 * not that the rows are bad; the table then stops with an error instead of
 * quarantining everything. A smaller --batch-size gets genuinely bad rows past it.
 */
const QUARANTINE_LIMIT = 100;

/** conflict: the server holds another database's rows under this device id; skipped: not sent because of one. */
type TableStatus = "ok" | "failed" | "conflict" | "skipped" | "stopped" | "not-run";

type TableSummary = {
  table: string;
  /** A table the server mirrors; else it keeps the rows in unmapped_rows. */
  mirrored: boolean;
  status: TableStatus;
  /** Rows the server accepted in this run. */
  sent: number;
  inserted: number;
  updated: number;
  /** Rows quarantined in this run. */
  quarantined: number;
  /** Quarantined rows the server accepted on a retry. */
  released: number;
  /** Columns the server said it does not know (it keeps them in each row's extra). */
  unknownColumns: string[];
  error?: string;
};

export type PushResult = {
  tables: TableSummary[];
  /** Mirrored tables this database does not have (an older Pi); skipped. */
  missing: TableName[];
  /** Other tables of this database that cannot be sent, and why. */
  skipped: Skipped[];
  /** Why the run ended early (auth, unreachable server, stop signal), if it did. */
  halted?: Error;
};

export type PushContext = {
  db: SqliteDb;
  deviceId: string;
  config: Pick<AgentConfig, "batchSize" | "maxChunkBytes">;
  client: SyncClient;
  shutdown: Shutdown;
  /** Called after each chunk with the number of rows it settled. */
  onProgress?: (table: string, rows: number) => void;
};

/**
 * A chunk's batch id: deterministic for (device, table, span), so a retry is
 * recognisably the same batch, and at most 64 characters (a long device id
 * is replaced by a hash of it).
 */
export function batchId(deviceId: string, table: string, span: string): string {
  const full = `${deviceId}.${table}.${span}`;
  if (full.length <= 64) return full;
  const device = `~${sha(deviceId).slice(0, 12)}`;
  const short = `${device}.${table}.${span}`;
  return short.length <= 64 ? short : `${device}.${table}.~${sha(span).slice(0, 24)}`;
}

const keySpan = (items: Item[]) => `${items[0]!.key}-${items[items.length - 1]!.key}`;

/** Messages per row index for this table's rows, from a 422's problems. */
function rowsNamed(problems: Problem[], table: string, count: number): Map<number, string[]> {
  const named = new Map<number, string[]>();
  for (const p of problems) {
    if (p.table !== table || typeof p.row !== "number" || p.row < 0 || p.row >= count) continue;
    // "table realtime_data row 0 column value: …" reads better without the index of a one-row request.
    const message = p.message.replace(/^table \S+ row \d+ /, "");
    named.set(p.row, [...(named.get(p.row) ?? []), message]);
  }
  return named;
}

type Delivery = { accepted: Item[]; rejected: Rejection[]; inserted: number; updated: number; unknownColumns: Set<string> };

/**
 * Gets every item of a chunk accounted for. A 413 halves the chunk; a 422
 * naming rows resends the others and then each named row alone; a row still
 * rejected alone (or too large alone) is rejected. Throws when the server
 * refuses the request as a whole.
 */
async function deliver(ctx: PushContext, limits: Limits, src: SourceTable, id: string, items: Item[], lastSyncedId?: number): Promise<Delivery> {
  const out: Delivery = { accepted: [], rejected: [], inserted: 0, updated: 0, unknownColumns: new Set() };
  const key = src.mirrored || src.table.key === KEY_ALIAS ? undefined : src.table.key;
  const reject = (item: Item, error: string) => {
    if (out.rejected.length >= QUARANTINE_LIMIT) {
      throw new ServerRefused(
        `the server rejected more than ${QUARANTINE_LIMIT} rows of batch ${id} (first: ${out.rejected[0]!.error}); not quarantining them all, since that usually means the server and agent disagree`,
      );
    }
    out.rejected.push({ key: String(item.key), json: jsonText(item), error });
  };
  const halves = async (subset: Item[]) => {
    const mid = Math.ceil(subset.length / 2);
    await send(subset.slice(0, mid));
    await send(subset.slice(mid));
  };
  const send = async (subset: Item[]): Promise<void> => {
    const subsetId = subset === items ? id : batchId(ctx.deviceId, src.name, `${keySpan(subset)}.${sha(subset.map((i) => i.key).join()).slice(0, 8)}`);
    let lastDriveId: number | undefined;
    for (const i of subset) if (i.driveId !== undefined && i.driveId >= 0 && (lastDriveId === undefined || i.driveId > lastDriveId)) lastDriveId = i.driveId;
    const answer = await ctx.client.sync(syncBody({ deviceId: ctx.deviceId, batchId: subsetId, table: src.name, key, lastSyncedId, items: subset, lastDriveId }));

    if (answer.kind === "ok") {
      const c = Object.hasOwn(answer.tables, src.name) ? answer.tables[src.name] : undefined;
      if (c && c.errors === 0 && c.inserted + c.updated === subset.length) {
        out.accepted.push(...subset);
        out.inserted += c.inserted;
        out.updated += c.updated;
        for (const column of c.unknownColumns ?? []) out.unknownColumns.add(column);
        return;
      }
      if (!c || c.errors === 0) {
        throw new ServerRefused(`the receipt for batch ${subsetId} does not add up: sent ${subset.length} rows, receipt ${JSON.stringify(c ?? null)}`);
      }
      // The server kept some rows and not others without saying which: narrow it down.
      return subset.length === 1 ? reject(subset[0]!, `the server counted an error for this row (receipt ${JSON.stringify(c)})`) : halves(subset);
    }
    if (answer.kind === "malformed") {
      // The server could not read the body (e.g. text that is not UTF-8): narrow it down to the row.
      return subset.length === 1 ? reject(subset[0]!, `the server could not read this row: ${answer.detail}`) : halves(subset);
    }
    if (answer.kind === "too-large") {
      const bytes = subset.reduce((n, i) => n + i.json.length, 0);
      // Later chunks of this run start smaller instead of meeting the same 413.
      limits.maxBytes = Math.max(1024, Math.min(limits.maxBytes, Math.floor(bytes / 2)));
      return subset.length === 1 ? reject(subset[0]!, `too large for the server even alone (${bytes} bytes of JSON): ${answer.detail}`) : halves(subset);
    }
    const named = rowsNamed(answer.problems, src.name, subset.length);
    if (named.size === 0) throw new ServerRefused(`the server refused batch ${subsetId}: ${answer.detail}`);
    if (subset.length === 1) return reject(subset[0]!, named.get(0)!.join("; "));
    if (named.size === subset.length) return halves(subset);
    await send(subset.filter((_, i) => !named.has(i)));
    for (const i of named.keys()) await send([subset[i]!]);
  };
  await send(items);
  return out;
}

function checkStop(ctx: PushContext) {
  if (ctx.shutdown.stop.aborted) throw new Stopped("stopped before the next chunk");
}

function tally(s: TableSummary, d: Delivery, { retried = false } = {}) {
  s.sent += d.accepted.length;
  for (const column of d.unknownColumns) if (!s.unknownColumns.includes(column)) s.unknownColumns.push(column);
  s.inserted += d.inserted;
  s.updated += d.updated;
  // A retried row that is rejected again was already in quarantine.
  if (retried) s.released += d.accepted.length;
  else s.quarantined += d.rejected.length;
}

async function pushAppend(ctx: PushContext, limits: Limits, src: SourceTable, s: TableSummary) {
  for (;;) {
    checkStop(ctx);
    const mark = readMark(ctx.db, src.name);
    const items = readAppendChunk(ctx.db, src, mark, limits);
    if (!items.length) return;
    const last = items[items.length - 1]!.key as number;
    const id = batchId(ctx.deviceId, src.name, keySpan(items));
    const d = await deliver(ctx, limits, src, id, items, mark);
    commitAppendChunk(ctx.db, src.name, { first: items[0]!.key as number, mark: last, batchId: id, rejected: d.rejected });
    tally(s, d);
    ctx.onProgress?.(src.name, items.length);
    collectGarbage();
  }
}

async function pushMutable(ctx: PushContext, limits: Limits, src: SourceTable, s: TableSummary) {
  const stored = storedHash(ctx.db);
  let after: number | string | undefined;
  do {
    checkStop(ctx);
    const chunk = readChangedChunk(ctx.db, src, after, limits, stored);
    if (!chunk.items.length) return;
    const id = batchId(ctx.deviceId, src.name, `h${sha(chunk.items.map((i) => `${i.key}:${i.hash}`).join()).slice(0, 16)}`);
    const d = await deliver(ctx, limits, src, id, chunk.items);
    const hashOf = new Map(chunk.items.map((i) => [String(i.key), i.hash]));
    const intKeys = src.table.keyType === "int" ? d.accepted.map((i) => i.key as number) : [];
    commitMutableChunk(ctx.db, src.name, {
      batchId: id,
      accepted: d.accepted.map((i) => ({ key: String(i.key), hash: i.hash })),
      rejected: d.rejected.map((r) => ({ ...r, hash: hashOf.get(r.key)! })),
      mark: intKeys.length ? Math.max(...intKeys) : undefined,
    });
    tally(s, d);
    ctx.onProgress?.(src.name, chunk.items.length);
    collectGarbage();
    after = chunk.next;
  } while (after !== undefined);
}

/** Resends a table's quarantined rows: the Pi's current row when it still has it, else the copy kept in quarantine. */
async function retryQuarantined(ctx: PushContext, limits: Limits, src: SourceTable, s: TableSummary) {
  let after = 0;
  for (;;) {
    checkStop(ctx);
    const page = readQuarantine(ctx.db, src.name, after, limits.maxRows);
    if (!page.length) return;
    after = page[page.length - 1]!.rowid;
    const items = page.map((q): Item => {
      const saved = Buffer.from(q.json);
      return readRow(ctx.db, src, q.key) ?? { key: q.key, json: saved, hash: rowHash(saved) };
    });
    const id = batchId(ctx.deviceId, src.name, `q${sha(items.map((i) => `${i.key}:${rowHash(i.json)}`).join()).slice(0, 16)}`);
    const d = await deliver(ctx, limits, src, id, items);
    commitRetried(ctx.db, src.name, {
      batchId: id,
      accepted: d.accepted.map((i) => String(i.key)),
      rejected: d.rejected,
      hashes: src.table.mutable ? new Map(d.accepted.map((i) => [String(i.key), i.hash])) : undefined,
    });
    tally(s, d, { retried: true });
    ctx.onProgress?.(src.name, page.length);
    collectGarbage();
  }
}

/**
 * Pushes everything not yet on the server. Per-table problems (the server
 * refusing a table's rows) are recorded and the other tables continue; an
 * auth failure, a 404, an unreachable server or a stop signal ends the run.
 * `resendAll` first forgets what was synced (store.ts's forgetSynced).
 * The caller holds the push lock.
 */
export async function pushAll(ctx: PushContext, { retryQuarantined: retry = false, resendAll = false } = {}): Promise<PushResult> {
  const { present, missing, skipped } = discoverTables(ctx.db);
  initStore(ctx.db, present.map((p) => p.name));
  if (resendAll) forgetSynced(ctx.db, present.map((p) => p.name));
  const limits: Limits = { maxRows: ctx.config.batchSize, maxBytes: ctx.config.maxChunkBytes };
  const tables: TableSummary[] = [];
  let halted: Error | undefined;
  let conflicted: string | undefined;
  for (const src of present) {
    const s: TableSummary = { table: src.name, mirrored: src.mirrored, status: "not-run", sent: 0, inserted: 0, updated: 0, quarantined: 0, released: 0, unknownColumns: [] };
    tables.push(s);
    if (halted) continue;
    if (conflicted && !src.guarded) {
      s.status = "skipped";
      s.error = `not sent: the server holds another database's rows for ${conflicted}, and it cannot tell this table's rows from theirs`;
      continue;
    }
    try {
      if (retry) await retryQuarantined(ctx, limits, src, s);
      await (src.table.mutable ? pushMutable : pushAppend)(ctx, limits, src, s);
      s.status = "ok";
    } catch (err) {
      // Anything else (a local SQLite error, a bug) is not the server's answer: let the caller report it.
      if (!(err instanceof ServerRefused || err instanceof AuthError || err instanceof NotFound || err instanceof Unreachable || err instanceof Stopped)) throw err;
      s.error = err.message;
      if (err instanceof DatabaseConflict) {
        s.status = "conflict";
        conflicted = conflicted ? `${conflicted}, ${src.name}` : src.name;
        recordConflict(ctx.db, src.name, { deviceId: ctx.deviceId, detail: err.detail, conflicts: err.conflicts });
        continue;
      }
      s.status = err instanceof Stopped ? "stopped" : "failed";
      if (!(err instanceof Stopped)) recordError(ctx.db, src.name, err.message);
      if (!(err instanceof ServerRefused)) halted = err;
    }
  }
  return { tables, missing, skipped, halted };
}
