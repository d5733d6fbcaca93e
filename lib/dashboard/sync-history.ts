/**
 * The sync history page's batches: newest first, a page at a time, each with
 * its per-table counts and which tables failed (sync_history.tables_synced).
 * Why a table failed is what the Pi reports (device-status.ts): the server
 * never stored a refused batch, and logs a failed one.
 */
import type { Pool } from "mariadb";
import type { TableHistory as TableCounts } from "../sync/write-batch.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

export type Batch = {
  batchId: string;
  deviceId: string;
  startedAt: Date;
  completedAt: Date | null;
  status: "success" | "failed" | "partial";
  rowsInserted: number;
  rowsUpdated: number;
  tables: Record<string, TableCounts>;
};

export type BatchQuery = { deviceIds: string[]; before?: Date; failedOnly?: boolean; limit: number };

const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;

/** One page of batches (started before `before`), newest first. */
export async function readBatches(pool: Pool, q: BatchQuery): Promise<Batch[]> {
  if (q.deviceIds.length === 0) return [];
  const rows: Record<string, unknown>[] = await pool.query(
    `SELECT batch_id, device_id, ${asText("started_at")} AS started_at, ${asText("completed_at")} AS completed_at, status, rows_inserted, rows_updated, tables_synced
     FROM sync_history WHERE device_id IN (${q.deviceIds.map(() => "?").join(", ")})
       ${q.before ? "AND started_at < ?" : ""} ${q.failedOnly ? "AND status <> 'success'" : ""}
     ORDER BY started_at DESC, batch_id DESC LIMIT ?`,
    [...q.deviceIds, ...(q.before ? [sqlTimestamp(q.before)] : []), q.limit],
  );
  return rows.map((r) => ({
    batchId: String(r.batch_id),
    deviceId: String(r.device_id),
    startedAt: fromSqlDatetime(String(r.started_at)),
    completedAt: r.completed_at === null ? null : fromSqlDatetime(String(r.completed_at)),
    status: r.status as Batch["status"],
    rowsInserted: Number(r.rows_inserted),
    rowsUpdated: Number(r.rows_updated),
    tables: (typeof r.tables_synced === "string" ? JSON.parse(r.tables_synced) : r.tables_synced) as Record<string, TableCounts>,
  }));
}

/** Batches looked through for unknown columns: a column the Pi still sends is in its latest ones. */
const UNKNOWN_BATCHES = 200;

export type KeptUnknown = {
  /** Tables the server does not mirror, their rows kept in unmapped_rows. */
  unmappedTables: { deviceId: string; table: string; rows: number; lastSyncedAt: Date }[];
  /** Columns the server does not know, kept in each row's `extra`, as the latest batches that brought them listed them. */
  unknownColumns: { deviceId: string; table: string; column: string; lastBatchAt: Date }[];
};

/** What the devices' syncs brought that the server keeps without knowing it yet. */
export async function readKeptUnknown(pool: Pool, deviceIds: string[]): Promise<KeptUnknown> {
  if (deviceIds.length === 0) return { unmappedTables: [], unknownColumns: [] };
  const list = deviceIds.map(() => "?").join(", ");
  const unmapped: Record<string, unknown>[] = await pool.query(
    `SELECT source_device, table_name, COUNT(*) AS n, ${asText("MAX(synced_at)")} AS last FROM unmapped_rows WHERE source_device IN (${list})
     GROUP BY source_device, table_name ORDER BY source_device, table_name`,
    deviceIds,
  );
  const batches: Record<string, unknown>[] = await pool.query(
    `SELECT device_id, ${asText("started_at")} AS started_at, tables_synced FROM sync_history
     WHERE device_id IN (${list}) AND tables_synced LIKE '%unknownColumns%' ORDER BY started_at DESC LIMIT ${UNKNOWN_BATCHES}`,
    deviceIds,
  );
  const columns = new Map<string, KeptUnknown["unknownColumns"][number]>();
  for (const b of batches) {
    const tables = (typeof b.tables_synced === "string" ? JSON.parse(b.tables_synced) : b.tables_synced) as Record<string, TableCounts>;
    for (const [table, t] of Object.entries(tables)) {
      for (const column of t.unknownColumns ?? []) {
        const key = JSON.stringify([b.device_id, table, column]);
        // Newest first: the first sighting is the latest.
        if (!columns.has(key)) columns.set(key, { deviceId: String(b.device_id), table, column, lastBatchAt: fromSqlDatetime(String(b.started_at)) });
      }
    }
  }
  return {
    unmappedTables: unmapped.map((r) => ({ deviceId: String(r.source_device), table: String(r.table_name), rows: Number(r.n), lastSyncedAt: fromSqlDatetime(String(r.last)) })),
    unknownColumns: [...columns.values()].sort((a, b) => a.deviceId.localeCompare(b.deviceId) || a.table.localeCompare(b.table) || a.column.localeCompare(b.column)),
  };
}
