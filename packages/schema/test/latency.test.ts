/** The shared histogram layout: every duration falls in the bucket whose bounds hold it, and sparse percentiles. */
import { describe, expect, it } from 'vitest';
import {
  addLatencyBuckets,
  LATENCY_BUCKET_COUNT,
  LATENCY_MAX_MICROS,
  latencyBucketHighest,
  latencyBucketLowest,
  latencyBucketOf,
  latencyPercentiles,
  toSparseLatency,
} from '../src/index.ts';

describe('latency buckets', () => {
  it('puts every duration in a bucket whose bounds hold it, at most 1/32 of its value wide', () => {
    for (const micros of [
      0,
      1,
      31,
      32,
      33,
      63,
      64,
      1000,
      999_999,
      1_000_000,
      123_456_789,
      LATENCY_MAX_MICROS,
    ]) {
      const index = latencyBucketOf(micros);
      expect(index).toBeLessThan(LATENCY_BUCKET_COUNT);
      expect(latencyBucketLowest(index)).toBeLessThanOrEqual(micros);
      expect(latencyBucketHighest(index)).toBeGreaterThanOrEqual(micros);
      expect(latencyBucketHighest(index) - latencyBucketLowest(index)).toBeLessThanOrEqual(micros / 32);
    }
    expect(latencyBucketOf(LATENCY_MAX_MICROS)).toBe(LATENCY_BUCKET_COUNT - 1);
    for (let index = 1; index < LATENCY_BUCKET_COUNT; index++) {
      expect(latencyBucketLowest(index)).toBe(latencyBucketHighest(index - 1) + 1);
    }
  });

  it('merges sparse buckets and reads percentiles from them', () => {
    const counts = new Map<number, number>();
    addLatencyBuckets(counts, [[latencyBucketOf(1000), 3]]);
    addLatencyBuckets(counts, [
      [latencyBucketOf(1000), 1],
      [latencyBucketOf(20), 6],
    ]);
    const sparse = toSparseLatency(counts);
    expect(sparse).toEqual([
      [20, 6],
      [latencyBucketOf(1000), 4],
    ]);
    const [p60, p70, p100] = latencyPercentiles(sparse, [60, 70, 100]);
    expect(p60).toBe(0.02);
    expect(Math.abs((p70 ?? 0) - 1)).toBeLessThan(1 / 32);
    expect(p100).toBe(p70);
    expect(latencyPercentiles([], [50])).toEqual([null]);
  });
});
