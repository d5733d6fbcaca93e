/**
 * `npm run simulate`: writes EclipseTuner-shaped SQLite files (the schema the
 * Pi writes) full of deterministic, physically plausible drives, because tests,
 * benches and demos may not use real captures. The same options always give
 * the same rows: a seeded PRNG drives everything, there is no wall clock, and
 * the physics uses only + - * / and sqrt, which round identically in Bun and
 * Node (Math.exp and friends may not).
 *
 * `--follow` plays a live logger instead: it appends readings at a set rate
 * until SIGTERM/SIGINT, so tests can push while rows keep arriving.
 */
import { existsSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openDb, type SqlValue, type SqliteDb, type Statement } from "../../client/sqlite.ts";
import { toSqlDatetime } from "../../lib/time.ts";

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
   * Instead of drives/minutes: exactly this many realtime_data rows (plus drive
   * events), written fast. The new file lacks realtime_data's three secondary
   * indexes (they would double the time); createEclipseSchema() adds them.
   */
  realtimeRows?: number;
  /** Add drives to an existing file instead of creating one. */
  append?: boolean;
  /** A failing cooling system in one drive (1-based, of this run's drives): from atMinute, coolant climbs to peakC over half of `minutes` and holds there; then the fan brings it down. */
  overheat?: { drive: number; atMinute: number; minutes: number; peakC: number };
};

/** Rows written per table (tables the run did not touch count 0). */
export type SimulateSummary = { drives: number; rows: Record<string, number> };

/** A bad option; the CLI prints it with a hint and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint = "bun scripts/simulate.ts --help",
  ) {
    super(message);
  }
}

const DEFAULT_START = "2026-04-19 08:00:00";
const VIN = "4A3AK54F8WE122916";
/** EclipseTuner's tag for simulator output (its enum: real, replay, physics_sim, fixture). */
const DATA_SOURCE = "physics_sim";

/** The Pi's DDL (EclipseTuner), idempotent. Modern adds data_source and drive_id where newer Pis have them. */
function tableSql(legacy: boolean): string {
  const source = legacy ? "" : "\n    data_source TEXT DEFAULT 'real',";
  const drive = legacy ? "" : "\n    drive_id INTEGER,";
  const profiles = legacy
    ? ""
    : `
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    polling_interval_ms INTEGER DEFAULT 1000,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    data_source TEXT DEFAULT 'real'
);`;
  return `
CREATE TABLE IF NOT EXISTS vehicle_info (
    vin TEXT PRIMARY KEY,
    make TEXT,
    model TEXT,
    year INTEGER,
    engine TEXT,
    fuel_type TEXT,
    transmission TEXT,
    drive_type TEXT,
    body_class TEXT,
    plant_city TEXT,
    plant_country TEXT,
    raw_api_response TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);${profiles}
CREATE TABLE IF NOT EXISTS static_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vin TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value TEXT,
    unit TEXT,
    queried_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_static_data_vehicle FOREIGN KEY (vin)
        REFERENCES vehicle_info(vin)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS realtime_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT,
    profile_id TEXT,${source}${drive}
    CONSTRAINT FK_realtime_data_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS statistics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parameter_name TEXT NOT NULL,
    analysis_date DATETIME NOT NULL,
    profile_id TEXT NOT NULL,
    max_value REAL,
    min_value REAL,
    avg_value REAL,
    mode_value REAL,
    std_1 REAL,
    std_2 REAL,
    outlier_min REAL,
    outlier_max REAL,
    sample_count INTEGER,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,${source}${drive}
    CONSTRAINT FK_statistics_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS ai_recommendations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    recommendation TEXT NOT NULL,
    priority_rank INTEGER DEFAULT 3
        CHECK (priority_rank >= 1 AND priority_rank <= 5),
    is_duplicate_of INTEGER,
    profile_id TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_ai_recommendations_duplicate FOREIGN KEY (is_duplicate_of)
        REFERENCES ai_recommendations(id)
        ON DELETE SET NULL,
    CONSTRAINT FK_ai_recommendations_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS calibration_sessions (
    session_id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    end_time DATETIME,
    notes TEXT,
    profile_id TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,${source}
    CONSTRAINT FK_calibration_sessions_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS alert_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    alert_type TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    profile_id TEXT,${drive}
    CONSTRAINT FK_alert_log_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS connection_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    mac_address TEXT,
    success INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0${legacy ? "" : ",\n    data_source TEXT DEFAULT 'real',\n    drive_id INTEGER"}
);
CREATE TABLE IF NOT EXISTS battery_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    voltage REAL NOT NULL,
    warning_threshold REAL,
    critical_threshold REAL
);
CREATE TABLE IF NOT EXISTS power_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    power_source TEXT NOT NULL,
    on_ac_power INTEGER NOT NULL DEFAULT 1
);`;
}

