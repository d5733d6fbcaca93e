/**
 * The trends page's data: per device, one point per closed, summarised drive
 * (from the stored summaries, never the readings), and which of them stand
 * out against the car's own drives.
 *
 * The rule is a robust z-score per metric: (value − median) / (1.4826 × MAD)
 * over the points shown, flagged beyond ANOMALY_Z, once there are at least
 * MIN_DRIVES values. Median and MAD are not pulled by the outliers they are
 * meant to find, as a mean and standard deviation are. The scale never goes
 * below the metric's FLOOR (about the resolution it is logged at), so a
 * metric that is normally constant (no trouble codes) flags a change that
 * matters, not rounding.
 */
import type { Pool } from "mariadb";
import { fromSqlDatetime } from "../time.ts";

export const METRICS = ["ltftMean", "maxCoolantC", "warmUpS", "meanRunningV", "dtcCount"] as const;
export type Metric = (typeof METRICS)[number];

export type TrendPoint = { driveId: number; start: Date; values: Record<Metric, number | null>; anomalies: Metric[] };

const ANOMALY_Z = 3.5;
const MIN_DRIVES = 5;
/** The smallest scale per metric: LTFT's step is 100/128 %, coolant is whole °C, and so on. */
const FLOOR: Record<Metric, number> = { ltftMean: 0.8, maxCoolantC: 1, warmUpS: 10, meanRunningV: 0.05, dtcCount: 0.25 };
/** Points a device shows: about two years of daily drives. */
export const TREND_DRIVES = 500;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Marks each point's anomalous metrics, against all the points given. */
export function markAnomalies(points: Omit<TrendPoint, "anomalies">[]): TrendPoint[] {
  const out: TrendPoint[] = points.map((p) => ({ ...p, anomalies: [] }));
  for (const metric of METRICS) {
    const values = points.map((p) => p.values[metric]).filter((v): v is number => v !== null);
    if (values.length < MIN_DRIVES) continue;
    const mid = median(values);
    const scale = Math.max(1.4826 * median(values.map((v) => Math.abs(v - mid))), FLOOR[metric]);
    for (const p of out) {
      const v = p.values[metric];
      if (v !== null && Math.abs(v - mid) / scale > ANOMALY_Z) p.anomalies.push(metric);
    }
  }
  return out;
}

/** A device's last TREND_DRIVES summarised drives, oldest first, with their anomalies. */
export async function readTrends(pool: Pool, deviceId: string): Promise<TrendPoint[]> {
  const rows: Record<string, any>[] = await pool.query(
    {
      sql: `SELECT drive_id, drive_start, ltft_mean, max_coolant_c, warmup_s, mean_running_v, JSON_LENGTH(dtc_codes) AS dtcs FROM drives
            WHERE source_device = ? AND summarized_at IS NOT NULL ORDER BY drive_start DESC LIMIT ${TREND_DRIVES}`,
      dateStrings: true,
    },
    [deviceId],
  );
  return markAnomalies(
    rows.reverse().map((r) => ({
      driveId: Number(r.drive_id),
      start: fromSqlDatetime(r.drive_start),
      values: { ltftMean: r.ltft_mean, maxCoolantC: r.max_coolant_c, warmUpS: r.warmup_s, meanRunningV: r.mean_running_v, dtcCount: r.dtcs === null ? 0 : Number(r.dtcs) },
    })),
  );
}
