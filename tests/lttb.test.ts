/**
 * The downsampling core against the reference: the `downsample` package's
 * LTTB (1.4.0), which implements Steinarsson's 2013 algorithm, on seeded
 * random walks; the bands per bucket; the split at gaps; the point budget.
 */
import { describe, expect, test } from "bun:test";
import { LTTB } from "downsample";
import { Lttb } from "../lib/readings/lttb.ts";
import { allocate, downsample, GAP_MIN_MS } from "../lib/readings/series.ts";
import { Rng } from "../scripts/simulate/physics.ts";

/** A random walk sampled about once a second from a fixed epoch, with a few spikes. */
function walk(n: number, seed: number, start = Date.UTC(2026, 3, 19, 8)): { t: number[]; v: number[] } {
  const rng = new Rng(seed, 0);
  const t: number[] = [];
  const v: number[] = [];
  let at = start;
  let y = 2000;
  for (let i = 0; i < n; i++) {
    at += 900 + rng.int(0, 200) + rng.next();
    y += rng.between(-50, 50) + (rng.next() < 0.01 ? rng.between(-1500, 1500) : 0);
    t.push(at);
    v.push(Math.round(y * 100) / 100);
  }
  return { t, v };
}

function lttb(t: number[], v: number[], threshold: number) {
  const out = { t: [] as number[], v: [] as number[], min: [] as number[], max: [] as number[] };
  const l = new Lttb(t.length, threshold, (pt, pv, min, max) => {
    out.t.push(pt);
    out.v.push(pv);
    out.min.push(min);
    out.max.push(max);
  });
  for (let i = 0; i < t.length; i++) l.push(t[i]!, v[i]!);
  l.finish();
  return out;
}

/** The reference's selection, as [t, v] pairs. */
const reference = (t: number[], v: number[], threshold: number) => (LTTB(t.map((x, i) => [x, v[i]!] as [number, number]), threshold) as [number, number][]);
/** The same, with times in whole milliseconds as series answer them. */
const referenceMs = (t: number[], v: number[], threshold: number) => reference(t, v, threshold).map(([x, y]) => [Math.round(x), y]);

/** Whether the reference computes its last bucket boundary without rounding it one short (see lttb.ts). */
const cleanBoundary = (n: number, m: number) => Math.floor((m - 2) * ((n - 2) / (m - 2))) === n - 2;

