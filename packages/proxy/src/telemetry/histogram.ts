/**
 * A log-linear latency histogram in the manner of HdrHistogram: a fixed array of counters over whole
 * microseconds, so that recording is an index computation and an increment (no allocation, no sorting, no
 * sampling) and histograms from different windows or proxies merge by adding counters. The bucket layout is the
 * wire layout of `LatencySummary.buckets` (see LATENCY_SUB_BUCKET_BITS in @trellis/schema): 1 µs buckets below
 * 32 µs, then 32 buckets per power of two, each at most 3.1 % of its values wide, up to 2^32 µs (about 71 min).
 */
import {
  latencyBucketHighest as highestOf,
  latencyBucketOf as indexOf,
  LATENCY_BUCKET_COUNT,
  LATENCY_MAX_MICROS,
  latencyBucketLowest as lowestOf,
} from '@trellis/schema';

/** Milliseconds to whole microseconds in range; NaN and negative durations count as 0. */
function toMicros(ms: number): number {
  const micros = Math.round(ms * 1000);
  if (!(micros > 0)) return 0;
  return Math.min(micros, LATENCY_MAX_MICROS);
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BUCKET_COUNT);
  private total = 0;
  private sumMicros = 0;
  private minMicros = Number.POSITIVE_INFINITY;
  private maxMicros = 0;

  static fromSparse(buckets: readonly (readonly [number, number])[]): LatencyHistogram {
    const histogram = new LatencyHistogram();
    for (const [index, n] of buckets) {
      if (!Number.isInteger(index) || index < 0 || index >= LATENCY_BUCKET_COUNT) {
        throw new RangeError(`bucket index ${index} is outside 0..${LATENCY_BUCKET_COUNT - 1}`);
      }
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`bucket count ${n} is not a whole number`);
      if (n === 0) continue;
      histogram.counts[index] = (histogram.counts[index] ?? 0) + n;
      histogram.total += n;
      histogram.sumMicros += ((lowestOf(index) + highestOf(index)) / 2) * n;
      histogram.minMicros = Math.min(histogram.minMicros, lowestOf(index));
      histogram.maxMicros = Math.max(histogram.maxMicros, highestOf(index));
    }
    return histogram;
  }

  record(ms: number): void {
    const micros = toMicros(ms);
    const index = indexOf(micros);
    this.counts[index] = (this.counts[index] as number) + 1;
    this.total++;
    this.sumMicros += micros;
    if (micros < this.minMicros) this.minMicros = micros;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  get count(): number {
    return this.total;
  }

  /** Sum of recorded durations in ms (exact to the microsecond; after fromSparse, from bucket midpoints). */
  get sum(): number {
    return this.sumMicros / 1000;
  }

  /** The largest recorded duration in ms; 0 when empty. After fromSparse, its bucket's upper bound. */
  get max(): number {
    return this.maxMicros / 1000;
  }

  /** The smallest recorded duration in ms; 0 when empty. After fromSparse, its bucket's lower bound. */
  get min(): number {
    return this.total === 0 ? 0 : this.minMicros / 1000;
  }

  /**
   * The p-th percentile (0–100) in ms: the midpoint of the bucket that holds the value of that rank, clamped to
   * [min, max] (so p=100 is the exact max). Off by at most half a bucket: 1.6 % above 32 µs, 0.5 µs below.
   * 0 when empty.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const clamped = Number.isNaN(p) ? 0 : Math.min(Math.max(p, 0), 100);
    const rank = Math.max(1, Math.ceil((clamped * this.total) / 100));
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) {
        const mid = (lowestOf(i) + highestOf(i)) / 2;
        return Math.min(this.maxMicros, Math.max(this.minMicros, mid)) / 1000;
      }
    }
    return this.max;
  }

  /**
   * For ascending upper bounds in ms, how many values are at or below each, Prometheus `le` style. A bucket
   * counts under a bound when it holds the bound or lies below it: values equal to the bound are always
   * counted, and values up to one bucket width (3.1 %) above it may be.
   */
  countsAtOrBelow(upperBoundsMs: readonly number[]): number[] {
    const out: number[] = [];
    let seen = 0;
    let next = 0;
    for (const bound of upperBoundsMs) {
      const last = indexOf(toMicros(bound));
      for (; next <= last; next++) seen += this.counts[next] as number;
      out.push(seen);
    }
    return out;
  }

  merge(other: LatencyHistogram): void {
    if (other.total === 0) return;
    for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) {
      this.counts[i] = (this.counts[i] as number) + (other.counts[i] as number);
    }
    this.total += other.total;
    this.sumMicros += other.sumMicros;
    if (other.minMicros < this.minMicros) this.minMicros = other.minMicros;
    if (other.maxMicros > this.maxMicros) this.maxMicros = other.maxMicros;
  }

  reset(): void {
    if (this.total === 0) return;
    this.counts.fill(0);
    this.total = 0;
    this.sumMicros = 0;
    this.minMicros = Number.POSITIVE_INFINITY;
    this.maxMicros = 0;
  }

  copy(): LatencyHistogram {
    const clone = new LatencyHistogram();
    clone.merge(this);
    return clone;
  }

  /** Non-empty buckets as [index, count] in ascending index order: the wire form (LatencySummary.buckets). */
  toSparse(): [number, number][] {
    const out: [number, number][] = [];
    if (this.total === 0) return out;
    for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) {
      const n = this.counts[i] as number;
      if (n > 0) out.push([i, n]);
    }
    return out;
  }

  /** What JSON (e.g. the admin /stats page) shows: the summary, not the 896 counters. */
  toJSON(): { count: number; sum: number; min: number; max: number; p50: number; p90: number; p99: number } {
    return {
      count: this.total,
      sum: this.sum,
      min: this.min,
      max: this.max,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
    };
  }
}
