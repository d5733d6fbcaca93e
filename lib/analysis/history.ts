/**
 * A drive against the car's own history: the device's previous real drives
 * (data_source 'real', or NULL from older Pis that do not tag), up to the
 * last BASELINE_DRIVES, read from their stored summaries in `drives` (one
 * indexed query, never raw readings). For each metric below:
 *
 * - the baseline: mean and sample standard deviation over those drives, and
 *   this drive's z = (this - mean) / max(std, the metric's resolution floor);
 *   the floor keeps a baseline that never moved (a trim stuck on one OBD
 *   step) from calling a one-step change six sigma;
 * - an anomaly when |z| > 2 with at least MIN_PRIOR_DRIVES prior drives; its
 *   finding cites this drive's value and the baseline's;
 * - a trend over the prior drives and this one (when it is real), for the
 *   metrics that drift as parts wear: the least-squares slope per drive,
 *   rising or falling when the fitted change over the window reaches the
 *   metric's materiality and the line explains at least half the variance
 *   (r² ≥ 0.5), else steady; a finding when it drifts the harmful way.
 *
 * Drives that are not real (simulated, replayed, fixtures) are analysed
 * against the same baseline but never enter one.
 */
import type { Pool } from "mariadb";
import type { DriveStats } from "./drive-stats.ts";
import { duration, type Finding } from "./findings.ts";
import { LIMITS } from "./limits.ts";
import { sqlTimestamp } from "../time.ts";

/** Drives in a baseline at most. */
const BASELINE_DRIVES = 20;
/** Fewer prior drives than this flag no anomaly and fit no trend. */
const MIN_PRIOR_DRIVES = 5;
const ANOMALY_Z = 2;
const MIN_R2 = 0.5;

/** A drive whose data_source is one of these (or NULL) is real and may enter a baseline. */
const isReal = (dataSource: string | null | undefined) => dataSource === null || dataSource === undefined || dataSource === "real";

type Trend = {
  /** Fitted change over the window that counts as drift, in the metric's unit, or relative to where the line starts. */
  material: { absolute: number; relative?: number };
  /** The harmful direction, with what it points at; a drift the other way is reported but is no finding. */
  harmful: { direction: "rising" | "falling" | "either"; why: string };
};

type Metric = {
  /** The drives column the summary stores it in. */
  column: "ltft_mean" | "stft_mean" | "mean_running_v" | "max_coolant_c" | "intake_p95_c" | "idle_rpm" | "warmup_s";
  parameter: string;
  metric: string;
  label: string;
  unit: string;
  /** The smallest standard deviation the metric can meaningfully have (sensor resolution and noise). */
  floor: number;
  /** The metric's value for a drive, from its statistics. */
  of(s: DriveStats): number | null;
  trend?: Trend;
  /** Only drives that started cold compare (a warm restart has no warm-up). */
  coldStartsOnly?: boolean;
};

const p95 = (s: DriveStats, name: string) => s.parameters.find((p) => p.parameter === name)?.p95 ?? null;
const coldStart = (startC: number | null | undefined) => startC !== null && startC !== undefined && startC < LIMITS.coldStartC;

