/**
 * The worker's side of drives (the sync's is track.ts): each round it
 * closes the drives that have had no reading for DRIVE_IDLE_CLOSE_MINUTES,
 * summarises the closed drives whose rows have settled, and queues the
 * analysis of each drive whose summary is new or changed.
 *
 * Settled: the device has sent nothing for DRIVE_SETTLE_SECONDS (the agent
 * pushes a table at a time, so a drive's alerts and trouble codes arrive
 * after all of its readings), or the drive itself nothing for
 * DRIVE_IDLE_CLOSE_MINUTES (a Pi that syncs all the time still gets its
 * drives summarised).
 *
 * A summary is computed once (readDriveStats' one streamed pass over the
 * drive's readings) and stored: its figures as columns, the statistics and
 * rule-based findings as JSON for the analysis. It is computed again only
 * when rows arrive for the drive afterwards: alerts, trouble codes and the
 * drive_summary row refresh only their fields, readings (or a new start or
 * end) the whole summary. A summary whose readings, window, alerts or codes
 * changed queues the analysis again, once (jobs.ts, queueDriveAnalysis).
 */
import type { Pool } from "mariadb";
import type { Config } from "../config.ts";
import { readDriveStats, WindowTooLarge, type DriveStats } from "../analysis/drive-stats.ts";
import { readDtcs } from "../analysis/dtcs.ts";
import { findings as ruleFindings, type Finding } from "../analysis/findings.ts";
import { queueDriveAnalysis } from "../analysis/jobs.ts";
import type { Logger } from "../http/logger.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

/** What `drives.stats` holds: the statistics without their window (the row has it), and the rule-based findings. */
export type StoredStats = Omit<DriveStats, "window"> & { findings: Finding[] };

/** The drive's statistics as readDriveStats gave them, from `drives.stats` and its window. */
export function statsOf(stored: StoredStats, window: DriveStats["window"]): DriveStats {
  const { findings: _, ...rest } = stored;
  return { ...rest, window };
}

/** The summary columns that come from the statistics. */
function statsColumns(s: DriveStats | null) {
  const f = s?.facts;
  return {
    readings: s?.rows ?? 0,
    duration_s: f ? f.durationSeconds : null,
    distance_km: f?.distanceKm ?? null,
    max_coolant_c: f?.maxCoolantC ?? null,
    start_coolant_c: f?.startCoolantC ?? null,
    intake_p95_c: s?.parameters.find((p) => p.parameter === "INTAKE_TEMP")?.p95 ?? null,
    min_running_v: f?.runningVoltage?.min ?? null,
    mean_running_v: f?.runningVoltage?.mean ?? null,
    stft_mean: f?.fuelTrim.stft ?? null,
    ltft_mean: f?.fuelTrim.ltft ?? null,
    idle_share: f?.idleShare ?? null,
    idle_rpm: f?.idleRpm?.mean ?? null,
    warmup_s: f?.warmUpSeconds ?? null,
  };
}

type Deps = { pool: Pool; config: Config; logger: Logger };

/** Drives looked at per round and step; the rest wait for the next round, which comes at once when this one did work. */
const ROUND = 20;
const FAR_FUTURE = new Date("9999-12-31T23:59:59.000Z");

/** The idle rule, for every device at once: no reading (and no row) for DRIVE_IDLE_CLOSE_MINUTES by the server's clock. */
async function closeIdleDrives(pool: Pool, now: Date, idleMinutes: number): Promise<number> {
  const cutoff = sqlTimestamp(new Date(now.getTime() - idleMinutes * 60_000));
  // LEAST: readings days old close at once; a Pi whose clock runs ahead still closes once its rows stop coming.
  const res = await pool.query(
    `UPDATE drives SET closed_by = 'idle', closed_at = ?, drive_end = COALESCE(last_reading_at, drive_start)
     WHERE closed_by IS NULL AND LEAST(COALESCE(last_reading_at, drive_start), last_row_at) < ?`,
    [sqlTimestamp(now), cutoff],
  );
  return res.affectedRows;
}

type DueRow = { id: bigint; source_device: string; last_row_at: string };

/** Closed drives with a summary to compute whose rows have settled, oldest first. */
async function settledDrives(pool: Pool, config: Config, now: Date): Promise<DueRow[]> {
  const due: DueRow[] = await pool.query(
    { sql: `SELECT id, source_device, last_row_at FROM drives WHERE summary_due > 0 AND closed_by IS NOT NULL ORDER BY last_row_at LIMIT ${ROUND * 5}`, dateStrings: true },
  );
  if (due.length === 0) return [];
  const devices = [...new Set(due.map((d) => d.source_device))];
  const seen: { device_id: string; last_seen: string | null }[] = await pool.query(
    { sql: `SELECT device_id, last_seen FROM devices WHERE device_id IN (${devices.map(() => "?").join(", ")})`, dateStrings: true },
    devices,
  );
  const lastSeen = new Map(seen.map((s) => [s.device_id, s.last_seen]));
  const quiet = sqlTimestamp(new Date(now.getTime() - config.DRIVE_SETTLE_SECONDS * 1000));
  const stale = sqlTimestamp(new Date(now.getTime() - config.DRIVE_IDLE_CLOSE_MINUTES * 60_000));
  return due.filter((d) => (lastSeen.get(d.source_device) ?? "") <= quiet || d.last_row_at <= stale).slice(0, ROUND);
}

type DriveRow = {
  id: bigint;
  source_device: string;
  drive_id: bigint;
  drive_start: string;
  drive_end: string | null;
  closed_by: string;
  version: number;
  summary_due: number;
  summarized_at: string | null;
  data_source: string | null;
  readings: number | null;
  alert_count: number | null;
  dtc_codes: unknown;
  stats: unknown;
};

