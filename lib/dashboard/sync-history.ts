/**
 * The sync history page's batches: newest first, a page at a time, each with
 * its per-table counts and which tables failed (sync_history.tables_synced).
 * Why a table failed is what the Pi reports (device-status.ts): the server
 * never stored a refused batch, and logs a failed one.
 */
import type { Pool } from "mariadb";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

type TableCounts = { inserted: number; updated: number; status: "success" | "failed"; attempts: number };

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