const METRICS: readonly Metric[] = [
  {
    column: "ltft_mean",
    parameter: "LONG_FUEL_TRIM_1",
    metric: "mean",
    label: "Long-term fuel trim",
    unit: "%",
    floor: 0.78, // one OBD step, 100/128 %
    of: (s) => s.facts.fuelTrim.ltft,
    trend: {
      material: { absolute: 3 },
      harmful: { direction: "either", why: "the ECU is learning a growing correction: look for a developing vacuum or boost leak, a dirty MAF, weak fuel pressure or tired injectors" },
    },
  },
  { column: "stft_mean", parameter: "SHORT_FUEL_TRIM_1", metric: "mean", label: "Short-term fuel trim", unit: "%", floor: 0.78, of: (s) => s.facts.fuelTrim.stft },
  {
    column: "mean_running_v",
    parameter: "CONTROL_MODULE_VOLTAGE",
    metric: "running mean",
    label: "Voltage with the engine running",
    unit: "V",
    floor: 0.05,
    of: (s) => s.facts.runningVoltage?.mean ?? null,
    trend: { material: { absolute: 0.3 }, harmful: { direction: "falling", why: "the charging system is weakening: check the alternator, its belt and the battery's connections" } },
  },
  {
    column: "max_coolant_c",
    parameter: "COOLANT_TEMP",
    metric: "max",
    label: "Peak coolant temperature",
    unit: "°C",
    floor: 1,
    of: (s) => s.facts.maxCoolantC,
    trend: { material: { absolute: 4 }, harmful: { direction: "rising", why: "the cooling system is losing margin: check the coolant level, the fan and its switch, and the radiator" } },
  },
  { column: "intake_p95_c", parameter: "INTAKE_TEMP", metric: "p95", label: "Intake air temperature (95th percentile)", unit: "°C", floor: 1, of: (s) => p95(s, "INTAKE_TEMP") },
  { column: "idle_rpm", parameter: "RPM", metric: "warm idle mean", label: "Warm idle speed", unit: "rpm", floor: 10, of: (s) => s.facts.idleRpm?.mean ?? null },
  {
    column: "warmup_s",
    parameter: "COOLANT_TEMP",
    metric: "warm-up time",
    label: `Warm-up time to ${LIMITS.warmC} °C from a cold start`,
    unit: "s",
    floor: 15,
    coldStartsOnly: true,
    of: (s) => (coldStart(s.facts.startCoolantC) ? s.facts.warmUpSeconds : null),
    trend: { material: { absolute: 60, relative: 0.25 }, harmful: { direction: "rising", why: "the engine takes ever longer to warm: the thermostat is probably sticking open" } },
  },
];

type Baseline = { parameter: string; metric: string; unit: string; drives: number; mean: number; std: number; thisDrive: number | null; z: number | null };
type Anomaly = { parameter: string; metric: string; thisDrive: number; mean: number; std: number; z: number };
type TrendResult = { parameter: string; metric: string; drives: number; slopePerDrive: number; change: number; r2: number; direction: "rising" | "falling" | "steady" };

export type History = {
  /** Real drives of the device before this one in the baseline (at most BASELINE_DRIVES). */
  priorDrives: number;
  /** This drive's data_source; a drive that is not real is analysed but never enters a baseline. */
  dataSource: string | null;
  inBaseline: boolean;
  baselines: Baseline[];
  anomalies: Anomaly[];
  trends: TrendResult[];
  /** Said when the drive's data is not real. */
  note?: string;
};

type PriorRow = Record<Metric["column"] | "start_coolant_c", number | null>;

/** The baseline drives, newest first: the device's real drives that started before `before`, other than `exclude`. */
async function priorDrives(pool: Pool, deviceId: string, before: Date, exclude: bigint | null): Promise<PriorRow[]> {
  return pool.query(
    `SELECT ${[...METRICS.map((m) => m.column), "start_coolant_c"].join(", ")} FROM drives
     WHERE source_device = ? AND drive_start < ? AND id <> ? AND summarized_at IS NOT NULL AND readings > 0
       AND (data_source IS NULL OR data_source = 'real')
     ORDER BY drive_start DESC LIMIT ${BASELINE_DRIVES}`,
    [deviceId, sqlTimestamp(before), exclude ?? -1],
  );
}

function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, std };
}

