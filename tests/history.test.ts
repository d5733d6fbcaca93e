/**
 * lib/analysis/history.ts against drives stored in a real MariaDB: which
 * drives form a baseline, when a value is an anomaly, and when a drift is a
 * trend worth a finding. The drives are summary rows as the worker stores
 * them; this drive's statistics are built by hand, with only the figures
 * the metrics read.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DriveStats } from "../lib/analysis/drive-stats.ts";
import { readHistory } from "../lib/analysis/history.ts";
import { sqlTimestamp } from "../lib/time.ts";
import { freshDatabase, type TestDb } from "./helpers/db.ts";

let db: TestDb;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db.drop());

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1, 8);

type Summary = Partial<Record<"ltft_mean" | "mean_running_v" | "max_coolant_c" | "warmup_s" | "start_coolant_c", number | null>> & { data_source?: string | null };

/** Stores `drives` as summarised drives of `device`, one a day from T0. */
async function storeDrives(device: string, drives: Summary[]) {
  for (const [i, d] of drives.entries()) {
    await db.query(
      `INSERT INTO drives (source_device, drive_id, drive_start, drive_end, closed_by, last_row_at, last_batch_id, summary_due, summarized_at, readings,
         ltft_mean, mean_running_v, max_coolant_c, warmup_s, start_coolant_c, data_source)
       VALUES (?, ?, ?, ?, 'drive_end', NOW(), 'b', 0, NOW(), 1000, ?, ?, ?, ?, ?, ?)`,
      [device, i + 1, sqlTimestamp(new Date(T0 + i * DAY)), sqlTimestamp(new Date(T0 + i * DAY + 1_800_000)), d.ltft_mean ?? null, d.mean_running_v ?? null, d.max_coolant_c ?? null, d.warmup_s ?? null, d.start_coolant_c ?? 20, d.data_source === undefined ? "real" : d.data_source],
    );
  }
}

/** A drive's statistics with just the facts the history's metrics read. */
function stats(f: { ltft?: number; volts?: number; coolantMax?: number; warmUp?: number; startC?: number }): DriveStats {
  return {
    window: { deviceId: "x", start: new Date(0), end: new Date(0) },
    rows: 1000,
    span: { first: 0, last: 1800 },
    parameters: [],
    facts: {
      durationSeconds: 1800,
      distanceKm: 20,
      idleShare: 0.2,
      warmUpSeconds: f.warmUp ?? null,
      maxCoolantC: f.coolantMax ?? null,
      fuelTrim: { stft: 0, ltft: f.ltft ?? null, total: f.ltft ?? null },
      startCoolantC: f.startC ?? 20,
      idleRpm: null,
      runningVoltage: f.volts === undefined ? null : { min: f.volts - 0.2, max: f.volts + 0.2, mean: f.volts, secondsBelow: 0, secondsAbove: 0 },
    },
  };
}

const history = (device: string, s: DriveStats, dataSource: string | null = "real", day = 30) =>
  readHistory(db.pool, { deviceId: device, start: new Date(T0 + day * DAY), driveRef: null, dataSource, stats: s });

