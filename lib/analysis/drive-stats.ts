/**
 * Statistics of one drive window of realtime_data: per-parameter figures and
 * the drive facts the rule-based findings (lib/analysis/findings.ts) and the LLM
 * prompt are built from. No LLM involved.
 */
import type { Pool } from "mariadb";
import { LIMITS, THRESHOLDS } from "./limits.ts";
import { sqlTimestamp } from "../time.ts";

export type DriveWindow = { deviceId: string; start: Date; end: Date; profileId?: string | null };

type ParameterStats = {
  parameter: string;
  unit: string | null;
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  p5: number;
  p95: number;
  /** Seconds spent above each threshold that applies to this parameter (see THRESHOLDS in limits.ts); empty when none. */
  above: { threshold: number; seconds: number }[];
};

type DriveFacts = {
  /** First to last reading in the window. */
  durationSeconds: number;
  /** Integrated SPEED (km/h) over time; null without SPEED. */
  distanceKm: number | null;
  /** Share (0..1) of time with SPEED < 2 km/h and RPM > 0; null without SPEED. */
  idleShare: number | null;
  /** From the first reading until COOLANT_TEMP first reaches LIMITS.warmC; null if it never does or without coolant data. */
  warmUpSeconds: number | null;
  maxCoolantC: number | null;
  /** Means of SHORT_FUEL_TRIM_1, LONG_FUEL_TRIM_1, and their sum (null unless both are there). */
  fuelTrim: { stft: number | null; ltft: number | null; total: number | null };
  /** The first COOLANT_TEMP reading: whether the drive started cold. */
  startCoolantC?: number | null;
  /** RPM readings while standing with a warm engine (cold idle is high on purpose); null when there are none. */
  idleRpm?: { count: number; mean: number; std: number; min: number; max: number } | null;
  /** CONTROL_MODULE_VOLTAGE while the engine runs, and seconds outside LIMITS' low/high voltage; null when never running. */
  runningVoltage?: { min: number; max: number; mean: number; secondsBelow: number; secondsAbove: number } | null;
};

export type DriveStats = {
  window: DriveWindow;
  rows: number;
  /** The first and the last reading, in seconds from window.start (readDriveStats' origin). */
  span: { first: number; last: number };
  parameters: ParameterStats[];
  facts: DriveFacts;
};

/** One parameter's readings in time order; t in seconds from any fixed origin (readDriveStats: window.start). */
export type Series = { unit: string | null; t: Float64Array; v: Float64Array; n: number };

/** The longest interval between two readings that counts in full: a logging gap must not inflate time-based figures. */
export const MAX_INTERVAL_S = 10;
/** Below this the car is standing. */
const STANDING_KMH = 2;
/** Above this the engine runs (cranking is 200–300 rpm). */
const RUNNING_RPM = 400;

/** A Series that grows by doubling, so reading keeps two numbers per row and no row objects. */
class GrowingSeries implements Series {
  t = new Float64Array(256);
  v = new Float64Array(256);
  n = 0;
  constructor(public unit: string | null) {}

  push(t: number, v: number): void {
    if (this.n === this.t.length) {
      const t2 = new Float64Array(this.n * 2);
      const v2 = new Float64Array(this.n * 2);
      t2.set(this.t);
      v2.set(this.v);
      this.t = t2;
      this.v = v2;
    }
    this.t[this.n] = t;
    this.v[this.n++] = v;
  }
}

/** The window holds more readings than one analysis may (ANALYSIS_MAX_READINGS); nothing was read. */
export class WindowTooLarge extends Error {
  constructor(readonly readings: number, readonly limit: number) {
    super(`the window holds ${readings} readings; one analysis takes at most ${limit} (ANALYSIS_MAX_READINGS): choose a shorter window`);
  }
}

/**
 * Reads the window's realtime_data (streamed: a few numbers per row, never row
 * objects) and computes the statistics. null when the window has no rows;
 * WindowTooLarge beyond maxReadings, so memory stays bounded whatever window
 * is asked for: a reading costs about 80 bytes while it is read (measured with
 * bench/analysis.ts).
 */
