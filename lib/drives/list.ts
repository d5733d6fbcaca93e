/**
 * Reading drives: the list (newest first, a page at a time), one drive with
 * its statistics and findings, and the drive an analysis is about. Every
 * figure comes from the stored summary; nothing here reads realtime_data.
 * The endpoints (functions/drives.ts, functions/drive.ts) and the dashboard
 * share these.
 */
import { z } from "@hono/zod-openapi";
import type { Pool } from "mariadb";
import type { DriveStats } from "../analysis/drive-stats.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";
import { statsOf, type StoredStats } from "./summary.ts";

const nullableNumber = (description: string) => z.number().nullable().openapi({ description });

/** A drive id in a path: the Pi's drive_id (negative for an older Pi's drive). */
export const DriveIdSchema = z.string().regex(/^-?\d{1,18}$/, "must be a drive id (an integer)").openapi({ example: "12" });

/** One parameter's statistics over a drive or a window of it (drive-stats.ts). */
export const ParameterStatsSchema = z.object({
  parameter: z.string(),
  unit: z.string().nullable(),
  count: z.int(),
  min: z.number(),
  max: z.number(),
  mean: z.number(),
  std: z.number(),
  p5: z.number(),
  p95: z.number(),
  above: z.array(z.object({ threshold: z.number(), seconds: z.number() })),
});

/** How the API documents a drive in a list. */
export const DriveSchema = z
  .object({
    deviceId: z.string(),
    driveId: z.int().openapi({ description: "The Pi's drive_id; negative for a drive an older Pi logged without one (-(its drive_start row's id))" }),
    start: z.string().openapi({ example: "2026-04-19T08:00:00.000Z" }),
    end: z.string().nullable().openapi({ description: "Set when the drive closed: its drive_end, else its last reading" }),
    closedBy: z.enum(["drive_end", "next_drive", "idle"]).nullable().openapi({ description: "Which rule closed the drive; null while it is open" }),
    summarizedAt: z.string().nullable().openapi({ description: "When the summary was computed; null until the drive is closed and its rows settled" }),
    dataSource: z.string().nullable().openapi({ description: "real, physics_sim, replay, fixture, or mixed; null from an older Pi (counts as real)" }),
    readings: z.int().nullable(),
    durationS: nullableNumber("First to last reading, in seconds"),
    distanceKm: nullableNumber("Integrated SPEED"),
    maxCoolantC: nullableNumber("Peak COOLANT_TEMP"),
    intakeP95C: nullableNumber("95th percentile of INTAKE_TEMP"),
    minRunningV: nullableNumber("Lowest CONTROL_MODULE_VOLTAGE with the engine running"),
    meanRunningV: nullableNumber("Mean CONTROL_MODULE_VOLTAGE with the engine running"),
    stftMean: nullableNumber("Mean SHORT_FUEL_TRIM_1, %"),
    ltftMean: nullableNumber("Mean LONG_FUEL_TRIM_1, %"),
    idleShare: nullableNumber("Share (0..1) of the time standing with the engine running"),
    warmUpS: nullableNumber("Seconds until COOLANT_TEMP first reached 80 °C"),
    alertCount: z.int().nullable(),
    dtcCodes: z.array(z.string()).openapi({ description: "Trouble codes stored or pending during the drive", example: ["P0171"] }),
    ambientC: nullableNumber("From the Pi's drive_summary: intake air temperature at a cold start"),
    startingBatteryV: nullableNumber("From the Pi's drive_summary: battery voltage before cranking"),
    barometricKpa: nullableNumber("From the Pi's drive_summary"),
    analysis: z
      .object({ analysisId: z.int(), status: z.enum(["pending", "running", "completed", "failed"]) })
      .nullable()
      .openapi({ description: "The drive's latest analysis" }),
    analysisJob: z
      .enum(["pending", "running", "completed", "failed"])
      .nullable()
      .openapi({ description: "The state of the drive's analysis job: pending while it waits (for Ollama, say), even after a failed attempt" }),
  })
  .openapi("Drive");

export type Drive = z.infer<typeof DriveSchema>;

const COLUMNS = `d.source_device, d.drive_id, d.drive_start, d.drive_end, d.closed_by, d.summarized_at, d.data_source, d.readings, d.duration_s, d.distance_km,
  d.max_coolant_c, d.intake_p95_c, d.min_running_v, d.mean_running_v, d.stft_mean, d.ltft_mean, d.idle_share, d.warmup_s, d.alert_count, d.dtc_codes,
  d.ambient_c, d.starting_battery_v, d.barometric_kpa, d.analysis_id, a.status AS analysis_status, j.state AS job_state`;

// drives and analysis_history meet on the BIGINT analysis id, never on their device columns (which differ in collation).
const FROM = "FROM drives d LEFT JOIN analysis_history a ON a.analysis_id = d.analysis_id LEFT JOIN analysis_jobs j ON j.drive_ref = d.id";

const iso = (sql: string | null) => (sql === null ? null : fromSqlDatetime(sql).toISOString());
const parsed = <T>(v: unknown): T | null => (v === null || v === undefined ? null : typeof v === "string" ? JSON.parse(v) : (v as T));