const INDEXES = [
  ["IX_realtime_data_timestamp", "realtime_data", "timestamp"],
  ["IX_realtime_data_profile", "realtime_data", "profile_id"],
  ["IX_realtime_data_param_timestamp", "realtime_data", "parameter_name, timestamp"],
  ["IX_statistics_analysis_date", "statistics", "analysis_date"],
  ["IX_statistics_profile", "statistics", "profile_id"],
  ["IX_ai_recommendations_duplicate", "ai_recommendations", "is_duplicate_of"],
  ["IX_alert_log_profile", "alert_log", "profile_id"],
  ["IX_alert_log_timestamp", "alert_log", "timestamp"],
  ["IX_connection_log_event_type", "connection_log", "event_type"],
  ["IX_connection_log_timestamp", "connection_log", "timestamp"],
  ["IX_battery_log_timestamp", "battery_log", "timestamp"],
  ["IX_battery_log_event_type", "battery_log", "event_type"],
  ["IX_power_log_timestamp", "power_log", "timestamp"],
  ["IX_power_log_event_type", "power_log", "event_type"],
] as const;

function indexSql({ realtime = true } = {}): string {
  return INDEXES.filter(([, table]) => realtime || table !== "realtime_data")
    .map(([name, table, columns]) => `CREATE INDEX IF NOT EXISTS ${name}\n    ON ${table}(${columns});`)
    .join("\n");
}

/** Creates the EclipseTuner tables and indexes that are missing (never sync_log: the sync agent owns it). */
export function createEclipseSchema(db: SqliteDb, opts: { legacy?: boolean } = {}): void {
  db.exec(tableSql(opts.legacy ?? false));
  db.exec(indexSql());
}

/** sfc32 seeded through splitmix32: 32-bit integer arithmetic only, so every runtime draws the same numbers. */
class Rng {
  private s = new Uint32Array(4);

  /** `stream` separates independent sequences under one seed (the run, each drive, the follower). */
  constructor(seed: number, stream: number) {
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b9) ^ Math.imul(stream + 1, 0x85ebca6b);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const t = (s[0]! + s[1]! + s[3]!) | 0;
    s[3] = s[3]! + 1;
    s[0] = s[1]! ^ (s[1]! >>> 9);
    s[1] = s[2]! + (s[2]! << 3);
    s[2] = ((s[2]! << 21) | (s[2]! >>> 11)) + t;
    return (t >>> 0) / 4294967296;
  }

  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Roughly normal noise with standard deviation sd (a sum of four uniforms: no log/cos needed). */
  noise(sd: number): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * sd * 1.7320508075688772;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

/** Value as the ECU reports it: OBD-II's byte encodings, so values carry the Pi's real resolution. */
const obd = {
  percent: (x: number) => (Math.round(clamp(x, 0, 100) * 2.55) * 100) / 255,
  trim: (x: number) => ((Math.round(clamp(x, -100, 99.2) * 1.28 + 128) - 128) * 100) / 128,
  temp: (x: number) => Math.round(clamp(x, -40, 215)),
  byte: (x: number) => Math.round(clamp(x, 0, 255)),
  step: (x: number, per: number, max: number) => Math.round(clamp(x, 0, max) * per) / per,
};

/** The PIDs polled every second, in poll order. */
const PIDS = [
  { name: "RPM", unit: "rpm" },
  { name: "SPEED", unit: "km/h" },
  { name: "COOLANT_TEMP", unit: "°C" },
  { name: "ENGINE_LOAD", unit: "%" },
  { name: "MAF", unit: "g/s" },
  { name: "INTAKE_TEMP", unit: "°C" },
  { name: "THROTTLE_POS", unit: "%" },
  { name: "O2_B1S1", unit: "V" },
  { name: "SHORT_FUEL_TRIM_1", unit: "%" },
  { name: "LONG_FUEL_TRIM_1", unit: "%" },
  { name: "TIMING_ADVANCE", unit: "°" },
  { name: "INTAKE_PRESSURE", unit: "kPa" },
  { name: "CONTROL_MODULE_VOLTAGE", unit: "V" },
] as const;

/** Thresholds whose crossing the Pi records in alert_log. */
const ALERTS = [
  { pid: 0, type: "rpm_redline", threshold: 6000 },
  { pid: 2, type: "coolant_overtemp", threshold: 100 },
] as const;

// 1998 Eclipse GS-T: 5-speed ratios, 4.153 final drive, 205/55R16 tyres (0.632 m).
const RPM_PER_KMH = [3.583, 1.947, 1.379, 1.03, 0.82].map((ratio) => ((ratio * 4.153 * 60) / 3.6 / (Math.PI * 0.632)));

/** A drive's length in one-second ticks, driving style, and the engine's state at key-on. */
type CarSpec = { ticks: number; performance: boolean; ambient: number; coolant: number; ltft: number; overheat?: Overheat };