export async function readDriveStats(pool: Pool, window: DriveWindow, maxReadings = Infinity): Promise<DriveStats | null> {
  const origin = sqlTimestamp(window.start);
  const params: unknown[] = [origin, window.deviceId, origin, sqlTimestamp(window.end)];
  if (window.profileId) params.push(window.profileId);
  // Offsets are computed by the server, so neither the connector's nor the process's time zone matters.
  const where = `WHERE source_device = ? AND timestamp BETWEEN ? AND ?${window.profileId ? " AND (profile_id = ? OR profile_id IS NULL)" : ""}`;
  // The window index's own order: a range read, never a sort (20261204000000_series_index).
  const sql = `SELECT parameter_name, TIMESTAMPDIFF(MICROSECOND, ?, timestamp), value, unit FROM realtime_data ${where} ORDER BY timestamp, parameter_name, value, id`;
  const series = new Map<string, GrowingSeries>();
  let rows = 0;
  const conn = await pool.getConnection();
  try {
    const [{ n }] = await conn.query(`SELECT COUNT(*) AS n FROM realtime_data ${where}`, params.slice(1));
    if (Number(n) > maxReadings) throw new WindowTooLarge(Number(n), maxReadings);
    const stream = conn.queryStream({ sql, rowsAsArray: true }, params);
    for await (const [name, micros, value, unit] of stream as AsyncIterable<[string, number | bigint, number, string | null]>) {
      let s = series.get(name);
      if (!s) series.set(name, (s = new GrowingSeries(unit)));
      else if (s.unit === null) s.unit = unit;
      s.push(Number(micros) / 1e6, value);
      rows++;
    }
  } finally {
    await conn.release();
  }
  return rows === 0 ? null : computeDriveStats(window, series);
}

/** The pure part, for tests and reuse: readings in time order per parameter. */
export function computeDriveStats(window: DriveWindow, series: Map<string, Series>): DriveStats {
  let rows = 0;
  let first = Infinity;
  let last = -Infinity;
  const parameters: ParameterStats[] = [];
  for (const [parameter, s] of series) {
    if (s.n === 0) continue;
    rows += s.n;
    first = Math.min(first, s.t[0]!);
    last = Math.max(last, s.t[s.n - 1]!);
    parameters.push(parameterStats(parameter, s));
  }
  parameters.sort((a, b) => (a.parameter < b.parameter ? -1 : a.parameter > b.parameter ? 1 : 0));
  const has = (name: string) => (series.get(name)?.n ? series.get(name) : undefined);
  const speed = has("SPEED");
  const rpm = has("RPM");
  const coolant = has("COOLANT_TEMP");
  const volts = has("CONTROL_MODULE_VOLTAGE");
  const stft = has("SHORT_FUEL_TRIM_1");
  const ltft = has("LONG_FUEL_TRIM_1");
  const meanOf = (s: Series | undefined) => (s ? mean(s.v, s.n) : null);

  let distanceKm: number | null = null;
  let idleShare: number | null = null;
  if (speed) {
    const rpmAt = rpm ? align(speed, rpm) : undefined;
    let km = 0;
    let total = 0;
    let idle = 0;
    for (let i = 0; i + 1 < speed.n; i++) {
      const dt = interval(speed, i);
      // Trapezoids: the car speeds up and slows down between readings.
      km += ((speed.v[i]! + speed.v[i + 1]!) / 2) * (dt / 3600);
      total += dt;
      // An unknown RPM counts as running: the logger only reads while the ignition is on.
      if (speed.v[i]! < STANDING_KMH && !(rpmAt && rpmAt[i]! <= 0)) idle += dt;
    }
    distanceKm = km;
    idleShare = total > 0 ? idle / total : null;
  }

  let warmUpSeconds: number | null = null;
  if (coolant) {
    for (let i = 0; i < coolant.n; i++) {
      if (coolant.v[i]! >= LIMITS.warmC) {
        warmUpSeconds = coolant.t[i]! - first;
        break;
      }
    }
  }

  const stftMean = meanOf(stft);
  const ltftMean = meanOf(ltft);
  return {
    window,
    rows,
    span: { first: rows ? first : 0, last: rows ? last : 0 },
    parameters,
    facts: {
      durationSeconds: rows ? last - first : 0,
      distanceKm,
      idleShare,
      warmUpSeconds,
      maxCoolantC: parameters.find((p) => p.parameter === "COOLANT_TEMP")?.max ?? null,
      fuelTrim: { stft: stftMean, ltft: ltftMean, total: stftMean !== null && ltftMean !== null ? stftMean + ltftMean : null },
      startCoolantC: coolant ? coolant.v[0]! : null,
      idleRpm: rpm && speed && coolant ? idleRpm(rpm, speed, coolant) : null,
      runningVoltage: volts && rpm ? runningVoltage(volts, rpm) : null,
    },
  };
}

