/** Power of choices: distinct candidates, fewest active requests per weight wins, load read live at each pick. */
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../src/balance/index.ts';
import { mulberry32 } from '../src/rng.ts';
import type { EndpointState } from '../src/types.ts';
import { endpoint, hosts, shares, weighted } from './support/endpoints.ts';

const leastRequest = (list: EndpointState[], choiceCount = 2, seed = 1) =>
  createBalancer(list, { type: 'least_request', choiceCount }, mulberry32(seed));

describe('least request', () => {
  it('returns undefined without hosts', () => {
    expect(leastRequest([]).pick({})).toBeUndefined();
  });

  it('returns the only host, however busy', () => {
    const only = endpoint('only', { active: 50 });
    expect(leastRequest([only]).pick({})).toBe(only);
  });

  it('never picks the busy one of two hosts: both are always drawn', () => {
    const list = hosts(2);
    (list[0] as EndpointState).active = 100;
    expect(shares(leastRequest(list), 10_000)).toEqual(new Map([['h1', 1]]));
  });

  it('never picks the busy one of two weighted hosts either', () => {
    const list = weighted(1, 3);
    (list[1] as EndpointState).active = 100;
    expect(shares(leastRequest(list), 10_000)).toEqual(new Map([['h0', 1]]));
  });

  it('spreads evenly over hosts with equal load: 4 hosts within ±3 points of 25 % over 10 000 picks', () => {
    const s = shares(leastRequest(hosts(4)), 10_000);
    expect(s.size).toBe(4);
    for (const share of s.values()) expect(Math.abs(share - 0.25)).toBeLessThan(0.03);
  });

  it('follows weights 1:3 when loads are equal: 25 % / 75 % ±3 points over 10 000 picks', () => {
    const s = shares(leastRequest(weighted(1, 3)), 10_000);
    expect(Math.abs((s.get('h0') ?? 0) - 0.25)).toBeLessThan(0.03);
    expect(Math.abs((s.get('h1') ?? 0) - 0.75)).toBeLessThan(0.03);
  });

  it('favours less loaded hosts as two distinct uniform draws predict (±2 points over 20 000 picks)', () => {
    const n = 10;
    const list = hosts(n);
    list.forEach((h, i) => {
      h.active = i;
    });
    const s = shares(leastRequest(list), 20_000);
    for (let rank = 0; rank < n; rank++) {
      const expected = (2 * (n - 1 - rank)) / (n * (n - 1));
      expect(Math.abs((s.get(`h${rank}`) ?? 0) - expected), `h${rank}`).toBeLessThan(0.02);
    }
  });

  it('draws weighted candidates without replacement (±2 points of the exact odds over 20 000 picks)', () => {
    const weights = [1, 2, 3, 4];
    const list = weighted(...weights);
    const actives = [0, 1, 3, 8];
    list.forEach((h, i) => {
      h.active = actives[i] ?? 0;
    });
    const load = (i: number) => (actives[i] ?? 0) / (weights[i] ?? 1);
    const total = 10;
    const expected = weights.map(() => 0);
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        if (a === b) continue;
        const p = ((weights[a] ?? 0) / total) * ((weights[b] ?? 0) / (total - (weights[a] ?? 0)));
        const winner = load(b) < load(a) ? b : a;
        expected[winner] = (expected[winner] ?? 0) + p;
      }
    }
    const s = shares(leastRequest(list), 20_000);
    expected.forEach((p, i) => {
      expect(Math.abs((s.get(`h${i}`) ?? 0) - p), `h${i}`).toBeLessThan(0.02);
    });
  });

  it('compares active requests per unit of weight', () => {
    const [light, heavy] = weighted(1, 4) as [EndpointState, EndpointState];
    const balancer = leastRequest([light, heavy]);
    light.active = 1;
    heavy.active = 3;
    expect(balancer.pick({})).toBe(heavy);
    heavy.active = 5;
    expect(balancer.pick({})).toBe(light);
  });

  it('reads active requests live, without a rebuild', () => {
    const [a, b] = hosts(2) as [EndpointState, EndpointState];
    const balancer = leastRequest([a, b]);
    b.active = 5;
    expect(balancer.pick({})).toBe(a);
    a.active = 10;
    expect(balancer.pick({})).toBe(b);
  });

  it('with as many choices as hosts always picks the least loaded, weighted or not', () => {
    for (const list of [hosts(5), weighted(1, 2, 3, 4, 5)]) {
      list.forEach((h, i) => {
        h.active = (i + 2) * h.weight;
      });
      (list[3] as EndpointState).active = 0;
      const balancer = leastRequest(list, 5);
      for (let i = 0; i < 200; i++) expect(balancer.pick({})).toBe(list[3]);
    }
  });

  it('breaks ties in favour of the first drawn candidate, so equal loads stay spread', () => {
    const list = hosts(3);
    const s = shares(leastRequest(list, 3), 9_000);
    for (const share of s.values()) expect(Math.abs(share - 1 / 3)).toBeLessThan(0.03);
  });
});