/** SimulateOptions.overheat in ticks. */
type Overheat = { from: number; ticks: number; peakC: number };

type Segment = { kind: "idle" | "city" | "highway" | "traffic" | "pull"; target: number; left: number; gear: number; redline: number };

/** One drive's car: a speed plan, gearing, a turbo 4G63's air and fuel, and a cooling system, stepped once a second. */
class Car {
  readonly values = new Float64Array(PIDS.length);
  private t = 0;
  private speed = 0;
  private seg: Segment = { kind: "idle", target: 0, left: 0, gear: 0, redline: 0 };
  private pulled = false;
  private o2Rich = false;
  private o2Left = 0;
  private stft = 0;
  private fan = false;
  private iat: number;
  private coolant: number;
  private ltft: number;
  private overheatBase = 0;

  constructor(
    private rng: Rng,
    private spec: CarSpec,
  ) {
    this.iat = spec.ambient + 8;
    this.coolant = spec.coolant;
    this.ltft = spec.ltft;
  }

  private plan(): void {
    const r = this.rng;
    const { ticks, performance } = this.spec;
    const left = ticks - this.t;
    const base = { gear: 0, redline: 0 };
    if (left <= 45) this.seg = { ...base, kind: "idle", target: 0, left };
    else if (this.t === 0) this.seg = { ...base, kind: "idle", target: 0, left: r.int(20, 45) };
    else if (this.speed > 25 && this.speed < 90 && (r.chance(performance ? 0.35 : 0.1) || (!this.pulled && this.t > Math.min(ticks * 0.4, 400)))) {
      // A pull in 2nd or 3rd until the driver lifts short of the 7,000 rpm limiter. Every drive long
      // enough gets at least one, so each day has redline data and alerts; performance drives get more.
      this.pulled = true;
      this.seg = { kind: "pull", target: 0, left: 25, gear: this.speed < 55 ? 2 : 3, redline: r.between(6100, 6700) };
    } else {
      const roll = r.next();
      if (roll < 0.2) this.seg = { ...base, kind: "idle", target: 0, left: r.int(10, 50) };
      else if (roll < 0.32 && this.coolant > 85) this.seg = { ...base, kind: "traffic", target: 0, left: r.int(120, 260) };
      else if (roll < 0.7) this.seg = { ...base, kind: "city", target: r.between(30, 65), left: r.int(40, 130) };
      else this.seg = { ...base, kind: "highway", target: r.between(85, 118), left: r.int(90, 260) };
    }
  }