describe("baselines and anomalies", () => {
  test("an anomaly needs 5 prior drives; with them a mean beyond 2σ is one, and its finding cites both numbers", async () => {
    await storeDrives("h-four", [1.0, 1.6, 2.2, 1.4].map((ltft_mean) => ({ ltft_mean })));
    const four = await history("h-four", stats({ ltft: 9.4 }));
    expect(four.history.priorDrives).toBe(4);
    expect(four.history.anomalies).toEqual([]);
    expect(four.history.baselines.find((b) => b.parameter === "LONG_FUEL_TRIM_1")!.z).toBeGreaterThan(2);

    await storeDrives("h-five", [1.0, 1.6, 2.2, 1.4, 2.3].map((ltft_mean) => ({ ltft_mean })));
    const five = await history("h-five", stats({ ltft: 9.4 }));
    const mean = (1.0 + 1.6 + 2.2 + 1.4 + 2.3) / 5;
    expect(five.history.anomalies).toEqual([{ parameter: "LONG_FUEL_TRIM_1", metric: "mean", thisDrive: 9.4, mean, std: expect.any(Number), z: expect.any(Number) }]);
    const finding = five.findings.find((f) => f.code === "baseline_anomaly")!;
    // The baseline's std is 0.55 %, under one trim step (0.78 %), so z is measured in trim steps: 7.7 / 0.78.
    expect(finding.message).toBe("Long-term fuel trim was +9.4 % this drive, against +1.7 % ± 0.5 % over the last 5 real drives (z +9.9)");
    expect(finding).toMatchObject({ severity: "warning", parameter: "LONG_FUEL_TRIM_1", evidence: { thisDrive: 9.4, priorDrives: 5 } });
  });

  test("a value within 2σ of its baseline is no anomaly", async () => {
    await storeDrives("h-calm", [1.0, 1.6, 2.2, 1.4, 2.3, 1.9].map((ltft_mean) => ({ ltft_mean })));
    const calm = await history("h-calm", stats({ ltft: 2.5 }));
    expect(calm.history.anomalies).toEqual([]);
    expect(calm.findings.filter((f) => f.code === "baseline_anomaly")).toEqual([]);
  });

  test("a baseline that never moved uses the sensor's resolution as its spread: one trim step is no anomaly, three are", async () => {
    await storeDrives("h-flat", Array.from({ length: 6 }, () => ({ ltft_mean: 1.5625 })));
    const z = async (ltft: number) => (await history("h-flat", stats({ ltft }))).history.baselines.find((b) => b.parameter === "LONG_FUEL_TRIM_1")!.z;
    expect(await z(1.5625 + 0.78125)).toBeCloseTo(0.78125 / 0.78, 6);
    expect((await history("h-flat", stats({ ltft: 1.5625 + 3 * 0.78125 }))).history.anomalies.map((a) => a.parameter)).toEqual(["LONG_FUEL_TRIM_1"]);
  });

  test("only the device's earlier real (or untagged) drives, at most 20, form the baseline", async () => {
    const drives: Summary[] = [
      ...Array.from({ length: 22 }, () => ({ ltft_mean: 1 })),
      { ltft_mean: 20, data_source: "physics_sim" },
      { ltft_mean: 20, data_source: "replay" },
      { ltft_mean: 1, data_source: null },
    ];
    await storeDrives("h-mixed", drives);
    await storeDrives("h-other", Array.from({ length: 5 }, () => ({ ltft_mean: 30 })));
    const h = await history("h-mixed", stats({ ltft: 1 }));
    expect(h.history.priorDrives).toBe(20);
    expect(h.history.baselines.find((b) => b.parameter === "LONG_FUEL_TRIM_1")).toMatchObject({ drives: 20, mean: 1, std: 0 });
    // A drive starting before the others has no prior drives at all.
    expect((await history("h-mixed", stats({ ltft: 1 }), "real", -1)).history.priorDrives).toBe(0);
  });

  test("a drive that is not real is analysed against the real baseline and says so", async () => {
    await storeDrives("h-sim", [1.0, 1.6, 2.2, 1.4, 2.3].map((ltft_mean) => ({ ltft_mean })));
    const h = await history("h-sim", stats({ ltft: 9 }), "physics_sim");
    expect(h.history).toMatchObject({ priorDrives: 5, dataSource: "physics_sim", inBaseline: false });
    expect(h.history.note).toBe("This drive's data_source is physics_sim, not real data: it was analysed against the real drives' baseline but is never part of one.");
    expect(h.history.anomalies).toHaveLength(1);
  });
});