function driveOf(r: Record<string, any>): Drive {
  return {
    deviceId: r.source_device,
    driveId: Number(r.drive_id),
    start: iso(r.drive_start)!,
    end: iso(r.drive_end),
    closedBy: r.closed_by,
    summarizedAt: iso(r.summarized_at),
    dataSource: r.data_source,
    readings: r.readings,
    durationS: r.duration_s,
    distanceKm: r.distance_km,
    maxCoolantC: r.max_coolant_c,
    intakeP95C: r.intake_p95_c,
    minRunningV: r.min_running_v,
    meanRunningV: r.mean_running_v,
    stftMean: r.stft_mean,
    ltftMean: r.ltft_mean,
    idleShare: r.idle_share,
    warmUpS: r.warmup_s,
    alertCount: r.alert_count,
    dtcCodes: parsed<string[]>(r.dtc_codes) ?? [],
    ambientC: r.ambient_c,
    startingBatteryV: r.starting_battery_v,
    barometricKpa: r.barometric_kpa,
    analysis: r.analysis_id === null || r.analysis_status === null ? null : { analysisId: Number(r.analysis_id), status: r.analysis_status },
    analysisJob: r.job_state ?? null,
  };
}

/**
 * Drives newest first: of `deviceIds` (undefined: every device), starting
 * before `before` (the previous page's last start) and from `from` on, at
 * most `limit`.
 */
export async function listDrives(pool: Pool, q: { deviceIds?: string[]; limit: number; before?: Date; from?: Date }): Promise<Drive[]> {
  if (q.deviceIds?.length === 0) return [];
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.deviceIds) {
    where.push(`d.source_device IN (${q.deviceIds.map(() => "?").join(", ")})`);
    params.push(...q.deviceIds);
  }
  if (q.before) {
    where.push("d.drive_start < ?");
    params.push(sqlTimestamp(q.before));
  }
  if (q.from) {
    where.push("d.drive_start >= ?");
    params.push(sqlTimestamp(q.from));
  }
  const rows = await pool.query(
    { sql: `SELECT ${COLUMNS} ${FROM} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY d.drive_start DESC, d.id DESC LIMIT ${Math.trunc(q.limit)}`, dateStrings: true },
    params,
  );
  return rows.map(driveOf);
}

export type DriveDetail = Drive & { parameters: DriveStats["parameters"]; findings: StoredStats["findings"] };

/** One drive with its per-parameter statistics and rule-based findings, or undefined. */
export async function getDrive(pool: Pool, deviceId: string, driveId: number): Promise<DriveDetail | undefined> {
  const [row] = await pool.query({ sql: `SELECT ${COLUMNS}, d.stats ${FROM} WHERE d.source_device = ? AND d.drive_id = ?`, dateStrings: true }, [deviceId, driveId]);
  if (!row) return undefined;
  const stats = parsed<StoredStats>(row.stats);
  return { ...driveOf(row), parameters: stats?.parameters ?? [], findings: stats?.findings ?? [] };
}

/** The drive an analysis is about: its row id, its keys, window, data_source and stored statistics (when summarised). */
export type AnalysedDrive = { ref: bigint; deviceId: string; driveId: bigint; start: Date; end: Date; dataSource: string | null; stats: DriveStats | null };

function analysedDrive(r: Record<string, any>): AnalysedDrive {
  const start = fromSqlDatetime(r.drive_start);
  const end = fromSqlDatetime(r.drive_end ?? r.last_reading_at ?? r.drive_start);
  const stored = parsed<StoredStats>(r.stats);
  const dataSource = r.data_source;
  const window = { deviceId: r.source_device, start, end };
  return { ref: BigInt(r.id), deviceId: r.source_device, driveId: BigInt(r.drive_id), start, end, dataSource, stats: stored && r.summary_due === 0 ? statsOf(stored, window) : null };
}

const ANALYSED = "SELECT id, source_device, drive_id, drive_start, drive_end, last_reading_at, data_source, stats, summary_due FROM drives";

/** By its row id (a job's drive_ref). */
export async function driveByRef(pool: Pool, ref: bigint): Promise<AnalysedDrive | undefined> {
  const [row] = await pool.query({ sql: `${ANALYSED} WHERE id = ?`, dateStrings: true }, [ref]);
  return row ? analysedDrive(row) : undefined;
}

/** By the device and the Pi's drive id (POST /api/v1/analyze with driveId). */
export async function driveById(pool: Pool, deviceId: string, driveId: number): Promise<AnalysedDrive | undefined> {
  const [row] = await pool.query({ sql: `${ANALYSED} WHERE source_device = ? AND drive_id = ?`, dateStrings: true }, [deviceId, driveId]);
  return row ? analysedDrive(row) : undefined;
}

/** The drive a window of readings falls in (the latest one that overlaps it), for an analysis of a window. */
export async function driveAt(pool: Pool, deviceId: string, start: Date, end: Date): Promise<AnalysedDrive | undefined> {
  const [row] = await pool.query(
    {
      sql: `${ANALYSED} WHERE source_device = ? AND drive_start <= ? AND COALESCE(drive_end, last_reading_at, drive_start) >= ? ORDER BY drive_start DESC LIMIT 1`,
      dateStrings: true,
    },
    [deviceId, sqlTimestamp(end), sqlTimestamp(start)],
  );
  return row ? analysedDrive(row) : undefined;
}

/** Drives the server holds, for health. */
export async function driveCount(pool: Pool): Promise<number> {
  const [row] = await pool.query("SELECT COUNT(*) AS n FROM drives");
  return Number(row.n);
}