function parameterStats(parameter: string, s: Series): ParameterStats {
  const sorted = s.v.slice(0, s.n).sort();
  const m = mean(s.v, s.n);
  let squares = 0;
  for (let i = 0; i < s.n; i++) squares += (s.v[i]! - m) ** 2;
  return {
    parameter,
    unit: s.unit,
    count: s.n,
    min: sorted[0]!,
    max: sorted[s.n - 1]!,
    mean: m,
    std: Math.sqrt(squares / s.n), // population std: the drive is the whole population
    p5: percentile(sorted, 0.05),
    p95: percentile(sorted, 0.95),
    above: (THRESHOLDS[parameter] ?? []).map((threshold) => ({ threshold, seconds: secondsWhere(s, (v) => v > threshold) })),
  };
}

/** Linear interpolation between the closest ranks (numpy's default), on ascending values. */
function percentile(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function mean(v: Float64Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += v[i]!;
  return sum / n;
}

/** Seconds from reading i to the next, capped at MAX_INTERVAL_S. */
const interval = (s: Series, i: number) => Math.min(s.t[i + 1]! - s.t[i]!, MAX_INTERVAL_S);

/** Time during which `test(value)` held: each reading holds until the next one (capped). */
function secondsWhere(s: Series, test: (v: number, i: number) => boolean): number {
  let seconds = 0;
  for (let i = 0; i + 1 < s.n; i++) if (test(s.v[i]!, i)) seconds += interval(s, i);
  return seconds;
}

/**
 * `other`'s reading nearest in time to each of `at`'s readings, or NaN when
 * none lies within MAX_INTERVAL_S. The Pi polls PIDs one after another, so
 * "at or before" would pair a reading with the previous poll's.
 */
function align(at: Series, other: Series): Float64Array {
  const out = new Float64Array(at.n);
  let j = 0;
  for (let i = 0; i < at.n; i++) {
    const t = at.t[i]!;
    while (j + 1 < other.n && other.t[j + 1]! <= t) j++;
    let k = j;
    if (j + 1 < other.n && Math.abs(other.t[j + 1]! - t) < Math.abs(other.t[j]! - t)) k = j + 1;
    out[i] = Math.abs(other.t[k]! - t) <= MAX_INTERVAL_S ? other.v[k]! : Number.NaN;
  }
  return out;
}

function idleRpm(rpm: Series, speed: Series, coolant: Series): DriveFacts["idleRpm"] {
  const speedAt = align(rpm, speed);
  const coolantAt = align(rpm, coolant);
  // Stopped, not merely standing: at 1 km/h the clutch is engaging and the RPM is no idle's.
  const idling = (i: number) => rpm.v[i]! > RUNNING_RPM && speedAt[i] === 0 && coolantAt[i]! >= LIMITS.warmC;
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let maxRpm = -Infinity;
  for (let i = 0; i < rpm.n; i++) {
    if (!idling(i)) continue;
    count++;
    sum += rpm.v[i]!;
    min = Math.min(min, rpm.v[i]!);
    maxRpm = Math.max(maxRpm, rpm.v[i]!);
  }
  if (count === 0) return null;
  const m = sum / count;
  let squares = 0;
  for (let i = 0; i < rpm.n; i++) if (idling(i)) squares += (rpm.v[i]! - m) ** 2;
  return { count, mean: m, std: Math.sqrt(squares / count), min, max: maxRpm };
}

function runningVoltage(volts: Series, rpm: Series): DriveFacts["runningVoltage"] {
  const rpmAt = align(volts, rpm);
  let min = Infinity;
  let maxV = -Infinity;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < volts.n; i++) {
    if (rpmAt[i]! > RUNNING_RPM) {
      min = Math.min(min, volts.v[i]!);
      maxV = Math.max(maxV, volts.v[i]!);
      sum += volts.v[i]!;
      count++;
    }
  }
  if (min === Infinity) return null;
  const running = (_: number, i: number) => rpmAt[i]! > RUNNING_RPM;
  return {
    min,
    max: maxV,
    mean: sum / count,
    secondsBelow: secondsWhere(volts, (v, i) => running(v, i) && v < LIMITS.lowVolts),
    secondsAbove: secondsWhere(volts, (v, i) => running(v, i) && v > LIMITS.highVolts),
  };
}
