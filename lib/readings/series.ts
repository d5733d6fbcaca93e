/**
 * A device's readings of some parameters in a time window, as chart series of
 * at most `points` points each: every reading when there are few enough,
 * otherwise LTTB (lttb.ts) on the raw rows, with each point's bucket minimum
 * and maximum. A series is split where the readings stop for a while (a
 * gap), each piece is downsampled on its own with its share of the points,
 * and a null between pieces breaks the line instead of drawing across the gap.
 *
 * Memory stays bounded whatever the window: a parameter with up to
 * HELD_READINGS readings in the window is read once and held as two numbers a
 * reading; beyond that it is streamed twice, first its timestamps (to find the
 * gaps and the pieces' lengths), then its values, inside one consistent
 * snapshot so both passes see the same rows. Each pass is an index-only range
 * scan of realtime_data(source_device, parameter_name, timestamp, value) over
 * the binary protocol, the fastest way this connector reads rows.
 */
import type { PoolConnection, Pool, Prepare } from "mariadb";
import { Lttb } from "./lttb.ts";
import { windowBounds } from "./window.ts";

export type SeriesRequest = { deviceId: string; parameters: string[]; from: Date; to: Date; points: number };

/** One parameter's chart data: t in whole epoch milliseconds; null values mark a gap. */
export type Series = { unit: string | null; t: number[]; v: (number | null)[]; min: (number | null)[]; max: (number | null)[] };

/** A gap is an interval longer than this and than GAP_FACTOR times the window's mean interval. */
export const GAP_MIN_MS = 10_000;
const GAP_FACTOR = 5;
/** Readings of one parameter read in one pass and held (16 bytes each, 1.6 MB); more are streamed twice. */
const HELD_READINGS = 100_000;

/** The rows of one parameter in the window, in the order both passes and every test use. */
const WINDOW = "FROM realtime_data WHERE source_device = ? AND parameter_name = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp, value, id LIMIT ?";
/** LIMIT for "every row" (a whole number the binary protocol sends as an integer). */
const ALL = 2 ** 31 - 1;
/** Epoch milliseconds, divided by the server as JavaScript would divide the microseconds. */
const EPOCH_MS = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', timestamp) / 1000e0";

/** Where a parameter's readings split into pieces, and how many points each piece keeps. */
type Plan = { n: number; starts: number[]; lengths: number[]; thresholds: number[] };

/**
 * Finds the gaps of a parameter's readings fed in time order: it keeps the
 * largest intervals longer than GAP_MIN_MS (at most as many as `points`
 * leaves room for), and plan() keeps those that are gaps for this window.
 */
class GapFinder {
  private n = 0;
  private first = 0;
  private last = 0;
  /** A min-heap by interval of the largest intervals so far: [interval ms, index of the reading after it]. */
  private heap: [number, number][] = [];
  private readonly maxGaps: number;

  constructor(private readonly points: number) {
    // Each gap costs a null and a piece of at least 3 points; 3 more for the first piece.
    this.maxGaps = Math.max(0, Math.floor((points - 3) / 4));
  }

  push(t: number): void {
    if (this.n === 0) this.first = t;
    else if (t - this.last > GAP_MIN_MS) this.offer(t - this.last, this.n);
    this.last = t;
    this.n++;
  }

  private offer(interval: number, index: number) {
    const h = this.heap;
    if (h.length < this.maxGaps) {
      h.push([interval, index]);
      for (let i = h.length - 1; i > 0; ) {
        const up = (i - 1) >> 1;
        if (h[up]![0] <= h[i]![0]) break;
        [h[up], h[i]] = [h[i]!, h[up]!];
        i = up;
      }
    } else if (h.length && interval > h[0]![0]) {
      h[0] = [interval, index];
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]![0] < h[m]![0]) m = l;
        if (r < h.length && h[r]![0] < h[m]![0]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
  }

  plan(): Plan {
    const n = this.n;
    const mean = n > 1 ? (this.last - this.first) / (n - 1) : 0;
    const limit = Math.max(GAP_MIN_MS, GAP_FACTOR * mean);
    const cuts = this.heap
      .filter(([interval]) => interval > limit)
      .map(([, index]) => index)
      .sort((a, b) => a - b);
    const starts = n ? [0, ...cuts] : [];
    const lengths = starts.map((s, i) => (starts[i + 1] ?? n) - s);
    return { n, starts, lengths, thresholds: allocate(lengths, this.points - cuts.length) };
  }
}

/**
 * Points per piece within `budget`: every reading when they all fit;
 * otherwise at least 3 a piece (or all of a shorter one) and the rest in
 * proportion to the pieces' lengths, by largest remainder, so the total is
 * exactly the budget.
 */
export function allocate(lengths: number[], budget: number): number[] {
  const total = lengths.reduce((a, b) => a + b, 0);
  if (total <= budget) return lengths.slice();
  const base = lengths.map((n) => Math.min(n, 3));
  const rest = budget - base.reduce((a, b) => a + b, 0);
  const spare = total - base.reduce((a, b) => a + b, 0);
  const shares = lengths.map((n, i) => (rest * (n - base[i]!)) / spare);
  const out = shares.map((share, i) => base[i]! + Math.floor(share));
  let left = budget - out.reduce((a, b) => a + b, 0);
  // A share's fraction is below 1 and rest < spare, so no piece gets more than its length.
  for (const i of shares.map((_, i) => i).sort((a, b) => (shares[b]! % 1) - (shares[a]! % 1) || a - b)) {
    if (left-- <= 0) break;
    out[i]!++;
  }
  return out;
}

/** Feeds the readings of a planned parameter through one Lttb per piece, into `out`. */
class Downsampler {
  private k = 0;
  private piece = -1;
  private lttb: Lttb | undefined;
  private lastT = 0;

