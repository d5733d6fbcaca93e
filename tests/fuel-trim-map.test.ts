/** The fuel-trim map's rules on readings fed by hand, each sample's cell and sum worked out here. */
import { describe, expect, test } from "bun:test";
import { TrimMapBuilder } from "../lib/drives/fuel-trim-map.ts";

/** One poll of the Pi: the other PIDs just before the short-term trim, as it reads them. */
function poll(b: TrimMapBuilder, t: number, r: { rpm: number; load: number; coolant: number; ltft: number; stft: number; status?: number }) {
  b.push("RPM", t, r.rpm);
  b.push("ENGINE_LOAD", t + 70, r.load);
  b.push("COOLANT_TEMP", t + 140, r.coolant);
  b.push("LONG_FUEL_TRIM_1", t + 210, r.ltft);
  if (r.status !== undefined) b.push("FUEL_SYSTEM_STATUS", t + 250, r.status);
  b.push("SHORT_FUEL_TRIM_1", t + 280, r.stft);
}

describe("fuel-trim map", () => {
  test("should average STFT + LTFT per RPM × load cell over warm closed-loop samples only", () => {
    const b = new TrimMapBuilder();
    poll(b, 0, { rpm: 2100, load: 25, coolant: 85, ltft: 2, stft: 3 }); // 2000-2500 × 20-30: 5
    poll(b, 1000, { rpm: 2400, load: 29.9, coolant: 90, ltft: 2, stft: -1 }); // same cell: 1
    poll(b, 2000, { rpm: 3000, load: 40, coolant: 90, ltft: -4, stft: -2 }); // 3000-3500 × 40-50: -6
    poll(b, 3000, { rpm: 2100, load: 25, coolant: 70, ltft: 9, stft: 9 }); // cold: left out
    poll(b, 4000, { rpm: 2100, load: 90, coolant: 90, ltft: 9, stft: 9 }); // open-loop load: left out
    poll(b, 5000, { rpm: 1500, load: 5, coolant: 90, ltft: 9, stft: 9 }); // closed throttle, fuel cut: left out
    poll(b, 6000, { rpm: 300, load: 30, coolant: 90, ltft: 9, stft: 9 }); // not running: left out
    expect(b.map()).toEqual({
      samples: 3,
      closedLoopBy: "load",
      cells: [
        { rpm: [2000, 2500], load: [20, 30], count: 2, meanPct: 3 },
        { rpm: [3000, 3500], load: [40, 50], count: 1, meanPct: -6 },
      ],
    });
  });

  test("a reading older than 2 s should not pair with a trim, and a logged fuel status decides closed loop", () => {
    const stale = new TrimMapBuilder();
    stale.push("RPM", 0, 2100);
    stale.push("ENGINE_LOAD", 0, 25);
    stale.push("COOLANT_TEMP", 0, 90);
    stale.push("LONG_FUEL_TRIM_1", 0, 1);
    stale.push("SHORT_FUEL_TRIM_1", 2500, 1);
    expect(stale.map().samples).toBe(0);

    const b = new TrimMapBuilder();
    poll(b, 0, { rpm: 2100, load: 90, coolant: 90, ltft: 1, stft: 1, status: 2 }); // closed loop by status, even at 90 % load
    poll(b, 1000, { rpm: 2100, load: 25, coolant: 90, ltft: 1, stft: 1, status: 4 }); // open loop (fault): left out
    expect(b.map()).toEqual({ samples: 1, closedLoopBy: "status", cells: [{ rpm: [2000, 2500], load: [90, 100], count: 1, meanPct: 2 }] });
  });
});
