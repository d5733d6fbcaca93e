/** The trends' anomaly rule, on points worked out by hand. */
import { describe, expect, test } from "bun:test";
import { markAnomalies, type Metric } from "../lib/dashboard/trends.ts";

const point = (driveId: number, values: Partial<Record<Metric, number | null>>) => ({
  driveId,
  start: new Date(Date.UTC(2026, 3, driveId)),
  values: { ltftMean: null, maxCoolantC: null, warmUpS: null, meanRunningV: null, dtcCount: 0, ...values },
});

describe("trend anomalies", () => {
  test("a drive far from the median by the MAD should be flagged, its neighbours not", () => {
    // Coolant 90..94 (median 92, MAD 1, scale 1.48): 110 is 12 scales out, 96 only 2.7.
    const coolant = [90, 91, 92, 93, 94, 92, 110, 96];
    const marked = markAnomalies(coolant.map((c, i) => point(i + 1, { maxCoolantC: c })));
    expect(marked.filter((p) => p.anomalies.length).map((p) => [p.driveId, p.anomalies])).toEqual([[7, ["maxCoolantC"]]]);
  });

  test("fewer than 5 drives should flag nothing; a constant metric should flag by its floor", () => {
    expect(markAnomalies([1, 2, 3, 4].map((i) => point(i, { maxCoolantC: i === 4 ? 130 : 90 }))).some((p) => p.anomalies.length)).toBe(false);
    // No codes in five drives, then one: |1 - 0| / 0.25 = 4 > 3.5.
    const dtcs = markAnomalies([0, 0, 0, 0, 0, 1].map((n, i) => point(i + 1, { dtcCount: n })));
    expect(dtcs.map((p) => p.anomalies)).toEqual([[], [], [], [], [], ["dtcCount"]]);
    // LTFT logged in 100/128 % steps: one step off a constant is rounding, not an anomaly.
    const ltft = markAnomalies([0.78, 0.78, 0.78, 0.78, 0.78, 1.56].map((v, i) => point(i + 1, { ltftMean: v })));
    expect(ltft.some((p) => p.anomalies.length)).toBe(false);
  });

  test("missing values should be left out of the statistics and never flagged", () => {
    const marked = markAnomalies([null, 12, 12.1, 14.0, 14.1, 14.2, 14.1].map((v, i) => point(i + 1, { meanRunningV: v })));
    expect(marked[0]!.anomalies).toEqual([]);
    expect(marked.filter((p) => p.anomalies.includes("meanRunningV")).map((p) => p.driveId)).toEqual([2, 3]);
  });
});
