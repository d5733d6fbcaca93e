/**
 * The drives themselves: simulate() plans a day of drives (or a bulk row
 * count) and writes every table's rows for them; follow() plays a live logger
 * appending to a file. The other files here serve these two.
 */
import { existsSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { ALERTS, obd, PIDS, Rng, type Overheat } from "./physics.ts";
import { CurrentPi } from "./current.ts";
import { createEclipseSchema, indexSql, openPiFile, resumePoint, shapeOf, tableNames, tableSql, type PiSchema } from "./schema.ts";
import { DATA_SOURCE, micros, PLAIN, Poll, Stamper, Writer, type DataSource } from "./writer.ts";

export type SimulateOptions = {
  /** SQLite file to create (must not exist, or pass append: true). */
  out: string;
  /** Default 3. */
  drives?: number;
  /** Minutes of readings per drive, default 20. */
  minutes?: number;
  /** Default 1; the same options give byte-for-byte the same row content. */
  seed?: number;
  /** First drive start, default "2026-04-19 08:00:00" (UTC). Appending defaults to a while after the file's last row. */
  start?: string;
  /** Older Pi schema: no data_source/drive_id columns and no profiles table. */
  legacy?: boolean;
  /**
   * Today's Pi schema (as the Pi app's own upgrade leaves it): adds
   * drive_summary, dtc_log, dtc_freeze_frame, battery_health_log and the
   * Pi-only drive_counter, pi_state and startup_log (scripts/simulate/current.ts).
   * The run's last drive never logs its drive_end: the Pi shut down mid-drive.
   */
  current?: boolean;
  /** data_source of every row: "physics_sim" (default) or "real", as a Pi on the road tags them. */
  dataSource?: DataSource;
  /**
   * Instead of drives/minutes: exactly this many realtime_data rows (plus drive
   * events), written fast. The new file lacks realtime_data's three secondary
   * indexes (they would double the time); createEclipseSchema() adds them.
   */
  realtimeRows?: number;
  /** Add drives to an existing file instead of creating one. */
  append?: boolean;
  /** A failing cooling system in one drive (1-based, of this run's drives): from atMinute, coolant climbs to peakC over half of `minutes` and holds there; then the fan brings it down. */
  overheat?: { drive: number; atMinute: number; minutes: number; peakC: number };
  /** A lean fault in one drive (1-based): its long-term fuel trim starts `percent` away from the run's (a vacuum leak the ECU learns to correct). */
  ltftShift?: { drive: number; percent: number };
  /** data_source per drive of the run (as many as drives), e.g. a simulated drive among real ones; the run's other rows keep dataSource. */
  dataSources?: DataSource[];
};

/** Rows written per table (tables the run did not touch count 0). */
export type SimulateSummary = { drives: number; rows: Record<string, number> };

/** A bad option; the CLI prints it with a hint and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    // The old entry point's name, which still works and which tests/simulate.test.ts expects verbatim.
    readonly hint = "bun scripts/simulate/cli.ts --help",
  ) {
    super(message);
  }
}

export const DEFAULT_START = "2026-04-19 08:00:00";
const DEFAULT_START_US = micros(DEFAULT_START)!;
const VIN = "4A3AK54F8WE122916";

/** Running max/min/mean/std (Welford) and mode of one PID in one drive. */
class Stats {
  count = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  private seen = new Map<number, number>();

  add(x: number): void {
    this.count++;
    const d = x - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    // Values are OBD-quantised, so there are few distinct ones (at most 65,536) and the mode is meaningful.
    this.seen.set(x, (this.seen.get(x) ?? 0) + 1);
  }

  mode(): number {
    let best = Number.NaN;
    let bestCount = 0;
    for (const [value, n] of this.seen) if (n > bestCount) [best, bestCount] = [value, n];
    return best;
  }

  std(): number {
    return this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 0;
  }
}

const RECOMMENDATIONS = [
  "Short-term fuel trim swings about ±8% at steady cruise while long-term trim sits near +3%. Check the intake pipe couplers and the blow-off valve for a small boost/vacuum leak before adding fuel.",
  "Timing advance falls to about 12° above 5,500 rpm under boost, which looks like knock retard. Run 93 octane and re-log a 3rd-gear pull before raising boost.",
  "Coolant passed 100 °C in stop-and-go traffic before the fan brought it down. Confirm the radiator fan relay engages near 98 °C and bleed air from the cooling system.",
  "Intake air temperature climbs more than 20 °C above ambient after pulls. The stock side-mount intercooler is heat-soaking; consider a front-mount intercooler.",
  "MAF readings near redline approach the stock 4G63 sensor's useful range. If boost goes up, plan for a larger MAF or a speed-density conversion.",
  "Idle is around 1,100 rpm until the coolant passes 60 °C and O2 stays rich in open loop. Warm-up enrichment looks normal; no change needed.",
] as const;

const FAILURES = ["Timeout waiting for ELM327 response", "Bluetooth device 00:1D:A5:68:98:8B not available", "rfcomm0: Connection refused"] as const;

function positiveInt(value: number | undefined, fallback: number, field: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${field} must be a whole number ≥ 1 (got ${value})`);
  return n;
}

/**
 * Writes a deterministic day of drives (or `realtimeRows` readings) into a
 * new EclipseTuner SQLite file, or appends to one with `append: true`.
 */
export function simulate(opts: SimulateOptions): SimulateSummary {
  if (!opts.out) throw new UsageError("out (the SQLite file to write) is required", "npm run simulate -- --out drives.db");
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be a whole number (got ${opts.seed})`);
  const minutes = positiveInt(opts.minutes, 20, "minutes");
  const bulk = opts.realtimeRows !== undefined;
  if (bulk && opts.drives !== undefined) throw new UsageError("realtimeRows replaces drives; pass one of them");
  const drives = bulk ? 0 : positiveInt(opts.drives, 3, "drives");
  const bulkRows = bulk ? positiveInt(opts.realtimeRows, 0, "realtimeRows (--rows)") : 0;
  const startUs = opts.start === undefined ? undefined : micros(opts.start);
  if (opts.start !== undefined && startUs === undefined) {
    throw new UsageError(`start "${opts.start}" is not a datetime like ${DEFAULT_START}`, `--start "${DEFAULT_START}"`);
  }
  const overheat = opts.overheat && overheatTicks(opts.overheat, drives, bulk);
  const ltftShift = opts.ltftShift && checkedShift(opts.ltftShift, drives, bulk);
  if (opts.legacy && opts.current) throw new UsageError("legacy and current are two different Pi schemas; pass one of them");
  const dataSource = opts.dataSource ?? DATA_SOURCE;
  const isSource = (x: unknown) => x === "physics_sim" || x === "real";
  if (!isSource(dataSource)) throw new UsageError(`dataSource must be physics_sim or real (got ${JSON.stringify(opts.dataSource)})`);
  if (opts.dataSources && (bulk || opts.dataSources.length !== drives || !opts.dataSources.every(isSource))) {
    throw new UsageError(`dataSources must name physics_sim or real for each of the ${drives} drives (got ${JSON.stringify(opts.dataSources)})`);
  }
  const existed = existsSync(opts.out);
  if (existed && !opts.append) throw new UsageError(`${opts.out} already exists`, `choose a new --out, or pass --append to add drives to it`);

  const db = openPiFile(opts.out);
  let done = false;
  try {
    const shape = shapeOf(db);
    for (const [flag, set] of [["legacy", opts.legacy], ["current", opts.current]] as const) {
      if (shape !== "none" && set !== undefined && set !== (shape === flag)) {
        throw new UsageError(`${opts.out} has the ${shape} schema, which does not match ${flag}: ${set}`, `append without --${flag}; the file's schema is used`);
      }
    }
    const schema: PiSchema = shape !== "none" ? shape : opts.current ? "current" : opts.legacy ? "legacy" : "modern";
    const resume = resumePoint(db, shape);
    const firstUs = startUs ?? (resume.lastUs === undefined ? DEFAULT_START_US : resume.lastUs + 30 * 60e6);
    if (existed) db.exec("PRAGMA journal_mode = WAL");
    else {
      // A brand-new scratch file: skip the journal and fsyncs while filling it, and build indexes once at the end.
      db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
    }
    db.exec(tableSql(schema));
    if (existed) db.exec(indexSql({ schema }));
    const w = new Writer(db, schema === "legacy", tableNames(db), dataSource);
    const current = schema === "current" ? new CurrentPi(w, seed, new Stamper(new Rng(seed, -4))) : undefined;
    const written = bulk
      ? writeBulk(w, { seed, minutes, rows: bulkRows, firstUs, firstDrive: resume.nextDrive, current })
      : writeDrives(w, { seed, minutes, drives, firstUs, firstDrive: resume.nextDrive, fresh: !existed, overheat, current, ltftShift, dataSources: opts.dataSources });
    // Building realtime_data's three indexes takes SQLite about as long as writing the rows, so bulk files skip them.
    if (!existed) db.exec(`${indexSql({ realtime: !bulk, schema })}\nPRAGMA journal_mode = WAL`);
    done = true;
    return { drives: written, rows: w.counts };
  } finally {
    db.close();
    // A half-written new file would pass for a finished one; an appended file keeps its committed drives.
    if (!done && !existed) rmSync(opts.out, { force: true });
  }
}

