/**
 * What the overview shows per device: the last sync and how many rows came
 * today and in all, the Pi's own backlog (device-status.ts), the last
 * backup, and the analysis queue; plus the devices a session may see. Every
 * query reads the small per-batch and per-job tables, never raw readings.
 */
import type { Pool } from "mariadb";
import type { Db } from "../db/pools.ts";
import type { Auth } from "../http/env.ts";
import { listBackups, type StoredBackup } from "../backup/store.ts";
import { checkKey, readChecks, type BackupCheck } from "../backup/checks.ts";
import { readStatuses, type DeviceStatus } from "./device-status.ts";
import { listDrives, type Drive } from "../drives/list.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;
const dateOrNull = (v: unknown) => (v === null || v === undefined ? null : fromSqlDatetime(String(v)));

/** The devices a session sees: its own for a device; for the admin, every device the server has heard of. */
export async function visibleDevices(pool: Pool, auth: Auth): Promise<string[]> {
  if (auth.kind === "device") return [auth.deviceId];
  const rows: { id: string }[] = await pool.query(
    `SELECT device_id AS id FROM devices UNION SELECT DISTINCT device_id FROM sync_history UNION SELECT device_id FROM device_status ORDER BY id`,
  );
  return rows.map((r) => r.id);
}

type LastSync = { batchId: string; status: string; startedAt: Date; completedAt: Date | null; rows: number };

export type DeviceOverview = {
  deviceId: string;
  /** The last batch that succeeded, and the last attempt when that one did not. */
  lastSuccess: LastSync | null;
  lastAttempt: LastSync | null;
  /** Rows inserted plus updated, by batches completed since `dayStart`, and by all batches. */
  rowsToday: number;
  rowsTotal: number;
  status: DeviceStatus | null;
  lastBackup: (StoredBackup & { check: BackupCheck | null }) | null;
  /** analysis_jobs per state. */
  queue: Record<"pending" | "running" | "completed" | "failed", number>;
  /** jobState: the state of the job that made it (null for one asked through the API); a failed analysis whose job is pending is tried again. */
  lastAnalysis: { analysisId: number; status: string; createdAt: Date; completedAt: Date | null; jobState: string | null } | null;
  lastDrive: Drive | null;
};

type SyncRow = { batch_id: string; status: string; started_at: string; completed_at: string | null; rows_inserted: number; rows_updated: number };
const lastSync = (r: SyncRow | undefined): LastSync | null =>
  r
    ? { batchId: r.batch_id, status: r.status, startedAt: fromSqlDatetime(r.started_at), completedAt: dateOrNull(r.completed_at), rows: Number(r.rows_inserted) + Number(r.rows_updated) }
    : null;

const SYNC_COLUMNS = `batch_id, status, ${asText("started_at")} AS started_at, ${asText("completed_at")} AS completed_at, rows_inserted, rows_updated`;

async function deviceOverview(db: Db, backupDir: string, deviceId: string, dayStart: Date, statuses: Map<string, DeviceStatus>, checks: Map<string, BackupCheck>): Promise<DeviceOverview> {
  const pool = db.pool;
  const [attempt]: SyncRow[] = await pool.query(`SELECT ${SYNC_COLUMNS} FROM sync_history WHERE device_id = ? ORDER BY started_at DESC LIMIT 1`, [deviceId]);
  const [success]: SyncRow[] =
    attempt?.status === "success"
      ? [attempt]
      : await pool.query(`SELECT ${SYNC_COLUMNS} FROM sync_history WHERE device_id = ? AND status = 'success' ORDER BY started_at DESC LIMIT 1`, [deviceId]);
  const [sums] = await pool.query(
    `SELECT COALESCE(SUM(rows_inserted + rows_updated), 0) AS total,
            COALESCE(SUM(CASE WHEN completed_at >= ? THEN rows_inserted + rows_updated ELSE 0 END), 0) AS today
     FROM sync_history WHERE device_id = ?`,
    [sqlTimestamp(dayStart), deviceId],
  );
  const jobs: { state: keyof DeviceOverview["queue"]; n: bigint }[] = await pool.query("SELECT state, COUNT(*) AS n FROM analysis_jobs WHERE device_id = ? GROUP BY state", [deviceId]);
  const queue = { pending: 0, running: 0, completed: 0, failed: 0 };
  for (const j of jobs) queue[j.state] = Number(j.n);
  const [analysis] = await pool.query(
    `SELECT analysis_id, status, ${asText("created_at")} AS created_at, ${asText("completed_at")} AS completed_at FROM analysis_history
     WHERE device_id = ? ORDER BY analysis_id DESC LIMIT 1`,
    [deviceId],
  );
  const [job] = analysis ? await pool.query("SELECT state FROM analysis_jobs WHERE analysis_id = ?", [analysis.analysis_id]) : [];
  const [backup] = await listBackups(backupDir, { deviceId, type: "database" });
  const [lastDrive] = await listDrives(pool, { deviceIds: [deviceId], limit: 1 });
  return {
    deviceId,
    lastSuccess: lastSync(success),
    lastAttempt: attempt?.status === "success" ? null : lastSync(attempt),
    rowsToday: Number(sums.today),
    rowsTotal: Number(sums.total),
    status: statuses.get(deviceId) ?? null,
    lastBackup: backup ? { ...backup, check: checks.get(checkKey(backup)) ?? null } : null,
    queue,
    lastAnalysis: analysis
      ? {
          analysisId: Number(analysis.analysis_id),
          status: analysis.status,
          createdAt: fromSqlDatetime(analysis.created_at),
          completedAt: dateOrNull(analysis.completed_at),
          jobState: job?.state ?? null,
        }
      : null,
    lastDrive: lastDrive ?? null,
  };
}

/** The overview of each device, in the order given. */
export async function readOverview(db: Db, backupDir: string, deviceIds: string[], dayStart: Date): Promise<DeviceOverview[]> {
  const [statuses, checks] = await Promise.all([readStatuses(db.pool, deviceIds), readChecks(db.pool, deviceIds)]);
  const out: DeviceOverview[] = [];
  for (const id of deviceIds) out.push(await deviceOverview(db, backupDir, id, dayStart, statuses, checks));
  return out;
}

/** The zone's offset from UTC at `at`, in ms (positive east of Greenwich). */
function offsetAt(at: Date, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  );
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) - Math.floor(at.getTime() / 1000) * 1000;
}

/** The time zone named by the browser (app.js's tz cookie) when it is one this runtime knows; else UTC. */
export function knownZone(name: string | undefined): string {
  if (!name) return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return name;
  } catch {
    return "UTC";
  }
}

/** Midnight of `now`'s day in `timeZone`, as an instant. */
export function startOfDay(now: Date, timeZone: string): Date {
  const wall = new Date(now.getTime() + offsetAt(now, timeZone));
  const midnight = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate());
  // The offset at midnight itself, which differs from now's on a day the clocks change.
  const first = midnight - offsetAt(now, timeZone);
  return new Date(midnight - offsetAt(new Date(first), timeZone));
}