describe("trends", () => {
  test("warm-up time up 40 % over 10 drives is a rising trend whose finding points at the thermostat", async () => {
    // Cold starts, warm-up growing steadily from 6 min; this drive closes the series.
    await storeDrives("h-warm", Array.from({ length: 9 }, (_, i) => ({ warmup_s: 360 + i * 16, start_coolant_c: 15 })));
    const h = await history("h-warm", stats({ warmUp: 504, startC: 15 }));
    const trend = h.history.trends.find((t) => t.metric === "warm-up time")!;
    expect(trend).toMatchObject({ parameter: "COOLANT_TEMP", drives: 10, direction: "rising" });
    expect(trend.slopePerDrive).toBeCloseTo(16, 6);
    expect(trend.change / 360).toBeCloseTo(0.4, 6);
    const finding = h.findings.find((f) => f.code === "trend")!;
    expect(finding.message).toBe(
      "Warm-up time to 80 °C from a cold start has been rising over the last 10 drives, from about 6 min 0 s to 8 min 24 s (+40 %), 16 s per drive: the engine takes ever longer to warm: the thermostat is probably sticking open",
    );
    expect(finding.evidence).toMatchObject({ drives: 10, slopePerDrive: 16, from: 360, to: 504, r2: 1, percent: 40 });
  });

  test("warm restarts do not count toward warm-up time", async () => {
    await storeDrives("h-restart", Array.from({ length: 9 }, (_, i) => ({ warmup_s: i % 2 ? 30 : 400, start_coolant_c: i % 2 ? 75 : 15 })));
    const h = await history("h-restart", stats({ warmUp: 420, startC: 15 }));
    expect(h.history.baselines.find((b) => b.metric === "warm-up time")).toMatchObject({ drives: 5, mean: 400 });
  });

  test("noise without drift is steady; a drift the harmless way is reported but is no finding", async () => {
    await storeDrives("h-noise", [1.0, 2.4, 0.8, 2.1, 1.1, 2.5, 0.9, 2.2].map((ltft_mean, i) => ({ ltft_mean, mean_running_v: 13.6 + i * 0.1 })));
    const h = await history("h-noise", stats({ ltft: 1.5, volts: 14.4 }));
    expect(h.history.trends.find((t) => t.parameter === "LONG_FUEL_TRIM_1")!.direction).toBe("steady");
    // Voltage rising 0.8 V over 9 drives: a change, but the harmful way for a charging system is down.
    expect(h.history.trends.find((t) => t.parameter === "CONTROL_MODULE_VOLTAGE")!.direction).toBe("rising");
    expect(h.findings.filter((f) => f.code === "trend")).toEqual([]);
  });

  test("one drive far off a flat history is an anomaly, not a trend: the line through it explains too little (r² < 0.5)", async () => {
    await storeDrives("h-outlier", Array.from({ length: 8 }, () => ({ ltft_mean: 1 })));
    const h = await history("h-outlier", stats({ ltft: 8 }));
    const trend = h.history.trends.find((t) => t.parameter === "LONG_FUEL_TRIM_1")!;
    // The fitted change (3.7 %) is over the 3 % that would matter, but the line fits one point.
    expect(trend.change).toBeGreaterThan(3);
    expect(trend.r2).toBeLessThan(0.5);
    expect(trend.direction).toBe("steady");
    expect(h.findings.map((f) => f.code)).toEqual(["baseline_anomaly"]);
  });

  test("running voltage falling 0.5 V over the drives is a finding about the charging system", async () => {
    await storeDrives("h-volts", Array.from({ length: 8 }, (_, i) => ({ mean_running_v: 14.2 - i * 0.06 })));
    const h = await history("h-volts", stats({ volts: 13.66 }));
    const finding = h.findings.find((f) => f.code === "trend")!;
    expect(finding.parameter).toBe("CONTROL_MODULE_VOLTAGE");
    expect(finding.message).toContain("has been falling over the last 9 drives, from about 14.21 V to 13.70 V (-4 %), 0.06 V per drive");
    expect(finding.message).toContain("check the alternator");
  });
});
