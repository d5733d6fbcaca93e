/**
 * How readings and events become rows the way the Pi writes them: each poll's
 * timing, the Pi's three timestamp formats, and the INSERTs (cached, and
 * without the columns a legacy file lacks).
 */
import type { SqlValue, SqliteDb, Statement } from "../../client/sqlite.ts";
import { toSqlDatetime } from "../../lib/time.ts";
import { Car, PIDS, type CarSpec, type Rng } from "./physics.ts";

/** EclipseTuner's tag for simulator output (its enum: real, replay, physics_sim, fixture); the default. */
export const DATA_SOURCE = "physics_sim";

/** What the simulator can tag its rows with: its own tag, or `real`, as a Pi on the road writes. */
export type DataSource = "physics_sim" | "real";

/** Microseconds since the epoch for a datetime in one of the Pi's formats, or undefined when it is not one. */
export function micros(text: string): number | undefined {
  const sql = toSqlDatetime(text);
  if (!sql) return undefined;
  const n = sql.match(/\d+/g)!.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5]) * 1000 + n[6];
}

const MICRO = 0;
export const PLAIN = 1;
/** `…THH:MM:SSZ`, the canonical UTC form the current Pi writes in its newer tables. */
export const ISO = 2;

/** Formats times the three ways Pis write them; remembers the last second because rows arrive in time order. */
export class Stamper {
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
export class Poll {
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

/** Writes rows through cached INSERTs; in legacy files it leaves out the columns older Pis lack. */
export class Writer {
  readonly counts: Record<string, number> = {};
  private statements = new Map<string, Statement>();

  constructor(
    readonly db: SqliteDb,
    readonly legacy: boolean,
    tables: string[],
    /** The rows' data_source; writeDrives may change it per drive. */
    public dataSource: DataSource = DATA_SOURCE,
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
        params[at + 5] = this.dataSource;
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
      data_source: this.dataSource,
      drive_id: driveId,
      ...extra,
    });
  }
}
