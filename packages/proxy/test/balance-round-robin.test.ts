/** Smooth weighted round robin: exact shares per cycle, nginx's interleaving, a random phase per proxy. */
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../src/balance/index.ts';
import { mulberry32 } from '../src/rng.ts';
import type { EndpointState } from '../src/types.ts';
import { hosts, sequence, shares, weighted } from './support/endpoints.ts';

const RR = { type: 'round_robin' } as const;
const roundRobin = (list: EndpointState[], seed = 1) => createBalancer(list, RR, mulberry32(seed));
const fromStart = (list: EndpointState[]) => createBalancer(list, RR, () => 0);

/** nginx's ngx_http_upstream_get_peer, one host per step, as the reference for the sequence. */
function nginx(weights: number[], picks: number): string[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const out: string[] = [];
  for (let p = 0; p < picks; p++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] = (current[i] ?? 0) + (weights[i] ?? 0);
      if (best === -1 || (current[i] ?? 0) > (current[best] ?? 0)) best = i;
    }
    current[best] = (current[best] ?? 0) - total;
    out.push(`h${best}`);
  }
  return out;
}

describe('round robin', () => {
  it('returns undefined without hosts', () => {
    expect(roundRobin([]).pick({})).toBeUndefined();
  });

  it('cycles through equal hosts one after the other', () => {
    expect(sequence(fromStart(hosts(4)), 8)).toEqual(['h0', 'h1', 'h2', 'h3', 'h0', 'h1', 'h2', 'h3']);
  });

  it('interleaves weights 5:1:1 as nginx does: a a b a c a a', () => {
    const seq = sequence(fromStart(weighted(5, 1, 1)), 14).join(' ');
    expect(seq).toBe('h0 h0 h1 h0 h2 h0 h0 h0 h0 h1 h0 h2 h0 h0');
  });

  it('keeps the interleaving from any random starting phase', () => {
    const cycle = 'h0 h0 h1 h0 h2 h0 h0 ';
    for (let seed = 1; seed <= 20; seed++) {
      const seq = `${sequence(roundRobin(weighted(5, 1, 1), seed), 21).join(' ')} `;
      expect(cycle.repeat(4)).toContain(seq);
    }
  });

  it('produces exactly the nginx sequence for mixed weights, ties going to the host listed first', () => {
    const rng = mulberry32(7);
    for (let trial = 0; trial < 30; trial++) {
      const weights = Array.from({ length: 1 + Math.floor(rng() * 12) }, () => 1 + Math.floor(rng() * 6));
      const total = weights.reduce((a, b) => a + b, 0);
      expect(sequence(fromStart(weighted(...weights)), 2 * total + 3), weights.join(':')).toEqual(
        nginx(weights, 2 * total + 3),
      );
    }
  });

  it('reduces weights by their common divisor without changing the order', () => {
    expect(sequence(fromStart(weighted(10, 2, 2)), 14)).toEqual(nginx([5, 1, 1], 14));
  });

  it('gives every host exactly its weight in any window of one full cycle, whatever the phase', () => {
    const weights = [3, 2, 1, 1, 4];
    const total = 11;
    for (let seed = 1; seed <= 10; seed++) {
      const seq = sequence(roundRobin(weighted(...weights), seed), 3 * total);
      for (let start = 0; start + total <= seq.length; start++) {
        const window = seq.slice(start, start + total);
        weights.forEach((w, i) => {
          expect(window.filter((k) => k === `h${i}`)).toHaveLength(w);
        });
      }
    }
  });

  it('never picks the heavy host of 5:1:1 more than twice in a row within a cycle, four across cycles', () => {
    const seq = sequence(roundRobin(weighted(5, 1, 1), 3), 700);
    let run = 0;
    let longest = 0;
    for (const key of seq) {
      run = key === 'h0' ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(longest).toBe(4);
  });

  it('splits weights 1:3 exactly 25 % / 75 % over 10 000 picks', () => {
    const s = shares(roundRobin(weighted(1, 3)), 10_000);
    expect(s.get('h0')).toBe(0.25);
    expect(s.get('h1')).toBe(0.75);
  });

  it('spreads 10 000 picks over 7 equal hosts within one pick of an even share', () => {
    const s = shares(roundRobin(hosts(7)), 10_000);
    for (const share of s.values()) expect(Math.abs(share - 1 / 7)).toBeLessThanOrEqual(1 / 10_000);
  });

  it('starts proxies at different hosts', () => {
    const first = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) first.add(roundRobin(hosts(4), seed).pick({})?.key ?? 'none');
    expect([...first].sort()).toEqual(['h0', 'h1', 'h2', 'h3']);
  });

  it('repeats the same cycle after thousands of picks', () => {
    const b = fromStart(weighted(3, 2, 1));
    sequence(b, 6 * 1000);
    expect(sequence(b, 12)).toEqual(nginx([3, 2, 1], 12));
  });
});
