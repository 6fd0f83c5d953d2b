/**
 * The latency histogram layout of `LatencySummary.buckets` (LATENCY_SUB_BUCKET_BITS) as arithmetic, and what
 * can be done with sparse buckets once they leave the proxy: merge them and read percentiles. One
 * implementation, used by the proxy to record and by the control plane and console to merge and summarise, so
 * that a bucket index means the same range of microseconds everywhere.
 */

/**
 * Layout of the latency histogram whose sparse buckets travel in `LatencySummary.buckets`. Values are whole
 * microseconds. Below 2^bits µs each value has its own bucket; above, every power of two [2^e, 2^(e+1)) is
 * split into 2^bits equal buckets, so a bucket is at most 1/2^bits (3.1 %) of its values wide. The last bucket
 * ends at 2^32 µs (about 71 minutes); longer durations are counted there.
 */
export const LATENCY_SUB_BUCKET_BITS = 5;
export const LATENCY_BUCKET_COUNT = (33 - LATENCY_SUB_BUCKET_BITS) << LATENCY_SUB_BUCKET_BITS;

const SUB_COUNT = 1 << LATENCY_SUB_BUCKET_BITS;

/** The largest duration in whole microseconds the layout holds; longer ones are counted in the last bucket. */
export const LATENCY_MAX_MICROS = 2 ** 32 - 1;

/** The bucket of a duration; `micros` must be an integer in [0, LATENCY_MAX_MICROS]. */
export function latencyBucketOf(micros: number): number {
  if (micros < SUB_COUNT) return micros;
  const shift = 31 - Math.clz32(micros) - LATENCY_SUB_BUCKET_BITS;
  return ((shift + 1) << LATENCY_SUB_BUCKET_BITS) + (micros >>> shift) - SUB_COUNT;
}

/** The smallest duration in microseconds that falls in bucket `index`. */
export function latencyBucketLowest(index: number): number {
  if (index < SUB_COUNT) return index;
  const shift = (index >> LATENCY_SUB_BUCKET_BITS) - 1;
  return (SUB_COUNT + (index & (SUB_COUNT - 1))) * 2 ** shift;
}

/** The largest duration in microseconds that falls in bucket `index`. */
export function latencyBucketHighest(index: number): number {
  if (index < SUB_COUNT) return index;
  return latencyBucketLowest(index) + 2 ** ((index >> LATENCY_SUB_BUCKET_BITS) - 1) - 1;
}

/** What a bucket stands for when only its count is known: its midpoint, in microseconds. */
export function latencyBucketMidpoint(index: number): number {
  return (latencyBucketLowest(index) + latencyBucketHighest(index)) / 2;
}

export type SparseLatencyBuckets = readonly (readonly [index: number, count: number])[];

/** Adds sparse buckets into a map of bucket index → count. */
export function addLatencyBuckets(into: Map<number, number>, buckets: SparseLatencyBuckets): void {
  for (const [index, n] of buckets) {
    if (n > 0 && index >= 0 && index < LATENCY_BUCKET_COUNT) into.set(index, (into.get(index) ?? 0) + n);
  }
}

/** A map of bucket index → count in the wire form: non-empty buckets, ascending index. */
export function toSparseLatency(counts: ReadonlyMap<number, number>): [number, number][] {
  const out: [number, number][] = [];
  for (const [index, n] of counts) if (n > 0) out.push([index, n]);
  return out.sort((a, b) => a[0] - b[0]);
}

/**
 * Percentiles (0–100) in milliseconds of ascending sparse buckets, one per entry of `ps`: the midpoint of the
 * bucket holding the value of that rank, as the proxy's own histogram answers, so off by at most half a bucket
 * (1.6 % above 32 µs). null when the buckets are empty.
 */
export function latencyPercentiles(buckets: SparseLatencyBuckets, ps: readonly number[]): (number | null)[] {
  let total = 0;
  for (const [, n] of buckets) total += n;
  if (total === 0) return ps.map(() => null);
  return ps.map((p) => {
    const clamped = Number.isNaN(p) ? 0 : Math.min(Math.max(p, 0), 100);
    const rank = Math.max(1, Math.ceil((clamped * total) / 100));
    let seen = 0;
    for (const [index, n] of buckets) {
      seen += n;
      if (seen >= rank) return latencyBucketMidpoint(index) / 1000;
    }
    const last = buckets[buckets.length - 1];
    return last ? latencyBucketMidpoint(last[0]) / 1000 : null;
  });
}
