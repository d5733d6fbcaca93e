/**
 * Largest-Triangle-Three-Buckets downsampling (Sveinn Steinarsson, "Downsampling
 * Time Series for Visual Representation", 2013), fed one point at a time so a
 * long series never has to be held: only the bucket being chosen from and the
 * one after it are kept. The buckets, the averages and the triangle areas are
 * computed exactly as in the paper's reference implementation (and the
 * `downsample` package, which the tests compare against), in the same order
 * of floating-point operations, so the same points are chosen.
 *
 * One deliberate difference: the last middle bucket always ends just before
 * the last point. The reference computes that boundary as floor((m - 2) *
 * every) too, which floating point sometimes rounds one short (n = 504,
 * m = 9), and then it never looks at the second-to-last point (`downsample`
 * even returns it as the last one).
 *
 * Each chosen point also carries the minimum and maximum of the bucket it
 * stands for. The first and last points are buckets of their own, and every
 * other point belongs to exactly one bucket, so the bands cover every reading:
 * a peak is never lost to the downsampling.
 */

/** Receives the chosen points in order: time, value, and the extremes of its bucket. */
export type Emit = (t: number, v: number, min: number, max: number) => void;

/** A bucket's points, in arrays reused from bucket to bucket. */
class Bucket {
  t: Float64Array;
  v: Float64Array;
  n = 0;
  constructor(capacity: number) {
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
  }
  push(t: number, v: number) {
    this.t[this.n] = t;
    this.v[this.n++] = v;
  }
}

/**
 * Downsamples a series of exactly `length` points to `threshold` of them (at
 * least 3), or passes every point through when there are no more than that.
 * Call push() for each point in time order, then finish().
 */
export class Lttb {
  private k = 0;
  private readonly every: number;
  /** The middle bucket being filled: number `fill`, indexes below `fillEnd`. */
  private fill = 0;
  private fillEnd: number;
  private filling: Bucket;
  /** The complete bucket waiting for the next one's average. */
  private waiting: Bucket | undefined;
  private spare: Bucket;
  private a = { t: 0, v: 0 };

  constructor(
    private readonly length: number,
    private readonly threshold: number,
    private readonly emit: Emit,
  ) {
    if (threshold < 3 && length > threshold) throw new Error(`LTTB needs a threshold of at least 3, got ${threshold}`);
    this.every = (length - 2) / (threshold - 2);
    this.fillEnd = this.endOf(0);
    const capacity = Math.ceil(this.every) + 1;
    this.filling = new Bucket(length > threshold ? capacity : 0);
    this.spare = new Bucket(length > threshold ? capacity : 0);
  }

  push(t: number, v: number): void {
    const k = this.k++;
    if (k >= this.length) throw new Error(`LTTB was told of ${this.length} points and given more`);
    if (this.length <= this.threshold) return this.emit(t, v, v, v);
    if (k === 0) {
      this.a = { t, v };
      return this.emit(t, v, v, v);
    }
    if (k === this.length - 1) {
      // The last middle bucket ends here; the last point is the "next bucket" of its choice.
      this.bucketDone();
      this.choose(this.waiting!, t, v);
      return this.emit(t, v, v, v);
    }
    if (k >= this.fillEnd) this.bucketDone();
    this.filling.push(t, v);
  }

  finish(): void {
    if (this.k !== this.length) throw new Error(`LTTB was told of ${this.length} points and given ${this.k}`);
  }

  /** The filling bucket is complete: choose from the waiting one against its average, and start the next. */
  private bucketDone() {
    const done = this.filling;
    if (this.waiting) {
      let sumT = 0;
      let sumV = 0;
      for (let i = 0; i < done.n; i++) {
        sumT += done.t[i]!;
        sumV += done.v[i]!;
      }
      this.choose(this.waiting, sumT / done.n, sumV / done.n);
      this.spare = this.waiting;
    }
    this.waiting = done;
    this.filling = this.spare;
    this.filling.n = 0;
    this.fillEnd = this.endOf(++this.fill);
  }

  /** Where middle bucket `b` ends (exclusive), as the reference computes it but for the last one (see above). */
  private endOf(b: number): number {
    return b >= this.threshold - 3 ? this.length - 1 : Math.min(Math.floor((b + 1) * this.every) + 1, this.length - 1);
  }

  /** Emits the point of `b` that makes the largest triangle with the last chosen point and (ct, cv). */
  private choose(b: Bucket, ct: number, cv: number) {
    const { t: at, v: av } = this.a;
    let maxArea = -1;
    let chosen = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < b.n; j++) {
      const bt = b.t[j]!;
      const bv = b.v[j]!;
      // The reference's expression, term for term.
      const area = Math.abs((at - ct) * (bv - av) - (at - bt) * (cv - av)) / 2;
      if (area > maxArea) {
        maxArea = area;
        chosen = j;
      }
      if (bv < min) min = bv;
      if (bv > max) max = bv;
    }
    this.a = { t: b.t[chosen]!, v: b.v[chosen]! };
    this.emit(this.a.t, this.a.v, min, max);
  }
}