describe("LTTB", () => {
  test("should choose the same points as the reference, for many lengths and thresholds", () => {
    let compared = 0;
    for (const [n, seed] of [[50, 1], [1000, 2], [4321, 3], [14_400, 4]] as const) {
      const { t, v } = walk(n, seed);
      for (const m of [3, 4, 5, 10, 17, 100, 999, 1500]) {
        if (m >= n || !cleanBoundary(n, m)) continue;
        const ours = lttb(t, v, m);
        expect(ours.t.map((x, i) => [x, ours.v[i]])).toEqual(reference(t, v, m));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  test("should give each chosen point the extremes of exactly its bucket", () => {
    const { t, v } = walk(4321, 5);
    const m = 100;
    const ours = lttb(t, v, m);
    // The reference's buckets: the first and last points alone, the middle split at floor(i * every) + 1.
    const every = (t.length - 2) / (m - 2);
    const bounds = [0, ...Array.from({ length: m - 2 }, (_, i) => Math.floor(i * every) + 1), t.length - 1, t.length];
    const expected = bounds.slice(0, -1).map((from, i) => v.slice(from, bounds[i + 1]));
    expect(ours.min).toEqual(expected.map((b) => Math.min(...b)));
    expect(ours.max).toEqual(expected.map((b) => Math.max(...b)));
    expect(Math.max(...ours.max)).toBe(Math.max(...v));
    expect(Math.min(...ours.min)).toBe(Math.min(...v));
  });

  test("should keep the last point and every reading's band where the reference rounds its last boundary short", () => {
    const { t, v } = walk(504, 6);
    expect(cleanBoundary(504, 9)).toBe(false);
    // The reference never looks at the second-to-last point, and returns it as the last.
    expect(reference(t, v, 9).at(-1)).toEqual([t[502]!, v[502]!]);
    const ours = lttb(t, v, 9);
    expect(ours.t.length).toBe(9);
    expect([ours.t.at(-1), ours.v.at(-1)]).toEqual([t[503]!, v[503]!]);
    // Up to the last middle bucket the two agree.
    expect(ours.t.slice(0, 7).map((x, i) => [x, ours.v[i]])).toEqual(reference(t, v, 9).slice(0, 7));
    expect(Math.min(...ours.min.slice(7, 8))).toBe(Math.min(...v.slice(Math.floor(6 * (502 / 7)) + 1, 503)));
  });

  test("should pass every point through when there are no more than the threshold", () => {
    const { t, v } = walk(40, 7);
    expect(lttb(t, v, 40)).toEqual({ t, v, min: v, max: v });
  });
});

describe("downsample (gaps and the point budget)", () => {
  /** Three drives of a parameter with 2-hour gaps between them. */
  function drives(lengths: number[]) {
    const t: number[] = [];
    const v: number[] = [];
    let start = Date.UTC(2026, 3, 19, 8);
    lengths.forEach((n, i) => {
      const w = walk(n, 10 + i, start);
      t.push(...w.t);
      v.push(...w.v);
      start = w.t.at(-1)! + 2 * 3600_000;
    });
    return { t, v };
  }

  test("should split at gaps, downsample each piece as the reference does, and null between pieces", () => {
    const lengths = [3000, 6000, 1500];
    const { t, v } = drives(lengths);
    const points = 1000;
    const s = downsample(t, v, t.length, points);
    const nulls = s.v.flatMap((x, i) => (x === null ? [i] : []));
    expect(nulls.length).toBe(2);
    const thresholds = allocate(lengths, points - 2);
    // 3 each, then 989 in proportion to 2997, 5997 and 1497: 282.53, 565.35, 141.12; the one left over to the largest fraction.
    expect(thresholds).toEqual([286, 568, 144]);
    let from = 0;
    const pieces = [0, ...nulls.map((i) => i + 1)].map((start, p) => ({ start, end: nulls[p] ?? s.t.length }));
    pieces.forEach(({ start, end }, p) => {
      const rows = { t: t.slice(from, from + lengths[p]!), v: v.slice(from, from + lengths[p]!) };
      from += lengths[p]!;
      expect(cleanBoundary(lengths[p]!, thresholds[p]!)).toBe(true);
      expect(s.t.slice(start, end).map((x, i) => [x, s.v[start + i]])).toEqual(referenceMs(rows.t, rows.v, thresholds[p]!));
    });
    // The gap marker sits inside the gap, so the chart breaks the line there.
    expect(s.t[nulls[0]!]).toBeGreaterThan(t[2999]!);
    expect(s.t[nulls[0]!]).toBeLessThan(t[3000]!);
    expect(s.t.length).toBeLessThanOrEqual(points);
  });

  test("should return every reading, with nulls at gaps, when they fit", () => {
    const { t, v } = drives([100, 50]);
    const s = downsample(t, v, t.length, 500);
    expect(s.v.filter((x) => x !== null)).toEqual(v);
    expect(s.t.filter((_, i) => s.v[i] !== null)).toEqual(t.map(Math.round));
    expect(s.t.length).toBe(151);
    expect(s.min.filter((x) => x !== null)).toEqual(v);
  });

  test("should not call a regular slow parameter's every interval a gap", () => {
    // Polled every 30 s: longer than GAP_MIN_MS, but that is its rhythm, not a gap.
    const t = Array.from({ length: 2000 }, (_, i) => Date.UTC(2026, 3, 19) + i * 30_000);
    const v = t.map((_, i) => i % 97);
    expect(30_000).toBeGreaterThan(GAP_MIN_MS);
    const s = downsample(t, v, t.length, 300);
    expect(s.v.includes(null)).toBe(false);
    expect(s.t.length).toBe(300);
  });

  test("should never exceed the points, however many gaps", () => {
    // 400 bursts of 5 readings, an hour apart: more gaps than 60 points have room for.
    const t: number[] = [];
    for (let b = 0; b < 400; b++) for (let i = 0; i < 5; i++) t.push(Date.UTC(2026, 3, 19) + b * 3600_000 + i * 1000);
    const v = t.map((_, i) => Math.sin(i));
    for (const points of [10, 60, 1999]) {
      const s = downsample(t, v, t.length, points);
      expect(s.t.length).toBeLessThanOrEqual(points);
      expect(Math.max(...(s.max.filter((x) => x !== null) as number[]))).toBe(Math.max(...v));
    }
  });
});
