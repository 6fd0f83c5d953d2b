import { LATENCY_BUCKET_COUNT } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../src/telemetry/histogram.ts';

/** Half of the widest bucket relative to its values (1/32): the documented error of percentile(). */
const PRECISION = 1 / 64;
const MAX_MS = (2 ** 32 - 1) / 1000;

function expectClose(actual: number, expected: number, relative = PRECISION) {
  const tolerance = Math.max(expected * relative, 0.0005);
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

function uniform(from: number, to: number, step: number): LatencyHistogram {
  const h = new LatencyHistogram();
  for (let v = from; v <= to + 1e-9; v += step) h.record(v);
  return h;
}

describe('LatencyHistogram', () => {
  it('is empty at first', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.percentile(50)).toBe(0);
    expect(h.max).toBe(0);
    expect(h.min).toBe(0);
    expect(h.toSparse()).toEqual([]);
  });

  it('gives percentiles of a uniform 1..1000 ms distribution within the stated precision', () => {
    const h = uniform(1, 1000, 1);
    expect(h.count).toBe(1000);
    expectClose(h.percentile(50), 500);
    expectClose(h.percentile(90), 900);
    expectClose(h.percentile(95), 950);
    expectClose(h.percentile(99), 990);
    expect(h.percentile(100)).toBe(1000);
    expect(h.max).toBe(1000);
    expect(h.min).toBe(1);
    expect(h.sum).toBe(500_500);
  });

  it('gives percentiles of a skewed distribution', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 900; i++) h.record(2);
    for (let i = 0; i < 90; i++) h.record(40);
    for (let i = 0; i < 10; i++) h.record(3000);
    expectClose(h.percentile(50), 2);
    expectClose(h.percentile(90), 2);
    expectClose(h.percentile(91), 40);
    expectClose(h.percentile(99), 40);
    expectClose(h.percentile(99.1), 3000);
    expect(h.percentile(0)).toBe(2);
  });

  it('stays within the stated precision from 1 µs to 100 s', () => {
    for (let ms = 0.001; ms <= 100_000; ms *= 1.37) {
      const h = new LatencyHistogram();
      h.record(0);
      h.record(ms);
      h.record(MAX_MS);
      expectClose(h.percentile(50), ms);
    }
  });

  it('resolves single microseconds below 32 µs', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(0.007);
    h.record(0.008);
    h.record(1);
    expect(h.percentile(50)).toBe(0.007);
    expect(h.percentile(75)).toBe(0.008);
    expect(h.toSparse()).toContainEqual([7, 1]);
    expect(h.toSparse()).toContainEqual([8, 1]);
  });

  it('counts zero, negative and NaN durations as 0, and clamps durations beyond the last bucket', () => {
    const h = new LatencyHistogram();
    h.record(-5);
    h.record(Number.NaN);
    h.record(0);
    expect(h.count).toBe(3);
    expect(h.toSparse()).toEqual([[0, 3]]);
    expect(h.sum).toBe(0);
    h.record(10 * 3_600_000);
    expect(h.count).toBe(4);
    expect(h.max).toBe(MAX_MS);
    expect(h.toSparse().at(-1)).toEqual([LATENCY_BUCKET_COUNT - 1, 1]);
  });

  it('keeps very large values apart with the same relative precision', () => {
    const h = new LatencyHistogram();
    h.record(100_000);
    h.record(103_500);
    expect(h.toSparse()).toHaveLength(2);
    expectClose(h.percentile(50), 100_000);
    expect(h.max).toBe(103_500);
  });

  it('merges into the same histogram as recording everything in one', () => {
    const a = uniform(0.5, 200, 0.5);
    const b = uniform(150, 4000, 7);
    const all = new LatencyHistogram();
    for (let v = 0.5; v <= 200 + 1e-9; v += 0.5) all.record(v);
    for (let v = 150; v <= 4000 + 1e-9; v += 7) all.record(v);
    a.merge(b);
    expect(a.count).toBe(all.count);
    expect(a.toSparse()).toEqual(all.toSparse());
    expect(a.max).toBe(all.max);
    expect(a.min).toBe(all.min);
    expect(a.sum).toBeCloseTo(all.sum, 6);
    for (const p of [1, 50, 90, 99, 100]) expect(a.percentile(p)).toBe(all.percentile(p));
    expect(b.count).toBe(Math.floor((4000 - 150) / 7) + 1);
  });

  it('round-trips through the sparse wire form', () => {
    const h = uniform(0.01, 5000, 0.37);
    const sparse = h.toSparse();
    for (let i = 1; i < sparse.length; i++) expect(sparse[i]?.[0]).toBeGreaterThan(sparse[i - 1]?.[0] ?? -1);
    expect(sparse.reduce((n, [, c]) => n + c, 0)).toBe(h.count);
    const back = LatencyHistogram.fromSparse(sparse);
    expect(back.toSparse()).toEqual(sparse);
    expect(back.count).toBe(h.count);
    for (const p of [50, 90, 99]) expect(back.percentile(p)).toBe(h.percentile(p));
    expect(back.max).toBeGreaterThanOrEqual(h.max);
    expectClose(back.max, h.max, 1 / 32);
    expectClose(back.sum, h.sum, 0.001);
  });

  it('refuses sparse buckets outside the layout', () => {
    expect(() => LatencyHistogram.fromSparse([[LATENCY_BUCKET_COUNT, 1]])).toThrow(RangeError);
    expect(() => LatencyHistogram.fromSparse([[-1, 1]])).toThrow(RangeError);
    expect(() => LatencyHistogram.fromSparse([[3, 1.5]])).toThrow(RangeError);
  });

  it('resets to empty', () => {
    const h = uniform(1, 100, 1);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.toSparse()).toEqual([]);
    expect(h.max).toBe(0);
    h.record(3);
    expect(h.percentile(50)).toBe(3);
    expect(h.min).toBe(3);
  });

  it('counts values at or below Prometheus-style bounds, always including values equal to a bound', () => {
    const h = new LatencyHistogram();
    for (const v of [0.3, 0.5, 0.8, 5, 5.3, 20, 2000, 40_000]) h.record(v);
    expect(h.countsAtOrBelow([0.5, 1, 5, 10, 25, 2500, 30_000])).toEqual([2, 3, 4, 5, 6, 7, 7]);
  });

  it('copies independently', () => {
    const h = uniform(1, 10, 1);
    const c = h.copy();
    h.record(1000);
    expect(c.count).toBe(10);
    expect(c.max).toBe(10);
  });

  it('shows its summary as JSON', () => {
    const h = uniform(1, 100, 1);
    const json = JSON.parse(JSON.stringify(h));
    expect(json).toMatchObject({ count: 100, min: 1, max: 100, sum: 5050 });
    expectClose(json.p50, 50);
  });
});
