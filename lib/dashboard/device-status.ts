/**
 * The Pi agent's report of itself: its version, what each table still has to
 * push (rows and the oldest one's time) and what it quarantined, sent with
 * POST /api/v1/devices/{deviceId}/status and kept as one row per device
 * (device_status), replaced by each report. Bounded: at most MAX_TABLES
 * tables, a sample of MAX_SAMPLE quarantined rows, and short texts; the agent
 * cuts its texts to fit (client/status-report.ts).
 */
import { z } from "@hono/zod-openapi";
import type { Pool } from "mariadb";
import { fromSqlDatetime, sqlTimestamp, toSqlDatetime } from "../time.ts";

export const MAX_TABLES = 64;
export const MAX_SAMPLE = 50;
export const MAX_ERROR = 500;
const MAX_KEY = 128;

const at = z
  .string()
  .refine((s) => toSqlDatetime(s) !== undefined, "must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
  .openapi({ example: "2026-11-22T10:00:00.000Z" });

/** Any table the agent knows, including ones this server does not mirror (yet). */
const TableName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be a table name: a-z, 0-9 and _, starting with a letter");

const count = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const StatusReportSchema = z
  .object({
    agentVersion: z.string().min(1).max(64).openapi({ example: "0.1.0" }),
    tables: z
      .array(
        z.object({
          table: TableName,
          pending: count.openapi({ description: "Rows not yet on the server" }),
          oldestUnsynced: at.nullable().openapi({ description: "The oldest pending row's time; null when none is pending or it has no time" }),
          quarantined: count.openapi({ description: "Rows the server refused, kept aside on the Pi" }),
          lastError: z.string().max(MAX_ERROR).nullable().openapi({ description: "Why the table's last push stopped, until it next succeeds" }),
          lastSyncedAt: at.nullable(),
        }),
      )
      .max(MAX_TABLES),
    quarantine: z
      .array(z.object({ table: TableName, key: z.string().max(MAX_KEY), error: z.string().max(MAX_ERROR), at: at.nullable() }))
      .max(MAX_SAMPLE)
      .openapi({ description: `Up to ${MAX_SAMPLE} of the quarantined rows: table, the row's key and the server's message` }),
  })
  .openapi("DeviceStatusReport");

export type StatusReport = z.infer<typeof StatusReportSchema>;

export type DeviceStatus = StatusReport & {
  deviceId: string;
  reportedAt: Date;
  pendingRows: number;
  quarantinedRows: number;
  /** The oldest unsynced row over the tables; null when nothing waits. */
  oldestUnsynced: Date | null;
};

/** Stores a device's report in place of its last one, and returns it as stored. */
export async function storeStatus(pool: Pool, deviceId: string, report: StatusReport, now: Date): Promise<DeviceStatus> {
  const pendingRows = report.tables.reduce((n, t) => n + t.pending, 0);
  const quarantinedRows = report.tables.reduce((n, t) => n + t.quarantined, 0);
  // The fixed-width form sorts as text, whatever zone each time was written in.
  const oldest = report.tables.flatMap((t) => (t.pending > 0 && t.oldestUnsynced ? [toSqlDatetime(t.oldestUnsynced)!] : [])).sort()[0] ?? null;
  await pool.query(
    `INSERT INTO device_status (device_id, agent_version, reported_at, pending_rows, oldest_unsynced, quarantined_rows, tables, quarantine)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE agent_version = VALUES(agent_version), reported_at = VALUES(reported_at), pending_rows = VALUES(pending_rows),
       oldest_unsynced = VALUES(oldest_unsynced), quarantined_rows = VALUES(quarantined_rows), tables = VALUES(tables), quarantine = VALUES(quarantine)`,
    [deviceId, report.agentVersion, sqlTimestamp(now), pendingRows, oldest, quarantinedRows, JSON.stringify(report.tables), JSON.stringify(report.quarantine)],
  );
  return { ...report, deviceId, reportedAt: now, pendingRows, quarantinedRows, oldestUnsynced: oldest ? fromSqlDatetime(oldest) : null };
}

const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;
const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);

/** The last reports of these devices (all when undefined), by device id. */
export async function readStatuses(pool: Pool, deviceIds?: string[]): Promise<Map<string, DeviceStatus>> {
  if (deviceIds && deviceIds.length === 0) return new Map();
  const rows: Record<string, unknown>[] = await pool.query(
    `SELECT device_id, agent_version, ${asText("reported_at")} AS reported_at, pending_rows, ${asText("oldest_unsynced")} AS oldest_unsynced,
       quarantined_rows, tables, quarantine
     FROM device_status${deviceIds ? ` WHERE device_id IN (${deviceIds.map(() => "?").join(", ")})` : ""}`,
    deviceIds ?? [],
  );
  return new Map(
    rows.map((r) => [
      String(r.device_id),
      {
        deviceId: String(r.device_id),
        agentVersion: String(r.agent_version),
        reportedAt: fromSqlDatetime(String(r.reported_at)),
        pendingRows: Number(r.pending_rows),
        quarantinedRows: Number(r.quarantined_rows),
        oldestUnsynced: r.oldest_unsynced === null ? null : fromSqlDatetime(String(r.oldest_unsynced)),
        tables: json(r.tables),
        quarantine: json(r.quarantine),
      },
    ]),
  );
}
