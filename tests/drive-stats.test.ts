/**
 * Drive statistics (lib/analysis/drive-stats.ts) on hand-made series with known
 * answers and on rows in a real MariaDB, and the rule-based findings
 * (lib/analysis/findings.ts) on simulated and hand-made drives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeDriveStats, MAX_INTERVAL_S, readDriveStats, type DriveStats, type DriveWindow, type Series } from "../lib/analysis/drive-stats.ts";
import { findings } from "../lib/analysis/findings.ts";
import { LIMITS } from "../lib/analysis/limits.ts";
import { simulate } from "../scripts/simulate/index.ts";
import { freshDatabase, type TestDb } from "./helpers/db.ts";
import { loadRealtime, seedReadings } from "./helpers/drive.ts";

let db: TestDb;
let dir: string;
beforeAll(async () => {
  db = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), "obd2-drive-stats-"));
});
afterAll(async () => {
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const WINDOW: DriveWindow = { deviceId: "pi", start: new Date(0), end: new Date(0) };

/** Series from [t, value] pairs per parameter. */
function seriesOf(readings: Record<string, [number, number][]>): Map<string, Series> {
  return new Map(
    Object.entries(readings).map(([name, pairs]) => [
      name,
      { unit: null, t: Float64Array.from(pairs, (p) => p[0]), v: Float64Array.from(pairs, (p) => p[1]), n: pairs.length },
    ]),
  );
}

const stat = (s: DriveStats, name: string) => s.parameters.find((p) => p.parameter === name)!;

describe("computeDriveStats", () => {
  test("count, min, max, mean, population std and interpolated p5/p95 match hand-computed values", () => {
    const s = computeDriveStats(WINDOW, seriesOf({ MAF: [5, 2, 9, 4, 4, 7, 4, 5].map((v, i) => [i, v]) }));
    expect(stat(s, "MAF")).toMatchObject({ count: 8, min: 2, max: 9, mean: 5, std: 2, above: [] });
    // Sorted 2 4 4 4 5 5 7 9: p5 sits 0.35 of the way from 2 to 4, p95 0.65 of the way from 7 to 9.
    expect(stat(s, "MAF").p5).toBeCloseTo(2.7, 10);
    expect(stat(s, "MAF").p95).toBeCloseTo(8.3, 10);
    expect(s.rows).toBe(8);
  });

  test("time above a threshold sums the intervals that start above it, a logging gap counting at most MAX_INTERVAL_S", () => {
    const coolant: [number, number][] = [[0, 90], [1, 101], [2, 102], [3, 99], [4, 106], [34, 101], [35, 95]];
    const s = computeDriveStats(WINDOW, seriesOf({ COOLANT_TEMP: coolant }));
    expect(MAX_INTERVAL_S).toBe(10);
    // Above 100: 1 + 1 + (30 capped to 10) + 1; above 105: only the capped gap.
    expect(stat(s, "COOLANT_TEMP").above).toEqual([
      { threshold: 100, seconds: 13 },
      { threshold: 105, seconds: 10 },
    ]);
    expect(s.facts.maxCoolantC).toBe(106);
  });

  test("distance integrates SPEED, idle share counts standing time with the engine running, warm-up runs to 80 °C", () => {
    const speed: [number, number][] = [];
    const rpm: [number, number][] = [];
    for (let t = 0; t <= 150; t++) {
      speed.push([t, t < 50 ? 0 : 36]);
      // Ignition on but engine off for the first 10 s; RPM is read 55 ms after SPEED, as the Pi polls.
      rpm.push([t + 0.055, t < 10 ? 0 : t < 50 ? 800 : 2000]);
    }
    const coolant: [number, number][] = [[0, 20], [60, 40], [120, 60], [180, 79], [240, 80], [300, 85]];
    const s = computeDriveStats(
      WINDOW,
      seriesOf({ SPEED: speed, RPM: rpm, COOLANT_TEMP: coolant, SHORT_FUEL_TRIM_1: [[0, 2], [1, 4]], LONG_FUEL_TRIM_1: [[0, 5], [1, 7]] }),
    );
    // 100 s at 36 km/h is 1 km, plus the trapezoid from 0 to 36 km/h in second 49–50.
    expect(s.facts.distanceKm).toBeCloseTo(1 + 18 / 3600, 10);
    // Standing from 0 to 50 s, of which 10 s with the engine off, over 150 s of SPEED.
    expect(s.facts.idleShare).toBeCloseTo(40 / 150, 10);
    expect(s.facts.warmUpSeconds).toBe(240);
    expect(s.facts.startCoolantC).toBe(20);
    expect(s.facts.durationSeconds).toBe(300);
    expect(s.facts.fuelTrim).toEqual({ stft: 3, ltft: 6, total: 9 });
  });

  test("without SPEED, coolant or trims the facts that need them are null", () => {
    const s = computeDriveStats(WINDOW, seriesOf({ RPM: [[0, 800], [5, 820]], COOLANT_TEMP: [[0, 60], [5, 70]] }));
    expect(s.facts).toMatchObject({ durationSeconds: 5, distanceKm: null, idleShare: null, warmUpSeconds: null, maxCoolantC: 70 });
    expect(s.facts.fuelTrim).toEqual({ stft: null, ltft: null, total: null });
  });
});

