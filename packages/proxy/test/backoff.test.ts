/** Exponential backoff with full jitter: the bounds per retry, the cap, and the spread of the draws. */
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/resilience/backoff.ts';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const envoy = { baseIntervalMs: 25, maxIntervalMs: 250 };

describe('backoffDelay', () => {
  it('draws below base × 2^index and covers that range', () => {
    const rng = mulberry32(1);
    for (const [index, cap] of [
      [0, 25],
      [1, 50],
      [2, 100],
      [3, 200],
    ] as const) {
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      for (let i = 0; i < 2000; i++) {
        const d = backoffDelay(index, envoy, rng);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(min).toBeLessThan(cap * 0.05);
      expect(max).toBeLessThan(cap);
      expect(max).toBeGreaterThan(cap * 0.95);
    }
  });

  it('is capped at maxIntervalMs, even for huge retry counts', () => {
    const rng = mulberry32(2);
    for (const index of [4, 5, 10, 64, 5000]) {
      let max = 0;
      for (let i = 0; i < 1000; i++) max = Math.max(max, backoffDelay(index, envoy, rng));
      expect(Number.isFinite(max)).toBe(true);
      expect(max).toBeLessThan(250);
      expect(max).toBeGreaterThan(240);
    }
  });

  it('stays in [0, cap) at the extremes of the rng', () => {
    expect(backoffDelay(1, envoy, () => 0)).toBe(0);
    expect(backoffDelay(1, envoy, () => 1 - Number.EPSILON)).toBeLessThan(50);
    expect(backoffDelay(9, envoy, () => 1 - Number.EPSILON)).toBeLessThan(250);
  });

  it('has a mean of about half the cap (uniform jitter)', () => {
    const rng = mulberry32(3);
    for (const [index, cap] of [
      [2, 100],
      [7, 250],
    ] as const) {
      const n = 20_000;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += backoffDelay(index, envoy, rng);
      expect(sum / n).toBeGreaterThan(cap * 0.48);
      expect(sum / n).toBeLessThan(cap * 0.52);
    }
  });
});