type DrivePlan = { seed: number; minutes: number; firstUs: number; firstDrive: number; current?: CurrentPi };

function overheatTicks(o: NonNullable<SimulateOptions["overheat"]>, drives: number, bulk: boolean): Overheat & { drive: number } {
  if (bulk) throw new UsageError("overheat applies to drives, not to realtimeRows");
  if (!Number.isSafeInteger(o.drive) || o.drive < 1 || o.drive > drives) throw new UsageError(`overheat.drive must be a drive number from 1 to ${drives} (got ${o.drive})`);
  if (!(o.atMinute >= 0)) throw new UsageError(`overheat.atMinute must be a number ≥ 0 (got ${o.atMinute})`);
  if (!(o.minutes > 0)) throw new UsageError(`overheat.minutes must be a number > 0 (got ${o.minutes})`);
  if (!(o.peakC > 0 && o.peakC <= 215)) throw new UsageError(`overheat.peakC must be a temperature in °C from 1 to 215 (got ${o.peakC})`);
  return { drive: o.drive, from: Math.round(o.atMinute * 60), ticks: Math.max(1, Math.round(o.minutes * 60)), peakC: o.peakC };
}

function checkedShift(o: NonNullable<SimulateOptions["ltftShift"]>, drives: number, bulk: boolean): NonNullable<SimulateOptions["ltftShift"]> {
  if (bulk) throw new UsageError("ltftShift applies to drives, not to realtimeRows");
  if (!Number.isSafeInteger(o.drive) || o.drive < 1 || o.drive > drives) throw new UsageError(`ltftShift.drive must be a drive number from 1 to ${drives} (got ${o.drive})`);
  if (!(Math.abs(o.percent) <= 50)) throw new UsageError(`ltftShift.percent must be a trim change in % from -50 to 50 (got ${o.percent})`);
  return o;
}