/** Least squares over x = 0..n-1. */
function fit(values: number[]): { slope: number; intercept: number; r2: number } {
  const n = values.length;
  const mx = (n - 1) / 2;
  const my = values.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  values.forEach((y, x) => {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  });
  const slope = sxx ? sxy / sxx : 0;
  return { slope, intercept: my - slope * mx, r2: syy ? (sxy * sxy) / (sxx * syy) : 0 };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const digitsOf = (m: Metric) => (m.unit === "V" ? 2 : m.unit === "%" ? 1 : 0);
const signed = (x: number, d: number) => `${x > 0 ? "+" : ""}${x.toFixed(d)}`;
const valueText = (m: Metric, x: number) => (m.unit === "s" ? duration(x) : `${m.unit === "%" ? signed(x, 1) : x.toFixed(digitsOf(m))} ${m.unit}`);
const spreadText = (m: Metric, x: number) => (m.unit === "s" ? duration(x) : `${x.toFixed(digitsOf(m))} ${m.unit}`);

/**
 * The history of a drive whose statistics are `stats`: its baselines,
 * anomalies and trends, and the findings they give. `driveRef` (drives.id)
 * keeps the drive itself out of its baseline.
 */
export async function readHistory(pool: Pool, q: { deviceId: string; start: Date; driveRef: bigint | null; dataSource: string | null; stats: DriveStats }): Promise<{ history: History; findings: Finding[] }> {
  const prior = await priorDrives(pool, q.deviceId, q.start, q.driveRef);
  const real = isReal(q.dataSource);
  const history: History = { priorDrives: prior.length, dataSource: q.dataSource, inBaseline: real, baselines: [], anomalies: [], trends: [] };
  if (!real) history.note = `This drive's data_source is ${q.dataSource}, not real data: it was analysed against the real drives' baseline but is never part of one.`;
  const findings: Finding[] = [];
  for (const m of METRICS) {
    const values = prior
      .filter((r) => !m.coldStartsOnly || coldStart(r.start_coolant_c))
      .map((r) => r[m.column])
      .filter((v): v is number => v !== null);
    const thisDrive = m.of(q.stats);
    if (values.length >= 2) {
      const { mean, std } = meanStd(values);
      const z = thisDrive === null ? null : (thisDrive - mean) / Math.max(std, m.floor);
      history.baselines.push({ parameter: m.parameter, metric: m.metric, unit: m.unit, drives: values.length, mean, std, thisDrive, z });
      if (z !== null && thisDrive !== null && values.length >= MIN_PRIOR_DRIVES && Math.abs(z) > ANOMALY_Z) {
        history.anomalies.push({ parameter: m.parameter, metric: m.metric, thisDrive, mean, std, z });
        findings.push({
          code: "baseline_anomaly",
          severity: Math.abs(z) > 3 ? "warning" : "info",
          parameter: m.parameter,
          message: `${m.label} was ${valueText(m, thisDrive)} this drive, against ${valueText(m, mean)} ± ${spreadText(m, std)} over the last ${values.length} real drives (z ${signed(z, 1)})`,
          evidence: { thisDrive: round(thisDrive, 3), baselineMean: round(mean, 3), baselineStd: round(std, 3), z: round(z, 2), priorDrives: values.length },
        });
      }
    }
    if (!m.trend) continue;
    // Oldest first; this drive closes the series when it is real.
    const series = [...values].reverse();
    if (real && thisDrive !== null) series.push(thisDrive);
    if (values.length < MIN_PRIOR_DRIVES) continue;
    const line = fit(series);
    const change = line.slope * (series.length - 1);
    const from = line.intercept;
    const big = Math.abs(change) >= m.trend.material.absolute && (m.trend.material.relative === undefined || Math.abs(change) >= m.trend.material.relative * Math.abs(from));
    const direction = big && line.r2 >= MIN_R2 ? (change > 0 ? "rising" : "falling") : "steady";
    history.trends.push({ parameter: m.parameter, metric: m.metric, drives: series.length, slopePerDrive: line.slope, change, r2: line.r2, direction });
    const harmful = m.trend.harmful.direction;
    if (direction === "steady" || (harmful !== "either" && harmful !== direction)) continue;
    const percent = from !== 0 ? Math.round((change / Math.abs(from)) * 100) : null;
    findings.push({
      code: "trend",
      severity: "warning",
      parameter: m.parameter,
      message:
        `${m.label} has been ${direction} over the last ${series.length} drives, from about ${valueText(m, from)} to ${valueText(m, from + change)}` +
        `${percent === null ? "" : ` (${signed(percent, 0)} %)`}, ${m.unit === "s" ? duration(Math.abs(line.slope)) : spreadText(m, Math.abs(line.slope))} per drive: ${m.trend.harmful.why}`,
      evidence: { drives: series.length, slopePerDrive: round(line.slope, 3), from: round(from, 3), to: round(from + change, 3), r2: round(line.r2, 2), ...(percent === null ? {} : { percent }) },
    });
  }
  return { history, findings };
}