  /** Advances one second and fills `values` (PIDS order, OBD-encoded). */
  step(): void {
    const r = this.rng;
    if (this.seg.left <= 0) this.plan();
    const seg = this.seg;
    seg.left--;
    this.t++;

    // Stop-and-go traffic creeps between 0 and 15 km/h.
    const target = seg.kind === "traffic" ? (this.t % 40 < 12 ? 15 : 0) : seg.target;
    let accel: number;
    if (seg.kind === "pull") {
      const perKmh = RPM_PER_KMH[seg.gear - 1]!;
      accel = 6 + 7 * clamp((this.speed * perKmh - 2500) / 2000, 0, 1) + r.noise(0.5);
      // The driver lifts at the redline they aimed for; the next segment starts from there.
      if ((this.speed + accel) * perKmh >= seg.redline) {
        accel = seg.redline / perKmh - this.speed;
        seg.left = 0;
      }
    } else {
      accel = clamp((target - this.speed) * 0.12, -8, seg.kind === "highway" ? 3.5 : 2.8) + r.noise(0.3);
    }
    this.speed = clamp(this.speed + accel, 0, 200);
    if (target === 0 && seg.kind !== "pull" && this.speed < 2) this.speed = 0;

    const warm = clamp((this.coolant - 20) / 50, 0, 1);
    const idle = 800 + 350 * (1 - warm) + r.noise(12);
    let gear = 0;
    if (seg.kind === "pull") gear = seg.gear;
    else if (this.speed >= 6 || (this.speed > 0 && accel > 0)) {
      const shift = this.spec.performance ? 3800 : 2700;
      gear = 1;
      while (gear < 5 && this.speed * RPM_PER_KMH[gear - 1]! > shift) gear++;
    }
    const rpm = gear === 0 ? idle : Math.max(this.speed * RPM_PER_KMH[gear - 1]!, gear === 1 ? idle + 350 : 0) + r.noise(6);

    const coasting = gear > 0 && accel < -0.8;
    const fuelCut = coasting && rpm > 1500 && warm === 1;
    let throttle: number;
    if (seg.kind === "pull") throttle = r.between(96, 100);
    else if (gear === 0 || coasting) throttle = 0;
    else throttle = clamp(6 + this.speed * 0.11 + Math.max(0, accel) * 6 + r.noise(1.2), 1, 90);

    let load: number;
    if (gear === 0) load = 19 + 8 * (1 - warm) + r.noise(1.2);
    else if (fuelCut) load = r.between(0, 4);
    else load = clamp(10 + throttle * 0.9 + r.noise(2), 5, 100);
    const boost = throttle > 80 ? clamp((rpm - 2800) * 0.03, 0, 70) : 0;
    const map = clamp(24 + load * 0.72 + boost + r.noise(0.8), 15, 250);
    const maf = (rpm / 60) * 1.02 * (map / 101.3) * (1 + r.noise(0.02));

    let timing: number;
    if (gear === 0) timing = 10 + r.noise(0.6);
    else if (boost > 0) timing = 16 - boost * 0.08 + rpm * 0.0006 + r.noise(0.5);
    else timing = 8 + (100 - load) * 0.22 + rpm * 0.0025 + r.noise(0.8);

    this.iat += (this.spec.ambient + (this.speed < 15 ? 24 : 6) + boost * 0.3 - this.iat) * 0.03;

    // Heat from burnt air; the thermostat opens at 88 °C and the fan cuts in at 101 °C.
    const heat = 0.015 + maf * 0.0032 + (seg.kind === "traffic" ? 0.08 : 0);
    let cooling = this.coolant > 88 ? (this.coolant - 88) * 0.012 * (0.25 + this.speed / 50) : 0;
    if (this.coolant > 101) this.fan = true;
    else if (this.coolant < 96) this.fan = false;
    if (this.fan) cooling += 0.12;
    this.coolant += heat - cooling;
    const oh = this.spec.overheat;
    if (oh && this.t > oh.from && this.t <= oh.from + oh.ticks) {
      // No random draws here, so the readings before the fault are those of the same run without it.
      if (this.t === oh.from + 1) this.overheatBase = this.coolant;
      const rise = Math.min(1, (2 * (this.t - oh.from)) / oh.ticks);
      this.coolant = Math.max(this.coolant, this.overheatBase + (oh.peakC - this.overheatBase) * rise);
    }

    // Closed loop once warm: the narrowband sensor switches rich/lean and short-term trim chases it.
    const closedLoop = this.coolant > 60 && throttle < 80 && !fuelCut;
    let o2: number;
    if (fuelCut) o2 = r.between(0.02, 0.06);
    else if (throttle >= 80) o2 = r.between(0.86, 0.92);
    else if (!closedLoop) o2 = r.between(0.7, 0.8);
    else {
      if (--this.o2Left <= 0) {
        this.o2Rich = !this.o2Rich;
        this.o2Left = r.int(1, 3);
      }
      o2 = this.o2Rich ? r.between(0.62, 0.88) : r.between(0.06, 0.3);
    }
    if (closedLoop) {
      this.stft = clamp(this.stft * 0.85 + (this.o2Rich ? -0.9 : 0.9) + r.noise(0.7), -12, 12);
      if (Math.abs(this.stft) > 5 && r.chance(0.01)) this.ltft += this.stft > 0 ? 0.78125 : -0.78125;
    } else this.stft = 0;

    const volts = 14.15 - (this.fan ? 0.25 : 0) - (gear === 0 ? 0.1 : 0) + r.noise(0.04);

    const v = this.values;
    v[0] = obd.step(rpm, 4, 16383.75);
    v[1] = obd.byte(this.speed);
    v[2] = obd.temp(this.coolant);
    v[3] = obd.percent(load);
    v[4] = obd.step(maf, 100, 655.35);
    v[5] = obd.temp(this.iat);
    v[6] = obd.percent(throttle);
    v[7] = obd.step(o2, 200, 1.275);
    v[8] = obd.trim(this.stft);
    v[9] = obd.trim(this.ltft);
    v[10] = obd.step(timing + 64, 2, 127.5) - 64;
    v[11] = obd.byte(map);
    v[12] = obd.step(volts, 1000, 65.535);
  }

  get coolantNow(): number {
    return this.coolant;
  }
}

/** Microseconds since the epoch for a datetime in one of the Pi's formats, or undefined when it is not one. */
function micros(text: string): number | undefined {
  const sql = toSqlDatetime(text);
  if (!sql) return undefined;
  const n = sql.match(/\d+/g)!.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5]) * 1000 + n[6];
}

const DEFAULT_START_US = micros(DEFAULT_START)!;

const MICRO = 0;
const PLAIN = 1;
const ISO = 2;

/** Formats times the three ways Pis write them; remembers the last second because rows arrive in time order. */
class Stamper {
  private second = Number.NaN;
  private plain = "";
  private iso = "";

  constructor(private rng: Rng) {}

  /** Mostly `…SS.ffffff`, sometimes `…SS` (Python drops a zero fraction) and `…THH:MM:SSZ` (newer Pi code). */
  style(): number {
    const r = this.rng.next();
    return r < 0.9 ? MICRO : r < 0.96 ? PLAIN : ISO;
  }

