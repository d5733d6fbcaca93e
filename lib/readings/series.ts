/**
 * A device's readings of some parameters in a time window, as chart series of
 * at most `points` points each: every reading when there are few enough,
 * otherwise LTTB (lttb.ts) on the raw rows, with each point's bucket minimum
 * and maximum. A series is split where the readings stop for a while (a
 * gap), each piece is downsampled on its own with its share of the points,
 * and a null between pieces breaks the line instead of drawing across the gap.
 *
 * All the parameters come from one range scan of the window over
 * realtime_data(source_device, timestamp, parameter_name, value), an
 * index-only read over the binary protocol: the fastest way this connector
 * reads rows, and the one index window reads need (each index costs every
 * insert of the sync). Memory stays bounded whatever the window: up to
 * HELD_READINGS readings in all are held as two numbers each and downsampled
 * from memory; beyond that only each parameter's gaps are found as the scan
 * goes on, and a second scan, inside the same consistent snapshot so both
 * see the same rows, streams the values through the downsampler.
 */
import type { Pool, Prepare } from "mariadb";
import { ApiError } from "../http/errors.ts";
import { Lttb } from "./lttb.ts";
import { MAX_PARAMETERS, windowBounds } from "./window.ts";

/** `parameters` undefined: every parameter with readings in the window (at most MAX_PARAMETERS), in name order. */
export type SeriesRequest = { deviceId: string; parameters?: string[]; from: Date; to: Date; points: number };

/** One parameter's chart data: t in whole epoch milliseconds; null values mark a gap. */
export type Series = { unit: string | null; t: number[]; v: (number | null)[]; min: (number | null)[]; max: (number | null)[] };

/** A gap is an interval longer than this and than GAP_FACTOR times the window's mean interval. */
export const GAP_MIN_MS = 10_000;
const GAP_FACTOR = 5;
/** Readings held in memory in all (16 bytes each, 6.4 MB: a 4-hour drive of 13 parameters fits); more are streamed twice. */
const HELD_READINGS = 400_000;

/** The window's rows in the index's order, so the scan never sorts; per parameter that is time order. */
const WINDOW = "FROM realtime_data WHERE source_device = ? AND timestamp BETWEEN ? AND ?";
const ORDER = "ORDER BY timestamp, parameter_name, value, id";
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

/** One parameter as the first scan found it: its readings held (while they fit), or its gaps found. */
class Scanned {
  n = 0;
  /** The id of its first reading in the window, whose unit the series carries. */
  firstId: bigint | number | undefined;
  t: Float64Array | undefined = new Float64Array(64);
  v: Float64Array | undefined = new Float64Array(64);
  gaps: GapFinder | undefined;

  push(t: number, v: number) {
    if (this.gaps) this.gaps.push(t);
    else {
      if (this.n === this.t!.length) {
        this.t = grow(this.t!);
        this.v = grow(this.v!);
      }
      this.t![this.n] = t;
      this.v![this.n] = v;
    }
    this.n++;
  }

  /** Lets go of the held readings, keeping only what the second scan needs: the gaps. */
  release(points: number) {
    this.gaps = new GapFinder(points);
    for (let i = 0; i < this.n; i++) this.gaps.push(this.t![i]!);
    this.t = this.v = undefined;
  }
}

const grow = (a: Float64Array) => {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
};

/** A prepared statement's rows, streamed as arrays (the connector takes the option here, though its types omit it). */
const stream = <Row>(p: Prepare, values: unknown[]) =>
  (p as unknown as { executeStream(v: unknown[], o: { rowsAsArray: true }): AsyncIterable<Row> }).executeStream(values, { rowsAsArray: true });

const tooMany = () =>
  new ApiError(422, `The window has readings of more than ${MAX_PARAMETERS} parameters; name the ones to chart with parameters=`, { field: "parameters" });

/**
 * The series of each requested parameter (an empty one when it has no
 * readings in the window). `heldReadings` is for tests of the streamed path.
 */
export async function readSeries(pool: Pool, req: SeriesRequest, heldReadings = HELD_READINGS): Promise<Record<string, Series>> {
  const named = req.parameters;
  const only = named?.length ? ` AND parameter_name IN (${named.map(() => "?").join(", ")})` : "";
  const args = [req.deviceId, ...windowBounds(req.from, req.to), ...(named ?? [])];
  const scanned = new Map<string, Scanned>(named?.map((name) => [name, new Scanned()]));
  const conn = await pool.getConnection();
  const statements: Prepare[] = [];
  const prepare = async (sql: string) => {
    const p = await conn.prepare(sql);
    statements.push(p);
    return p;
  };
  const series: Record<string, Series> = {};
  try {
    // The second scan must see the rows the first saw, although a sync may commit between them.
    await conn.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    let held = 0;
    const first = await prepare(`SELECT parameter_name, ${EPOCH_MS}, value, id ${WINDOW}${only} ${ORDER}`);
    for await (const [name, t, v, id] of stream<[string, number, number, bigint | number]>(first, args)) {
      let p = scanned.get(name);
      if (!p) {
        // Listed names match exactly; the column's collation also lets other spellings through.
        if (named) continue;
        if (scanned.size === MAX_PARAMETERS) throw tooMany();
        scanned.set(name, (p = new Scanned()));
      }
      if (p.n === 0) p.firstId = id;
      p.push(t, v);
      if (!p.gaps && ++held > heldReadings) for (const q of scanned.values()) if (!q.gaps) q.release(req.points);
    }
    const units = await unitsOf(conn, [...scanned.values()].flatMap((p) => (p.firstId === undefined ? [] : [p.firstId])));
    const streamed = new Map<string, Downsampler>();
    for (const [name, p] of scanned) {
      const unit = p.firstId === undefined ? null : (units.get(String(p.firstId)) ?? null);
      if (!p.gaps) series[name] = downsample(p.t!, p.v!, p.n, req.points, unit);
      else {
        series[name] = { unit, t: [], v: [], min: [], max: [] };
        streamed.set(name, new Downsampler(p.gaps.plan(), series[name]));
      }
    }
    if (streamed.size) {
      const names = [...streamed.keys()];
      const second = await prepare(`SELECT parameter_name, ${EPOCH_MS}, value ${WINDOW} AND parameter_name IN (${names.map(() => "?").join(", ")}) ${ORDER}`);
      for await (const [name, t, v] of stream<[string, number, number]>(second, [...args.slice(0, 3), ...names])) streamed.get(name)?.push(t, v);
      for (const d of streamed.values()) d.finish();
    }
  } catch (err) {
    // A stream left half read holds the connection's command queue: it cannot be released, only closed.
    await conn.destroy();
    throw err;
  }
  for (const p of statements) p.close();
  await conn.query("COMMIT");
  await conn.release();
  const order = named ?? Object.keys(series).sort();
  return Object.fromEntries(order.map((name) => [name, series[name]!]));
}

/** The unit of each of these readings, by id (as a string). */
async function unitsOf(conn: { query(sql: string, values?: unknown[]): Promise<any> }, ids: (bigint | number)[]): Promise<Map<string, string | null>> {
  if (!ids.length) return new Map();
  const rows: { id: bigint | number; unit: string | null }[] = await conn.query(`SELECT id, unit FROM realtime_data WHERE id IN (${ids.map(() => "?").join(", ")})`, ids);
  return new Map(rows.map((r) => [String(r.id), r.unit]));
}