  constructor(
    private readonly plan: Plan,
    private readonly out: Series,
  ) {}

  push(t: number, v: number): void {
    const { starts, lengths, thresholds } = this.plan;
    if (this.k === starts[this.piece + 1]) {
      if (this.lttb) {
        this.lttb.finish();
        this.put((this.lastT + t) / 2, null, null, null);
      }
      this.piece++;
      this.lttb = new Lttb(lengths[this.piece]!, thresholds[this.piece]!, (pt, pv, min, max) => this.put(pt, pv, min, max));
    }
    this.lttb!.push(t, v);
    this.lastT = t;
    this.k++;
  }

  finish(): void {
    this.lttb?.finish();
  }

  private put(t: number, v: number | null, min: number | null, max: number | null) {
    // Whole milliseconds: a chart needs no more, and microsecond fractions would triple the answer's gzip size.
    this.out.t.push(Math.round(t));
    this.out.v.push(v);
    this.out.min.push(min);
    this.out.max.push(max);
  }
}

/** Downsamples readings held in memory: the pure core, for tests and for windows read in one pass. */
export function downsample(t: ArrayLike<number>, v: ArrayLike<number>, n: number, points: number, unit: string | null = null): Series {
  const gaps = new GapFinder(points);
  for (let i = 0; i < n; i++) gaps.push(t[i]!);
  const out: Series = { unit, t: [], v: [], min: [], max: [] };
  const d = new Downsampler(gaps.plan(), out);
  for (let i = 0; i < n; i++) d.push(t[i]!, v[i]!);
  d.finish();
  return out;
}

type Statements = { values: Prepare; stamps: Prepare; unit: Prepare };

/** A prepared statement's rows, streamed as arrays (the connector takes the option here, though its types omit it). */
const stream = <Row>(p: Prepare, values: unknown[]) =>
  (p as unknown as { executeStream(v: unknown[], o: { rowsAsArray: true }): AsyncIterable<Row> }).executeStream(values, { rowsAsArray: true });

async function oneParameter(s: Statements, held: { t: Float64Array; v: Float64Array }, args: unknown[], points: number): Promise<Series> {
  const [row] = (await s.unit.execute(args.slice(0, 4))) as { unit: string | null }[];
  const unit = row?.unit ?? null;
  const limit = held.t.length;
  let n = 0;
  for await (const [t, v] of stream<[number, number]>(s.values, [...args, limit + 1])) {
    if (n < limit) {
      held.t[n] = t;
      held.v[n] = v;
    }
    n++;
  }
  if (n <= limit) return downsample(held.t, held.v, n, points, unit);

  const gaps = new GapFinder(points);
  let stamped = 0;
  for await (const [t] of stream<[number]>(s.stamps, [...args, ALL])) {
    gaps.push(t);
    stamped++;
  }
  const out: Series = { unit, t: [], v: [], min: [], max: [] };
  const d = new Downsampler(gaps.plan(), out);
  for await (const [t, v] of stream<[number, number]>(s.values, [...args, stamped])) d.push(t, v);
  d.finish();
  return out;
}

/**
 * The series of each requested parameter (an empty one when it has no
 * readings in the window). `heldReadings` is for tests of the streamed path.
 */
export async function readSeries(pool: Pool, req: SeriesRequest, heldReadings = HELD_READINGS): Promise<Record<string, Series>> {
  const conn = await pool.getConnection();
  const statements: Prepare[] = [];
  const prepare = async (sql: string) => {
    const p = await conn.prepare(sql);
    statements.push(p);
    return p;
  };
  let series: Record<string, Series>;
  try {
    // Both passes over a large parameter must see the same rows, although a sync may commit between them.
    await conn.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    const s: Statements = {
      values: await prepare(`SELECT ${EPOCH_MS}, value ${WINDOW}`),
      stamps: await prepare(`SELECT ${EPOCH_MS} ${WINDOW}`),
      unit: await prepare("SELECT unit FROM realtime_data WHERE source_device = ? AND parameter_name = ? AND timestamp BETWEEN ? AND ? LIMIT 1"),
    };
    const held = { t: new Float64Array(heldReadings), v: new Float64Array(heldReadings) };
    series = {};
    for (const parameter of req.parameters) {
      series[parameter] = await oneParameter(s, held, [req.deviceId, parameter, ...windowBounds(req.from, req.to)], req.points);
    }
  } catch (err) {
    // A stream left half read holds the connection's command queue: it cannot be released, only closed.
    await conn.destroy();
    throw err;
  }
  for (const p of statements) p.close();
  await conn.query("COMMIT");
  await conn.release();
  return series;
}

/**
 * The parameters a device logged in a window, in name order. A skip scan of
 * the (source_device, parameter_name, timestamp) index: one lookup for the
 * next name and one for a reading of it in the window, so its cost grows with
 * the number of names, not of readings.
 */
export async function windowParameters(pool: Pool, deviceId: string, from: Date, to: Date): Promise<string[]> {
  const conn: PoolConnection = await pool.getConnection();
  try {
    const names: string[] = [];
    const window = windowBounds(from, to);
    for (let after = ""; ; ) {
      const [next] = await conn.query("SELECT MIN(parameter_name) AS name FROM realtime_data WHERE source_device = ? AND parameter_name > ?", [deviceId, after]);
      if (next?.name === null || next?.name === undefined) return names;
      after = next.name;
      const [hit] = await conn.query("SELECT 1 AS hit FROM realtime_data WHERE source_device = ? AND parameter_name = ? AND timestamp BETWEEN ? AND ? LIMIT 1", [deviceId, after, ...window]);
      if (hit) names.push(after);
    }
  } finally {
    await conn.release();
  }
}