  format(us: number, style = this.style()): string {
    const second = Math.floor(us / 1e6);
    if (second !== this.second) {
      this.second = second;
      this.iso = new Date(second * 1000).toISOString().slice(0, 19);
      this.plain = this.iso.replace("T", " ");
      this.iso += "Z";
    }
    if (style === PLAIN) return this.plain;
    if (style === ISO) return this.iso;
    return `${this.plain}.${String(us - second * 1e6).padStart(6, "0")}`;
  }
}

/** One poll of every PID: the car steps a second, then each PID is read in turn, about 55 ms apart. */
class Poll {
  readonly stamps: string[] = Array(PIDS.length);
  readonly car: Car;

  constructor(
    private rng: Rng,
    private stamp: Stamper,
    spec: CarSpec,
  ) {
    this.car = new Car(rng, spec);
  }

  /** Takes the poll that starts at `us`. */
  next(us: number): void {
    this.car.step();
    const style = this.stamp.style();
    for (let pid = 0; pid < PIDS.length; pid++) this.stamps[pid] = this.stamp.format(us + pid * 55_000 + this.rng.int(0, 8_000), style);
  }
}

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

/** Writes rows through cached INSERTs; in legacy files it leaves out the columns older Pis lack. */
class Writer {
  readonly counts: Record<string, number> = {};
  private statements = new Map<string, Statement>();

  constructor(
    readonly db: SqliteDb,
    readonly legacy: boolean,
    tables: string[],
  ) {
    for (const t of tables) this.counts[t] = 0;
  }

  insert(table: string, row: Record<string, SqlValue>, orIgnore = false): void {
    const cols = Object.keys(row).filter((c) => !(this.legacy && (c === "data_source" || c === "drive_id")));
    const sql = `INSERT${orIgnore ? " OR IGNORE" : ""} INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`;
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare(sql)));
    this.counts[table]! += stmt.run(...cols.map((c) => row[c]!)).changes;
  }

  lastId(): number {
    return Number(this.db.prepare("SELECT last_insert_rowid() AS id").get()!.id);
  }

  /**
   * Inserts readings `from`..`to` (PID indexes) of one poll. A whole poll goes
   * in one 13-row INSERT: binding per statement, not per row, is most of what
   * makes bulk mode fast.
   */
  readings(profile: string, driveId: number): (poll: Poll, from?: number, to?: number) => void {
    const cols = this.legacy ? "timestamp, parameter_name, value, unit, profile_id" : "timestamp, parameter_name, value, unit, profile_id, data_source, drive_id";
    const width = this.legacy ? 5 : 7;
    const row = `(${Array(width).fill("?").join(", ")})`;
    const one = this.db.prepare(`INSERT INTO realtime_data (${cols}) VALUES ${row}`);
    const all = this.db.prepare(`INSERT INTO realtime_data (${cols}) VALUES ${Array(PIDS.length).fill(row).join(", ")}`);
    const params: SqlValue[] = Array(PIDS.length * width);
    const fill = (poll: Poll, pid: number, at: number) => {
      params[at] = poll.stamps[pid]!;
      params[at + 1] = PIDS[pid]!.name;
      params[at + 2] = poll.car.values[pid]!;
      params[at + 3] = PIDS[pid]!.unit;
      params[at + 4] = profile;
      if (width === 7) {
        params[at + 5] = DATA_SOURCE;
        params[at + 6] = driveId;
      }
    };
    return (poll, from = 0, to = PIDS.length) => {
      if (from === 0 && to === PIDS.length) {
        for (let pid = 0; pid < to; pid++) fill(poll, pid, pid * width);
        all.run(...params);
      } else {
        for (let pid = from; pid < to; pid++) {
          fill(poll, pid, 0);
          one.run(...params.slice(0, width));
        }
      }
      this.counts.realtime_data! += to - from;
    };
  }

  event(us: number, stamp: Stamper, type: string, driveId: number | null, extra: Record<string, SqlValue> = {}): void {
    this.insert("connection_log", {
      timestamp: stamp.format(us),
      event_type: type,
      mac_address: null,
      success: 1,
      error_message: null,
      retry_count: 0,
      data_source: DATA_SOURCE,
      drive_id: driveId,
      ...extra,
    });
  }
}

type Shape = "none" | "legacy" | "modern";

function shapeOf(db: SqliteDb): Shape {
  const cols = db.prepare("SELECT name FROM pragma_table_info('realtime_data')").all().map((r) => r.name);
  return cols.length === 0 ? "none" : cols.includes("drive_id") ? "modern" : "legacy";
}

function tableNames(db: SqliteDb): string[] {
  return db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'sync_log' ORDER BY rowid")
    .all()
    .map((r) => String(r.name));
}