const parsed = <T>(v: unknown): T | null => (v === null || v === undefined ? null : typeof v === "string" ? JSON.parse(v) : (v as T));

/** The latest the drive's readings can be: its drive_end, else just before the device's next drive. */
async function windowEnd(pool: Pool, d: DriveRow): Promise<Date> {
  if (d.closed_by === "drive_end" && d.drive_end) return fromSqlDatetime(d.drive_end);
  const [next] = await pool.query({ sql: "SELECT MIN(drive_start) AS at FROM drives WHERE source_device = ? AND drive_start > ?", dateStrings: true }, [d.source_device, d.drive_start]);
  return next?.at ? new Date(fromSqlDatetime(next.at).getTime() - 1) : FAR_FUTURE;
}

/** Computes and stores one drive's summary; returns false when a batch brought its rows meanwhile (the next round does it again). */
async function summarise({ pool, config, logger }: Deps, id: bigint, now: Date): Promise<boolean> {
  const [d]: DriveRow[] = await pool.query({ sql: "SELECT * FROM drives WHERE id = ?", dateStrings: true }, [id]);
  if (!d || d.summary_due === 0) return true;
  const start = fromSqlDatetime(d.drive_start);
  const window = { deviceId: d.source_device, start, end: await windowEnd(pool, d) };
  let stored = parsed<StoredStats>(d.stats);
  let stats: DriveStats | null = stored ? statsOf(stored, window) : null;
  let readings = d.readings ?? 0;
  let tooLarge = false;
  if (d.summary_due === 2 || !stored) {
    try {
      stats = await readDriveStats(pool, window, config.ANALYSIS_MAX_READINGS);
      readings = stats?.rows ?? 0;
      stored = stats ? { rows: stats.rows, span: stats.span, parameters: stats.parameters, facts: stats.facts, findings: ruleFindings(stats) } : null;
    } catch (err) {
      if (!(err instanceof WindowTooLarge)) throw err;
      logger.warn({ deviceId: d.source_device, driveId: Number(d.drive_id), readings: err.readings }, "drive summary: more readings than ANALYSIS_MAX_READINGS; only its count is kept, and it is not analysed");
      [stats, stored, readings, tooLarge] = [null, null, err.readings, true];
    }
  }
  // A drive that no drive_end closed ends at its last reading.
  const endSql = d.closed_by === "drive_end" && d.drive_end ? d.drive_end : stats ? sqlTimestamp(new Date(start.getTime() + stats.span.last * 1000)) : (d.drive_end ?? d.drive_start);
  const end = fromSqlDatetime(endSql);
  const [{ alerts }] = await pool.query("SELECT COUNT(*) AS alerts FROM alert_log WHERE source_device = ? AND timestamp BETWEEN ? AND ?", [
    d.source_device,
    sqlTimestamp(start),
    `${sqlTimestamp(end)}999`,
  ]);
  const positiveId = d.drive_id > 0n ? d.drive_id : null;
  const codes = [...new Set((await readDtcs(pool, { deviceId: d.source_device, start, end, driveId: positiveId })).map((x) => x.code))];
  const [facts] = positiveId
    ? await pool.query("SELECT ambient_temp_at_start_c, starting_battery_v, barometric_kpa_at_start, data_source FROM drive_summary WHERE source_device = ? AND source_id = ?", [d.source_device, positiveId])
    : [];
  const columns = {
    ...statsColumns(stats),
    readings,
    drive_end: endSql,
    alert_count: Number(alerts),
    dtc_codes: JSON.stringify(codes),
    ambient_c: facts?.ambient_temp_at_start_c ?? null,
    starting_battery_v: facts?.starting_battery_v ?? null,
    barometric_kpa: facts?.barometric_kpa_at_start ?? null,
    data_source: d.data_source ?? facts?.data_source ?? null,
    stats: stored ? JSON.stringify(stored) : null,
    summarized_at: sqlTimestamp(now),
    summary_due: 0,
  };
  const before = parsed<string[]>(d.dtc_codes) ?? [];
  const changed =
    d.summarized_at === null ||
    readings !== d.readings ||
    d.drive_end === null ||
    end.getTime() !== fromSqlDatetime(d.drive_end).getTime() ||
    Number(alerts) !== d.alert_count ||
    codes.join() !== before.join();
  const names = Object.keys(columns);
  const res = await pool.query(
    `UPDATE drives SET ${names.map((n) => `${n} = ?`).join(", ")}, analysis_due = analysis_due OR ? WHERE id = ? AND version = ?`,
    [...Object.values(columns), changed && !tooLarge, id, d.version],
  );
  return res.affectedRows > 0;
}

/**
 * One round of the drives' upkeep: the idle rule, the settled drives'
 * summaries, the analyses of new or changed summaries. Returns whether it did
 * anything, so the worker looks again at once instead of sleeping.
 */
export async function tendDrives(deps: Deps, now: Date): Promise<boolean> {
  const { pool, config } = deps;
  let work = (await closeIdleDrives(pool, now, config.DRIVE_IDLE_CLOSE_MINUTES)) > 0;
  for (const d of await settledDrives(pool, config, now)) {
    try {
      await summarise(deps, d.id, now);
      work = true;
    } catch (err) {
      // One drive that cannot be summarised must not hold up the others; it is tried again next round.
      deps.logger.error({ err, deviceId: d.source_device, drive: Number(d.id) }, "could not summarise a drive");
    }
  }
  const due: { id: bigint }[] = await pool.query(`SELECT id FROM drives WHERE analysis_due = 1 ORDER BY id LIMIT ${ROUND}`);
  for (const d of due) if (await queueDriveAnalysis(pool, d.id, now)) work = true;
  return work;
}