/** Per-run weather and car state shared by the day's drives. */
function runState(seed: number) {
  const r = new Rng(seed, 0);
  return { rng: r, ambient: r.between(6, 26), ltft: Math.round(r.between(-1, 4) / 0.78125) * 0.78125 };
}

function writeDrives(
  w: Writer,
  plan: DrivePlan & { drives: number; fresh: boolean; overheat?: Overheat & { drive: number }; ltftShift?: SimulateOptions["ltftShift"]; dataSources?: DataSource[] },
): number {
  const { rng: runRng, ambient, ltft } = runState(plan.seed);
  const stamp = new Stamper(new Rng(plan.seed, -1));
  const ticks = plan.minutes * 60;
  let driveUs = plan.firstUs;
  let coolant = ambient;
  let firstRecommendation = 0;

  w.db.transaction(() => {
    const day = stamp.format(plan.firstUs - 15e6, PLAIN);
    const raw = { Count: 1, Message: "Results returned successfully", Results: [{ VIN, Make: "MITSUBISHI", Model: "Eclipse", ModelYear: "1998", EngineModel: "4G63", PlantCity: "NORMAL", PlantCountry: "UNITED STATES (USA)" }] };
    w.insert(
      "vehicle_info",
      { vin: VIN, make: "MITSUBISHI", model: "Eclipse", year: 1998, engine: "4G63", fuel_type: "Gasoline", transmission: "Manual", drive_type: "FWD", body_class: "Coupe", plant_city: "NORMAL", plant_country: "UNITED STATES (USA)", raw_api_response: JSON.stringify(raw), created_at: day, updated_at: day },
      true,
    );
    if (!w.legacy) {
      w.insert("profiles", { id: "daily", name: "Daily", description: "Commuting and errands", polling_interval_ms: 1000, created_at: day, updated_at: day, data_source: w.dataSource }, true);
      w.insert("profiles", { id: "performance", name: "Performance", description: "Spirited driving and pulls to redline", polling_interval_ms: 1000, created_at: day, updated_at: day, data_source: w.dataSource }, true);
    }
    if (plan.fresh) {
      for (const [name, value] of [["ELM_VERSION", "ELM327 v1.4b"], ["OBD_COMPLIANCE", "OBD-II as defined by the CARB"], ["PIDS_A", "BE3EB813"]] as const) {
        w.insert("static_data", { vin: VIN, parameter_name: name, value, unit: null, queried_at: day });
      }
    }
    plan.current?.begin(plan.firstUs, plan.fresh);
  });
  // On today's Pi the last drive never logs its end: the Pi shut down mid-drive, as real Pis do.
  const unfinished = plan.current ? plan.drives - 1 : -1;
  const runSource = w.dataSource;

  for (let n = 0; n < plan.drives; n++) {
    const driveId = plan.firstDrive + n;
    const r = new Rng(plan.seed, driveId);
    const performance = !w.legacy && r.chance(0.3);
    const profile = performance ? "performance" : "daily";
    const overheat = plan.overheat?.drive === n + 1 ? plan.overheat : undefined;
    const shift = plan.ltftShift?.drive === n + 1 ? plan.ltftShift.percent : 0;
    w.dataSource = plan.dataSources?.[n] ?? runSource;
    const poll = new Poll(r, stamp, { ticks, performance, ambient, coolant, ltft: ltft + shift, overheat });
    const insertReadings = w.readings(profile, driveId);
    const startUs = driveUs;
    const endUs = startUs + (ticks + 2) * 1e6;
    const stats = PIDS.map(() => new Stats());
    const above = [false, false];
    const mac = r.chance(0.8) ? "00:1D:A5:68:98:8B" : "/dev/rfcomm0";
    const finished = n !== unfinished;

    w.db.transaction(() => {
      plan.current?.boot(driveId, startUs - 40e6, true);
      w.insert("power_log", { timestamp: stamp.format(startUs - 12e6), event_type: "power_restored", power_source: "external", on_ac_power: 1, ...(plan.current ? { vcell: 4.18 } : {}) });
      const preCrankV = obd.step(r.between(12.35, 12.7), 1000, 20);
      w.insert("battery_log", { timestamp: stamp.format(startUs - 10e6), event_type: "pre_crank", voltage: preCrankV, warning_threshold: 12, critical_threshold: 11.5 });
      if (r.chance(0.3)) {
        w.event(startUs - 8e6, stamp, "connect_attempt", null, { mac_address: mac, success: 0, error_message: r.pick(FAILURES), retry_count: 1 });
        w.event(startUs - 4e6, stamp, "connected", null, { mac_address: mac, retry_count: 1 });
      } else {
        w.event(startUs - 6e6, stamp, "connect_attempt", null, { mac_address: mac });
        w.event(startUs - 4e6, stamp, "connected", null, { mac_address: mac });
      }
      w.insert("battery_log", { timestamp: stamp.format(startUs - 1e6), event_type: "cranking", voltage: obd.step(r.between(10.1, 10.9), 1000, 20), warning_threshold: 12, critical_threshold: 11.5 });
      w.event(startUs, stamp, "drive_start", driveId);
      plan.current?.startDrive(driveId, startUs, { ambient, coolant, batteryV: preCrankV });

      for (let k = 1; k <= ticks; k++) {
        poll.next(startUs + k * 1e6);
        insertReadings(poll);
        if (k === Math.ceil(ticks / 3)) plan.current?.dtcs(n, driveId, startUs + k * 1e6, poll.car);
        poll.car.values.forEach((value, pid) => stats[pid]!.add(value));
        ALERTS.forEach((alert, i) => {
          const value = poll.car.values[alert.pid]!;
          if (value > alert.threshold && !above[i]) {
            w.insert("alert_log", { timestamp: poll.stamps[alert.pid]!, alert_type: alert.type, parameter_name: PIDS[alert.pid]!.name, value, threshold: alert.threshold, profile_id: profile, drive_id: driveId });
          }
          // Re-arm only once clearly back under, so one excursion is one alert.
          above[i] = value > alert.threshold || (above[i]! && value > alert.threshold * 0.95);
        });
      }

      if (!finished) {
        // Power gone mid-drive: the UPS drain event opens and the Pi dies before closing it; nothing after this is logged.
        plan.current?.drain(driveId, endUs - 5e6, undefined);
        return;
      }
      w.event(endUs, stamp, "drive_end", driveId);
      const analysed = stamp.format(endUs);
      const created = stamp.format(endUs, PLAIN);
      PIDS.forEach((p, pid) => {
        const s = stats[pid]!;
        const std = s.std();
        w.insert("statistics", { parameter_name: p.name, analysis_date: analysed, profile_id: profile, max_value: s.max, min_value: s.min, avg_value: s.mean, mode_value: s.mode(), std_1: std, std_2: 2 * std, outlier_min: s.mean - 2 * std, outlier_max: s.mean + 2 * std, sample_count: s.count, created_at: created, drive_id: driveId, data_source: w.dataSource });
      });

      // Recommendations: two after the first drive, one after each later drive; the run's last repeats the first.
      const recs = n === 0 ? 2 : 1;
      for (let i = 0; i < recs; i++) {
        const original = n === 0 && i === 0;
        const repeat = !original && n === plan.drives - (plan.current ? 2 : 1) && i === recs - 1;
        w.insert("ai_recommendations", {
          timestamp: analysed,
          recommendation: original || repeat ? RECOMMENDATIONS[0] : r.pick(RECOMMENDATIONS.slice(1)),
          priority_rank: original || repeat ? 2 : r.int(1, 5),
          is_duplicate_of: repeat ? firstRecommendation : null,
          profile_id: profile,
          created_at: created,
        });
        if (original) firstRecommendation = w.lastId();
      }

      // A finished calibration session in the first drive, and one still running in the last.
      const quarter = (endUs - startUs) / 4;
      const calibration = w.legacy ? "daily" : "performance";
      if (n === 0) {
        w.insert("calibration_sessions", { start_time: stamp.format(startUs + quarter), end_time: stamp.format(startUs + 2 * quarter), notes: "Baseline: stock boost, 93 octane", profile_id: calibration, created_at: stamp.format(startUs + quarter, PLAIN), data_source: w.dataSource });
      }
      if (n === plan.drives - 1) {
        w.insert("calibration_sessions", { start_time: stamp.format(startUs + 3 * quarter), end_time: null, notes: "Boost controller at 15 psi; session still open", profile_id: calibration, created_at: stamp.format(startUs + 3 * quarter, PLAIN), data_source: w.dataSource });
      }

      w.event(endUs + 3e6, stamp, "disconnect", null, { mac_address: mac });
      w.insert("power_log", { timestamp: stamp.format(endUs + 8e6), event_type: "power_lost", power_source: "battery", on_ac_power: 0, ...(plan.current ? { vcell: 4.12 } : {}) });
      // Key off: the UPS carries the Pi through its shutdown.
      plan.current?.drain(driveId, endUs + 8e6, endUs + 8e6 + 35e6);
    });

    // The engine cools toward ambient while parked (hyperbolic, to stay off Math.exp).
    const gapMinutes = runRng.int(15, 90);
    coolant = ambient + (poll.car.coolantNow - ambient) / (1 + gapMinutes / 25);
    driveUs = endUs + gapMinutes * 60e6;
  }
  return plan.drives;
}