/** Where the file's story left off: the next drive number and the latest time any row mentions. */
function resumePoint(db: SqliteDb, shape: Shape): { nextDrive: number; lastUs: number | undefined } {
  if (shape === "none") return { nextDrive: 1, lastUs: undefined };
  // Pis mix `T…Z` and space forms, which sort differently as text, so compare whole seconds in one form,
  // skipping anything that is not a datetime at all (a file may hold rows the server will quarantine).
  const last = db
    .prepare(
      `SELECT max(replace(substr(timestamp, 1, 19), 'T', ' ')) AS t FROM (
         SELECT timestamp FROM connection_log UNION ALL SELECT timestamp FROM realtime_data)
       WHERE timestamp GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'`,
    )
    .get()?.t;
  const lastUs = typeof last === "string" ? micros(last) : undefined;
  const driveSql =
    shape === "modern"
      ? "SELECT max(coalesce((SELECT max(drive_id) FROM connection_log), 0), (SELECT count(*) FROM connection_log WHERE event_type = 'drive_start')) AS n"
      : "SELECT count(*) AS n FROM connection_log WHERE event_type = 'drive_start'";
  return {
    nextDrive: Number(db.prepare(driveSql).get()!.n) + 1,
    lastUs: lastUs === undefined ? undefined : lastUs + 1e6,
  };
}

/**
 * Opens (or creates) a Pi file for writing the way the Pi's Python logger
 * does: foreign keys unenforced. better-sqlite3 enforces them by default and
 * bun:sqlite does not; a legacy file's keys point at a profiles table that
 * does not exist, so enforcing them would make every insert fail under Node.
 */
function openPiFile(path: string): SqliteDb {
  const db = openDb(path, { create: true });
  db.exec("PRAGMA foreign_keys = OFF");
  return db;
}

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
  if (!opts.out) throw new UsageError("out (the SQLite file to write) is required", "bun scripts/simulate.ts --out drives.db");
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
  const existed = existsSync(opts.out);
  if (existed && !opts.append) throw new UsageError(`${opts.out} already exists`, `choose a new --out, or pass --append to add drives to it`);

  const db = openPiFile(opts.out);
  let done = false;
  try {
    const shape = shapeOf(db);
    if (shape !== "none" && opts.legacy !== undefined && opts.legacy !== (shape === "legacy")) {
      throw new UsageError(`${opts.out} has the ${shape} schema, which does not match legacy: ${opts.legacy}`, "append without --legacy; the file's schema is used");
    }
    const legacy = shape === "none" ? (opts.legacy ?? false) : shape === "legacy";
    const resume = resumePoint(db, shape);
    const firstUs = startUs ?? (resume.lastUs === undefined ? DEFAULT_START_US : resume.lastUs + 30 * 60e6);
    if (existed) db.exec("PRAGMA journal_mode = WAL");
    else {
      // A brand-new scratch file: skip the journal and fsyncs while filling it, and build indexes once at the end.
      db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
    }
    db.exec(tableSql(legacy));
    if (existed) db.exec(indexSql());
    const w = new Writer(db, legacy, tableNames(db));
    const written = bulk
      ? writeBulk(w, { seed, minutes, rows: bulkRows, firstUs, firstDrive: resume.nextDrive })
      : writeDrives(w, { seed, minutes, drives, firstUs, firstDrive: resume.nextDrive, fresh: !existed, overheat });
    // Building realtime_data's three indexes takes SQLite about as long as writing the rows, so bulk files skip them.
    if (!existed) db.exec(`${indexSql({ realtime: !bulk })}\nPRAGMA journal_mode = WAL`);
    done = true;
    return { drives: written, rows: w.counts };
  } finally {
    db.close();
    // A half-written new file would pass for a finished one; an appended file keeps its committed drives.
    if (!done && !existed) rmSync(opts.out, { force: true });
  }
}

type DrivePlan = { seed: number; minutes: number; firstUs: number; firstDrive: number };

function overheatTicks(o: NonNullable<SimulateOptions["overheat"]>, drives: number, bulk: boolean): Overheat & { drive: number } {
  if (bulk) throw new UsageError("overheat applies to drives, not to realtimeRows");
  if (!Number.isSafeInteger(o.drive) || o.drive < 1 || o.drive > drives) throw new UsageError(`overheat.drive must be a drive number from 1 to ${drives} (got ${o.drive})`);
  if (!(o.atMinute >= 0)) throw new UsageError(`overheat.atMinute must be a number ≥ 0 (got ${o.atMinute})`);
  if (!(o.minutes > 0)) throw new UsageError(`overheat.minutes must be a number > 0 (got ${o.minutes})`);
  if (!(o.peakC > 0 && o.peakC <= 215)) throw new UsageError(`overheat.peakC must be a temperature in °C from 1 to 215 (got ${o.peakC})`);
  return { drive: o.drive, from: Math.round(o.atMinute * 60), ticks: Math.max(1, Math.round(o.minutes * 60)), peakC: o.peakC };
}

