/** Weighted random: shares follow weights, and the random point maps to hosts by cumulative weight. */
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../src/balance/index.ts';
import { mulberry32 } from '../src/rng.ts';
import type { EndpointState, Rng } from '../src/types.ts';
import { hosts, shares, weighted } from './support/endpoints.ts';

const random = (list: EndpointState[], rng: Rng = mulberry32(1)) =>
  createBalancer(list, { type: 'random' }, rng);

describe('random', () => {
  it('returns undefined without hosts', () => {
    expect(random([]).pick({})).toBeUndefined();
  });

  it('spreads 10 000 picks over 4 equal hosts within ±3 points of 25 %', () => {
    const s = shares(random(hosts(4)), 10_000);
    expect(s.size).toBe(4);
    for (const share of s.values()) expect(Math.abs(share - 0.25)).toBeLessThan(0.03);
  });

  it('follows weights 1:3: 25 % / 75 % ±3 points over 10 000 picks', () => {
    const s = shares(random(weighted(1, 3)), 10_000);
    expect(Math.abs((s.get('h0') ?? 0) - 0.25)).toBeLessThan(0.03);
    expect(Math.abs((s.get('h1') ?? 0) - 0.75)).toBeLessThan(0.03);
  });

  it('follows weights 1:2:3:4: 10/20/30/40 % ±3 points over 10 000 picks', () => {
    const s = shares(random(weighted(1, 2, 3, 4)), 10_000);
    [0.1, 0.2, 0.3, 0.4].forEach((expected, i) => {
      expect(Math.abs((s.get(`h${i}`) ?? 0) - expected), `h${i}`).toBeLessThan(0.03);
    });
  });

  it('maps the random number onto cumulative weights', () => {
    const list = weighted(1, 3, 4);
    const at = (r: number) => random(list, () => r).pick({})?.key;
    expect([0, 0.124, 0.125, 0.499, 0.5, 0.999999].map(at)).toEqual(['h0', 'h0', 'h1', 'h1', 'h2', 'h2']);
  });

  it('maps the random number uniformly when weights are equal', () => {
    const list = weighted(2, 2, 2, 2);
    const at = (r: number) => random(list, () => r).pick({})?.key;
    expect([0, 0.249, 0.25, 0.74, 0.75, 0.999999].map(at)).toEqual(['h0', 'h0', 'h1', 'h2', 'h3', 'h3']);
  });
});