describe("readDriveStats", () => {
  const start = new Date("2026-05-01T08:00:00Z");
  const end = new Date("2026-05-01T08:10:00Z");
  beforeAll(async () => {
    const at = (s: string) => `2026-05-01 ${s}`;
    await seedReadings(db, "pi-window", [
      { timestamp: at("07:59:59.999999"), parameter_name: "RPM", value: 9999 },
      { timestamp: at("08:00:00.250000"), parameter_name: "RPM", value: 800, unit: "rpm", profile_id: "daily" },
      { timestamp: at("08:00:01.750000"), parameter_name: "RPM", value: 1200, unit: "rpm", profile_id: "performance" },
      { timestamp: at("08:05:00"), parameter_name: "RPM", value: 1000 },
      { timestamp: at("08:00:01"), parameter_name: "SPEED", value: 12, unit: "km/h", profile_id: "daily" },
      { timestamp: at("08:10:00"), parameter_name: "SPEED", value: 30, unit: "km/h", profile_id: "daily" },
      { timestamp: at("08:10:00.000001"), parameter_name: "SPEED", value: 99 },
    ]);
    await seedReadings(db, "pi-other", [{ timestamp: at("08:03:00"), parameter_name: "RPM", value: 5000 }]);
  });

  test("reads only the device's rows inside the window, both edges included, with microsecond times", async () => {
    const s = (await readDriveStats(db.pool, { deviceId: "pi-window", start, end }))!;
    expect(s.rows).toBe(5);
    expect(stat(s, "RPM")).toMatchObject({ unit: "rpm", count: 3, min: 800, max: 1200, mean: 1000 });
    expect(stat(s, "SPEED")).toMatchObject({ unit: "km/h", count: 2, min: 12, max: 30 });
    expect(s.facts.durationSeconds).toBeCloseTo(599.75, 6);
    expect(s.window).toEqual({ deviceId: "pi-window", start, end });
  });

  test("a profile keeps that profile's rows and rows without a profile", async () => {
    const s = (await readDriveStats(db.pool, { deviceId: "pi-window", start, end, profileId: "daily" }))!;
    expect(stat(s, "RPM")).toMatchObject({ count: 2, min: 800, max: 1000 });
    expect(stat(s, "SPEED").count).toBe(2);
  });

  test("a window without rows gives null", async () => {
    expect(await readDriveStats(db.pool, { deviceId: "pi-window", start: new Date("2026-05-02T08:00:00Z"), end: new Date("2026-05-02T09:00:00Z") })).toBeNull();
    expect(await readDriveStats(db.pool, { deviceId: "pi-nobody", start, end })).toBeNull();
  });
});