/** Per-run weather and car state shared by the day's drives. */
function runState(seed: number) {
  const r = new Rng(seed, 0);
  return { rng: r, ambient: r.between(6, 26), ltft: Math.round(r.between(-1, 4) / 0.78125) * 0.78125 };
}

function writeDrives(w: Writer, plan: DrivePlan & { drives: number; fresh: boolean; overheat?: Overheat & { drive: number } }): number {
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
      w.insert("profiles", { id: "daily", name: "Daily", description: "Commuting and errands", polling_interval_ms: 1000, created_at: day, updated_at: day, data_source: DATA_SOURCE }, true);
      w.insert("profiles", { id: "performance", name: "Performance", description: "Spirited driving and pulls to redline", polling_interval_ms: 1000, created_at: day, updated_at: day, data_source: DATA_SOURCE }, true);
    }
    if (plan.fresh) {
      for (const [name, value] of [["ELM_VERSION", "ELM327 v1.4b"], ["OBD_COMPLIANCE", "OBD-II as defined by the CARB"], ["PIDS_A", "BE3EB813"]] as const) {
        w.insert("static_data", { vin: VIN, parameter_name: name, value, unit: null, queried_at: day });
      }
    }
  });

  for (let n = 0; n < plan.drives; n++) {
    const driveId = plan.firstDrive + n;
    const r = new Rng(plan.seed, driveId);
    const performance = !w.legacy && r.chance(0.3);
    const profile = performance ? "performance" : "daily";
    const overheat = plan.overheat?.drive === n + 1 ? plan.overheat : undefined;
    const poll = new Poll(r, stamp, { ticks, performance, ambient, coolant, ltft, overheat });
    const insertReadings = w.readings(profile, driveId);
    const startUs = driveUs;
    const endUs = startUs + (ticks + 2) * 1e6;
    const stats = PIDS.map(() => new Stats());
    const above = [false, false];
    const mac = r.chance(0.8) ? "00:1D:A5:68:98:8B" : "/dev/rfcomm0";

    w.db.transaction(() => {
      w.insert("power_log", { timestamp: stamp.format(startUs - 12e6), event_type: "power_restored", power_source: "external", on_ac_power: 1 });
      w.insert("battery_log", { timestamp: stamp.format(startUs - 10e6), event_type: "pre_crank", voltage: obd.step(r.between(12.35, 12.7), 1000, 20), warning_threshold: 12, critical_threshold: 11.5 });
      if (r.chance(0.3)) {
        w.event(startUs - 8e6, stamp, "connect_attempt", null, { mac_address: mac, success: 0, error_message: r.pick(FAILURES), retry_count: 1 });
        w.event(startUs - 4e6, stamp, "connected", null, { mac_address: mac, retry_count: 1 });
      } else {
        w.event(startUs - 6e6, stamp, "connect_attempt", null, { mac_address: mac });
        w.event(startUs - 4e6, stamp, "connected", null, { mac_address: mac });
      }
      w.insert("battery_log", { timestamp: stamp.format(startUs - 1e6), event_type: "cranking", voltage: obd.step(r.between(10.1, 10.9), 1000, 20), warning_threshold: 12, critical_threshold: 11.5 });
      w.event(startUs, stamp, "drive_start", driveId);

      for (let k = 1; k <= ticks; k++) {
        poll.next(startUs + k * 1e6);
        insertReadings(poll);
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

      w.event(endUs, stamp, "drive_end", driveId);
      const analysed = stamp.format(endUs);
      const created = stamp.format(endUs, PLAIN);
      PIDS.forEach((p, pid) => {
        const s = stats[pid]!;
        const std = s.std();
        w.insert("statistics", { parameter_name: p.name, analysis_date: analysed, profile_id: profile, max_value: s.max, min_value: s.min, avg_value: s.mean, mode_value: s.mode(), std_1: std, std_2: 2 * std, outlier_min: s.mean - 2 * std, outlier_max: s.mean + 2 * std, sample_count: s.count, created_at: created, drive_id: driveId, data_source: DATA_SOURCE });
      });

      // Recommendations: two after the first drive, one after each later drive; the run's last repeats the first.
      const recs = n === 0 ? 2 : 1;
      for (let i = 0; i < recs; i++) {
        const original = n === 0 && i === 0;
        const repeat = !original && n === plan.drives - 1 && i === recs - 1;
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
        w.insert("calibration_sessions", { start_time: stamp.format(startUs + quarter), end_time: stamp.format(startUs + 2 * quarter), notes: "Baseline: stock boost, 93 octane", profile_id: calibration, created_at: stamp.format(startUs + quarter, PLAIN), data_source: DATA_SOURCE });
      }
      if (n === plan.drives - 1) {
        w.insert("calibration_sessions", { start_time: stamp.format(startUs + 3 * quarter), end_time: null, notes: "Boost controller at 15 psi; session still open", profile_id: calibration, created_at: stamp.format(startUs + 3 * quarter, PLAIN), data_source: DATA_SOURCE });
      }

      w.event(endUs + 3e6, stamp, "disconnect", null, { mac_address: mac });
      w.insert("power_log", { timestamp: stamp.format(endUs + 8e6), event_type: "power_lost", power_source: "battery", on_ac_power: 0 });
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
    createEclipseSchema(db, { legacy: shape === "legacy" });
    const w = new Writer(db, shape === "legacy", ["realtime_data", "connection_log"]);
    const resume = resumePoint(db, shape);
    const driveId = resume.nextDrive;
    const startUs = resume.lastUs === undefined ? DEFAULT_START_US : resume.lastUs + 60e6;
    const stamp = new Stamper(new Rng(seed, -1 - driveId));
    const { ambient, ltft } = runState(seed);
    const poll = new Poll(new Rng(seed, driveId), stamp, { ticks: Number.MAX_SAFE_INTEGER, performance: false, ambient, coolant: ambient, ltft });
    const insertReadings = w.readings("daily", driveId);
    db.transaction(() => w.event(startUs, stamp, "drive_start", driveId));

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

const USAGE = `Usage: bun scripts/simulate.ts --out FILE [options]

Writes deterministic EclipseTuner drives into a new SQLite file.

  --out FILE      SQLite file to write (required; must not exist unless --append)
  --drives N      drives to simulate (default 3)
  --minutes N     minutes of readings per drive (default 20)
  --seed N        PRNG seed (default 1); same options give the same rows
  --start TIME    first drive start, UTC (default "${DEFAULT_START}")
  --legacy        older Pi schema: no profiles table, no data_source/drive_id
  --rows N        instead of --drives: exactly N realtime_data rows, fast
  --append        add drives to an existing file
  --follow        append readings live until SIGTERM/SIGINT (with --rate)
  --rate R        rows per second for --follow
  --json          print the summary as JSON
  -h, --help      show this help`;

function numberArg(values: Record<string, unknown>, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${text}")`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        drives: { type: "string" },
        minutes: { type: "string" },
        seed: { type: "string" },
        start: { type: "string" },
        legacy: { type: "boolean" },
        rows: { type: "string" },
        append: { type: "boolean" },
        follow: { type: "boolean" },
        rate: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const out = values.out as string | undefined;
  if (!out) throw new UsageError("--out is required", "bun scripts/simulate.ts --out drives.db");
  const seed = numberArg(values, "seed");

  if (values.follow) {
    const rate = numberArg(values, "rate");
    if (rate === undefined) throw new UsageError("--follow needs --rate (rows per second)", `bun scripts/simulate.ts --out ${out} --follow --rate 200`);
    for (const other of ["drives", "minutes", "start", "legacy", "rows", "append"]) {
      if (values[other] !== undefined) throw new UsageError(`--${other} does not apply to --follow`, `bun scripts/simulate.ts --out ${out} --follow --rate ${rate}`);
    }
    const stop = new AbortController();
    const abort = () => stop.abort();
    process.once("SIGTERM", abort);
    process.once("SIGINT", abort);
    const rows = await follow(out, { rate, signal: stop.signal, seed });
    process.off("SIGTERM", abort);
    process.off("SIGINT", abort);
    console.log(values.json ? JSON.stringify({ out, rows: { realtime_data: rows } }) : `followed ${out}: wrote realtime_data=${rows}`);
    return;
  }
  if (values.rate !== undefined) throw new UsageError("--rate only applies to --follow");

  const summary = simulate({
    out,
    drives: numberArg(values, "drives"),
    minutes: numberArg(values, "minutes"),
    seed,
    start: values.start as string | undefined,
    legacy: values.legacy as boolean | undefined,
    realtimeRows: numberArg(values, "rows"),
    append: values.append as boolean | undefined,
  });
  const counts = Object.entries(summary.rows)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a === "realtime_data" ? -1 : b === "realtime_data" ? 1 : 0))
    .map(([t, n]) => `${t}=${n}`);
  console.log(values.json ? JSON.stringify({ out, ...summary }) : `wrote ${out}: ${summary.drives} drives, ${counts.join(", ")}`);
}

/** Runs the CLI on `argv`: errors go to stderr and process.exitCode (2 for a UsageError). scripts/simulate.ts, the old entry point, calls it too. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await main(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\nTry: ${err.hint}`);
      process.exitCode = 2;
    } else {
      console.error(`Error: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
}

const isMain = (import.meta as { main?: boolean }).main ?? process.argv[1] === fileURLToPath(import.meta.url);
if (isMain) await runCli(process.argv.slice(2));