/** Exactly `rows` readings, as many drives as that takes, with only the drive events around them. */
function writeBulk(w: Writer, plan: DrivePlan & { rows: number }): number {
  const { rng: runRng, ambient, ltft } = runState(plan.seed);
  const stamp = new Stamper(new Rng(plan.seed, -1));
  const ticks = plan.minutes * 60;
  let left = plan.rows;
  let driveUs = plan.firstUs;
  let drives = 0;
  w.db.exec("BEGIN");
  try {
    for (let driveId = plan.firstDrive; left > 0; driveId++, drives++) {
      const poll = new Poll(new Rng(plan.seed, driveId), stamp, { ticks, performance: false, ambient, coolant: ambient, ltft });
      const insertReadings = w.readings("daily", driveId);
      w.event(driveUs, stamp, "drive_start", driveId);
      plan.current?.startDrive(driveId, driveUs, { ambient, coolant: ambient, batteryV: 12.6 });
      let k = 1;
      for (; k <= ticks && left > 0; k++) {
        poll.next(driveUs + k * 1e6);
        const n = Math.min(left, PIDS.length);
        insertReadings(poll, 0, n);
        left -= n;
        // Commit now and then so the journal-less write never holds one enormous transaction.
        if (k % 10_000 === 0) w.db.exec("COMMIT; BEGIN");
      }
      const endUs = driveUs + (k + 1) * 1e6;
      w.event(endUs, stamp, "drive_end", driveId);
      driveUs = endUs + runRng.int(15, 90) * 60e6;
    }
    w.db.exec("COMMIT");
  } catch (err) {
    w.db.exec("ROLLBACK");
    throw err;
  }
  return drives;
}