describe("findings on simulated drives", () => {
  const overheat = { drive: 1, atMinute: 12, minutes: 4, peakC: 108 };
  let hot: DriveStats;
  let normal: DriveStats;

  /** The device's whole simulated drive, read back through readDriveStats. */
  async function load(deviceId: string, opts: { overheat?: typeof overheat }): Promise<DriveStats> {
    const out = join(dir, `${deviceId}.db`);
    simulate({ out, drives: 1, minutes: 20, seed: 1, ...opts });
    expect(await loadRealtime(db, deviceId, out)).toBe(20 * 60 * 13);
    const [span] = await db.query<{ first: string; last: string }[]>(
      "SELECT DATE_FORMAT(MIN(timestamp), '%Y-%m-%dT%H:%i:%s.%fZ') AS first, DATE_FORMAT(MAX(timestamp), '%Y-%m-%dT%H:%i:%s.%fZ') AS last FROM realtime_data WHERE source_device = ?",
      [deviceId],
    );
    // Dates hold milliseconds: widen to whole milliseconds so the first and last readings stay inside.
    const start = new Date(Math.floor(Date.parse(span!.first)));
    const end = new Date(Date.parse(span!.last) + 1);
    return (await readDriveStats(db.pool, { deviceId, start, end }))!;
  }

  beforeAll(async () => {
    hot = await load("pi-hot", { overheat });
    normal = await load("pi-normal", {});
  });

  test("an overheating segment yields coolant_overtemp citing the peak and the seconds above, computed here from the stored rows", async () => {
    const rows = await db.query<{ t: string; value: number }[]>(
      "SELECT UNIX_TIMESTAMP(timestamp) AS t, value FROM realtime_data WHERE source_device = 'pi-hot' AND parameter_name = 'COOLANT_TEMP' ORDER BY timestamp",
    );
    const peak = Math.max(...rows.map((r) => r.value));
    const secondsAbove = (threshold: number) => {
      let sum = 0;
      for (let i = 0; i + 1 < rows.length; i++) if (rows[i]!.value > threshold) sum += Math.min(Number(rows[i + 1]!.t) - Number(rows[i]!.t), 10);
      return Math.round(sum);
    };
    expect(peak).toBe(108);
    const above100 = secondsAbove(100);
    const above105 = secondsAbove(105);
    // The segment holds the peak for its second half, and the fan needs a while to bring it back.
    expect(above105).toBeGreaterThanOrEqual(120);
    expect(above100).toBeGreaterThan(above105);

    const coolant = findings(hot).filter((f) => f.code === "coolant_overtemp");
    expect(coolant).toEqual([
      {
        code: "coolant_overtemp",
        severity: "critical",
        parameter: "COOLANT_TEMP",
        message: `Coolant peaked at 108 °C, above 105 °C for ${above105} s and above 100 °C for ${above100} s`,
        evidence: { peakC: 108, criticalC: 105, secondsAboveCritical: above105, thresholdC: 100, secondsAbove: above100 },
      },
    ]);
  });

  test("the same drive without the fault yields no finding at all", () => {
    expect(normal.facts.maxCoolantC!).toBeLessThanOrEqual(LIMITS.coolantWarnC);
    expect(findings(normal)).toEqual([]);
  });

  test("drive facts of a simulated drive are plausible", () => {
    const f = normal.facts;
    expect(f.durationSeconds).toBeGreaterThan(19 * 60);
    expect(f.distanceKm!).toBeGreaterThan(5);
    expect(f.idleShare!).toBeGreaterThan(0);
    expect(f.idleShare!).toBeLessThan(0.5);
    expect(f.warmUpSeconds!).toBeGreaterThan(0);
    expect(normal.parameters.map((p) => p.parameter)).toContain("O2_B1S1");
  });
});

