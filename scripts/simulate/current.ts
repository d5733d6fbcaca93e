/**
 * What today's Pi writes besides readings and events (the "current" schema):
 * a drive_summary row and the drive counter at each drive's start, a boot
 * record before it, DTCs with their freeze frames, and UPS drain events.
 * Its own PRNG streams, so a current file's readings are the modern file's.
 *
 * The DTC story, by drive of the run: P0171 (lean) appears in the first drive
 * as pending, becomes stored in the second, and its last_seen_timestamp moves
 * on in place in every drive after; P0300 (misfire) appears in the first
 * drive with a degraded freeze frame and is cleared; it comes back as a new
 * row in the third drive.
 */
import { PIDS, Rng, type Car } from "./physics.ts";
import { ISO, type Stamper, type Writer } from "./writer.ts";

const VIN = "4A3AK54F8WE122916";

const LEAN = { code: "P0171", description: "System too lean (bank 1)" } as const;
const MISFIRE = { code: "P0300", description: "Random/multiple cylinder misfire detected" } as const;

/** The Pi's json.dumps of a Mode 02 snapshot: every PID's value when the code set. */
function freezeFrame(car: Car): string {
  return `{${PIDS.map((p, i) => `${JSON.stringify(p.name)}: ${car.values[i]}`).join(", ")}}`;
}

const hex = (r: Rng, digits: number) => Array.from({ length: digits }, () => "0123456789abcdef"[r.int(0, 15)]).join("");

export class CurrentPi {
  /** dtc_log ids of this run's codes that are not cleared, by code. */
  private open = new Map<string, { id: number; seenIn: number }>();
  private lastBootUs: number | undefined;

  constructor(
    private readonly w: Writer,
    private readonly seed: number,
    private readonly stamp: Stamper,
  ) {}

  private iso(us: number): string {
    return this.stamp.format(us, ISO);
  }

  /** Once per run: the Pi's singleton state, and in a new file the owner's monthly UPS drill the night before. */
  begin(firstUs: number, fresh: boolean): void {
    this.w.insert("pi_state", { id: 1, no_new_drives: 0 }, true);
    if (!fresh) return;
    const drillUs = firstUs - 5 * 3600e6;
    this.w.insert("battery_health_log", {
      start_timestamp: this.iso(drillUs),
      end_timestamp: this.iso(drillUs + 540e6),
      start_soc: 4.1,
      end_soc: 3.5,
      start_vcell_v: 4.1,
      end_vcell_v: 3.5,
      runtime_seconds: 540,
      ambient_temp_c: 11,
      load_class: "test",
      notes: "monthly drill",
      data_source: this.w.dataSource,
    });
  }

  /** The boot before a drive; `cleanBefore`: whether the previous boot shut down gracefully. */
  boot(driveId: number, bootUs: number, cleanBefore: boolean): void {
    const r = new Rng(this.seed, -1000 - driveId);
    const first = this.lastBootUs === undefined;
    this.w.insert("startup_log", {
      boot_id: hex(r, 32),
      prior_boot_clean: first ? null : cleanBefore ? 1 : 0,
      prior_last_entry_ts: first ? null : this.iso(this.lastBootUs! + 60e6),
      current_boot_first_entry_ts: this.iso(bootUs),
      prior_boot_last_stage: first ? null : cleanBefore ? "shutdown_complete" : "drive_active",
      prior_boot_reason: first ? null : cleanBefore ? "graceful" : "power_loss",
      recorded_at: this.iso(bootUs + 20e6),
    });
    this.lastBootUs = bootUs;
  }

  /** At a drive's start: the counter hands out its id and the summary is written. Ambient is known only on a cold start. */
  startDrive(driveId: number, startUs: number, o: { ambient: number; coolant: number; batteryV: number }): void {
    const r = new Rng(this.seed, -2000 - driveId);
    this.w.insert("drive_counter", { id: 1, last_drive_id: 0 }, true);
    this.w.db.prepare("UPDATE drive_counter SET last_drive_id = max(last_drive_id, ?) WHERE id = 1").run(driveId);
    const cold = o.coolant < o.ambient + 10;
    this.w.insert("drive_summary", {
      drive_id: driveId,
      drive_start_timestamp: this.iso(startUs),
      ambient_temp_at_start_c: cold ? Math.round(o.ambient) : null,
      starting_battery_v: Math.round(o.batteryV * 10) / 10,
      barometric_kpa_at_start: Math.round(r.between(98.2, 101.4) * 10) / 10,
      data_source: this.w.dataSource,
    });
  }

  private newCode(dtc: { code: string; description: string }, driveId: number, us: number, frame: string | undefined): number {
    this.w.insert("dtc_log", {
      dtc_code: dtc.code,
      description: dtc.description,
      status: "pending",
      first_seen_timestamp: this.iso(us),
      last_seen_timestamp: this.iso(us),
      drive_id: driveId,
      data_source: this.w.dataSource,
    });
    const id = this.w.lastId();
    this.w.insert("dtc_freeze_frame", {
      dtc_log_id: id,
      captured_at_timestamp_utc: this.iso(us),
      pid_responses_json: frame ?? "{}",
      vehicle_info_vin: VIN,
      notes: frame ? null : "Mode 02 unavailable: ECU returned no freeze-frame data",
      data_source: this.w.dataSource,
    });
    this.open.set(dtc.code, { id, seenIn: 1 });
    return id;
  }

  /** Mid-drive, drive `n` of the run: the codes the ECU reports now (see the story above). */
  dtcs(n: number, driveId: number, us: number, car: Car): void {
    for (const [code, seen] of this.open) {
      seen.seenIn++;
      // A code the ECU still reports is updated in place: seen again, and stored once it persisted a second drive.
      const status = code === LEAN.code && seen.seenIn >= 2 ? "stored" : "pending";
      this.w.db.prepare("UPDATE dtc_log SET last_seen_timestamp = ?, status = ? WHERE id = ?").run(this.iso(us), status, seen.id);
    }
    if (n === 0) {
      this.newCode(LEAN, driveId, us, freezeFrame(car));
      const misfire = this.newCode(MISFIRE, driveId, us + 30e6, undefined);
      // The owner clears the misfire with a scan tool; the row stays, as cleared.
      this.w.db.prepare("UPDATE dtc_log SET status = 'cleared' WHERE id = ?").run(misfire);
      this.open.delete(MISFIRE.code);
    }
    if (n === 2) this.newCode(MISFIRE, driveId, us + 45e6, freezeFrame(car));
  }

  /** A UPS drain event: wall power lost at `startUs`; `endUs` undefined when the Pi died before it could close the event. */
  drain(driveId: number, startUs: number, endUs: number | undefined): void {
    const r = new Rng(this.seed, -3000 - driveId);
    const startV = Math.round(r.between(4.05, 4.18) * 100) / 100;
    const runtime = endUs === undefined ? null : Math.round((endUs - startUs) / 1e6);
    const endV = runtime === null ? null : Math.round((startV - runtime * 0.0011) * 100) / 100;
    this.w.insert("battery_health_log", {
      start_timestamp: this.iso(startUs),
      end_timestamp: endUs === undefined ? null : this.iso(endUs),
      start_soc: startV,
      end_soc: endV,
      start_vcell_v: startV,
      end_vcell_v: endV,
      runtime_seconds: runtime,
      ambient_temp_c: null,
      load_class: "production",
      notes: null,
      data_source: this.w.dataSource,
    });
  }
}