/**
 * Appends realtime_data rows like a live logger: `rate` rows/s in small
 * transactions until signal aborts; returns rows written. The drive gets
 * drive_start/drive_end events. Readings are simulated, not clocked: their
 * times continue the file's story a minute after its last row, one poll per
 * simulated second whatever the rate.
 */
export async function follow(path: string, opts: { rate: number; signal: AbortSignal; seed?: number }): Promise<number> {
  if (!(opts.rate > 0 && Number.isFinite(opts.rate))) throw new UsageError(`rate must be a number of rows per second > 0 (got ${opts.rate})`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be a whole number (got ${opts.seed})`);
  if (opts.signal.aborted) return 0;
  const db = openPiFile(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    const shape = shapeOf(db);
    createEclipseSchema(db, { legacy: shape === "legacy", current: shape === "current" });
    const w = new Writer(db, shape === "legacy", ["realtime_data", "connection_log", "drive_summary", "drive_counter"]);
    const resume = resumePoint(db, shape);
    const driveId = resume.nextDrive;
    const startUs = resume.lastUs === undefined ? DEFAULT_START_US : resume.lastUs + 60e6;
    const stamp = new Stamper(new Rng(seed, -1 - driveId));
    const { ambient, ltft } = runState(seed);
    const poll = new Poll(new Rng(seed, driveId), stamp, { ticks: Number.MAX_SAFE_INTEGER, performance: false, ambient, coolant: ambient, ltft });
    const insertReadings = w.readings("daily", driveId);
    db.transaction(() => {
      w.event(startUs, stamp, "drive_start", driveId);
      if (shape === "current") new CurrentPi(w, seed, stamp).startDrive(driveId, startUs, { ambient, coolant: ambient, batteryV: 12.6 });
    });

    let tick = 0;
    let pid: number = PIDS.length;
    const began = performance.now();
    while (!opts.signal.aborted) {
      let due = Math.min(Math.floor(((performance.now() - began) / 1000) * opts.rate) - w.counts.realtime_data!, 5_000);
      if (due > 0) {
        db.transaction(() => {
          while (due > 0) {
            if (pid === PIDS.length) {
              poll.next(startUs + ++tick * 1e6);
              pid = 0;
            }
            const n = Math.min(due, PIDS.length - pid);
            insertReadings(poll, pid, pid + n);
            pid += n;
            due -= n;
          }
        });
      }
      await sleep(50, undefined, { signal: opts.signal }).catch(() => {});
    }
    db.transaction(() => w.event(startUs + (tick + 2) * 1e6, stamp, "drive_end", driveId));
    return w.counts.realtime_data!;
  } finally {
    db.close();
  }
}