describe("findings on hand-made drives", () => {
  type Reading = Partial<Record<string, number>>;
  /**
   * A warm, healthy drive polled once a second: 30 s stopped at idle every two
   * minutes, else 50 km/h. `change` overrides readings at second t.
   */
  function drive(seconds: number, change: (t: number, base: Record<string, number>) => Reading = () => ({})): DriveStats {
    const readings: Record<string, [number, number][]> = {};
    for (let t = 0; t < seconds; t++) {
      const stopped = t % 120 < 30;
      const base: Record<string, number> = {
        SPEED: stopped ? 0 : 50,
        RPM: stopped ? 800 + (t % 2 ? 10 : -10) : 2200,
        COOLANT_TEMP: 90,
        INTAKE_TEMP: 30,
        SHORT_FUEL_TRIM_1: t % 2 ? 2 : -2,
        LONG_FUEL_TRIM_1: 2,
        CONTROL_MODULE_VOLTAGE: 14.1,
      };
      Object.entries({ ...base, ...change(t, base) }).forEach(([name, value], k) => (readings[name] ??= []).push([t + k * 0.055, value!]));
    }
    return computeDriveStats(WINDOW, seriesOf(readings));
  }
  const codes = (s: DriveStats) => findings(s).map((f) => f.code);

  test("a healthy drive has no findings", () => {
    expect(findings(drive(900))).toEqual([]);
  });

  test("trims adding up past +10 % are lean and past -10 % rich, citing the averages", () => {
    const [lean] = findings(drive(600, () => ({ SHORT_FUEL_TRIM_1: 3, LONG_FUEL_TRIM_1: 9 })));
    expect(lean).toMatchObject({ code: "fuel_trim_lean", severity: "warning", evidence: { totalPct: 12, stftPct: 3, ltftPct: 9 } });
    expect(lean!.message).toContain("+12.0 % (short-term +3.0 %, long-term +9.0 %)");
    const [rich] = findings(drive(600, () => ({ SHORT_FUEL_TRIM_1: -4, LONG_FUEL_TRIM_1: -18 })));
    expect(rich).toMatchObject({ code: "fuel_trim_rich", severity: "critical", evidence: { totalPct: -22 } });
    expect(codes(drive(600, () => ({ SHORT_FUEL_TRIM_1: 2, LONG_FUEL_TRIM_1: 7.5 })))).toEqual([]);
  });

  test("a cold start warming at 2 °C/min is slow; the same rate in a drive too short to tell is not", () => {
    const warming = (t: number) => ({ COOLANT_TEMP: Math.min(90, 10 + (2 * t) / 60) });
    const [slow] = findings(drive(2400, warming));
    // 10 → 80 °C at 2 °C/min takes 35 min; at the expected 3 °C/min, 23 min 20 s.
    expect(slow).toMatchObject({ code: "slow_warmup", evidence: { warmUpSeconds: 2100, startC: 10, limitSeconds: 1400, perMinute: 2 } });
    expect(slow!.message).toContain("took 35 min 0 s to rise from 10 °C to 80 °C");
    expect(codes(drive(900, warming))).toEqual([]);
    const [never] = findings(drive(1800, (t) => ({ COOLANT_TEMP: Math.min(60, 10 + (2 * t) / 60) })));
    expect(never).toMatchObject({ code: "slow_warmup", evidence: { durationSeconds: 1799, maxC: 60 } });
    // A quick warm-up from cold is fine.
    expect(codes(drive(1200, (t) => ({ COOLANT_TEMP: Math.min(90, 10 + (5 * t) / 60) })))).toEqual([]);
  });

  test("intake air over 55 °C at the 95th percentile is heat soak", () => {
    const [iat] = findings(drive(600, (t) => ({ INTAKE_TEMP: t < 60 ? 40 : 60 })));
    expect(iat).toMatchObject({ code: "high_intake_temp", evidence: { p95C: 60, maxC: 60, thresholdC: 55 } });
    expect(iat!.message).toStartWith("Intake air was 60 °C at the 95th percentile (peak 60 °C, above 55 °C for ");
  });

  test("warm idle swinging ±100 rpm is unstable; the same swing while driving is not idle", () => {
    const [idle] = findings(drive(900, (t, base) => (base.SPEED === 0 ? { RPM: t % 2 ? 900 : 700 } : {})));
    expect(idle).toMatchObject({ code: "idle_rpm_unstable", evidence: { stdRpm: 100, meanRpm: 800, minRpm: 700, maxRpm: 900 } });
    expect(codes(drive(900, (t, base) => (base.SPEED! > 0 ? { RPM: t % 2 ? 2400 : 2000 } : {})))).toEqual([]);
  });

  test("voltage under 12 V or over 15 V with the engine running is a fault; with the engine off it is not", () => {
    const [low] = findings(drive(600, (t) => (t >= 300 && t < 360 ? { CONTROL_MODULE_VOLTAGE: 11.62 } : {})));
    expect(low).toMatchObject({ code: "low_voltage", evidence: { minV: 11.62, thresholdV: 12, secondsBelow: 60 } });
    expect(low!.message).toBe("Control-module voltage fell to 11.62 V with the engine running, below 12.0 V for 60 s: the alternator is not keeping up");
    const [high] = findings(drive(600, (t) => (t >= 300 && t < 320 ? { CONTROL_MODULE_VOLTAGE: 15.3 } : {})));
    expect(high).toMatchObject({ code: "high_voltage", evidence: { maxV: 15.3, secondsAbove: 20 } });
    // Key on, engine off: a resting battery reads 11.9 V and that is no charging fault.
    expect(codes(drive(600, (t) => (t < 60 ? { RPM: 0, SPEED: 0, CONTROL_MODULE_VOLTAGE: 11.9 } : {})))).toEqual([]);
    // One misread sample is not a fault either.
    expect(codes(drive(600, (t) => (t === 300 ? { CONTROL_MODULE_VOLTAGE: 11.0 } : {})))).toEqual([]);
  });

  test("coolant a degree over the fan switch for a short while is normal; longer, or hotter, is a warning", () => {
    expect(codes(drive(600, (t) => (t >= 100 && t < 160 ? { COOLANT_TEMP: 101 } : {})))).toEqual([]);
    const [long] = findings(drive(600, (t) => (t >= 100 && t < 250 ? { COOLANT_TEMP: 101 } : {})));
    expect(long).toMatchObject({ code: "coolant_overtemp", severity: "warning", message: "Coolant peaked at 101 °C and stayed above 100 °C for 150 s" });
    const [hot] = findings(drive(600, (t) => (t >= 100 && t < 190 ? { COOLANT_TEMP: 104 } : {})));
    expect(hot).toMatchObject({ severity: "warning", message: "Coolant peaked at 104 °C and stayed above 100 °C for 90 s", evidence: { peakC: 104, secondsAbove: 90 } });
  });
});
