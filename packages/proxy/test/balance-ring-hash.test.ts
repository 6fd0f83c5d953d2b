/** Consistent hashing: stable key → host mapping, spread, weights, minimal movement when hosts come and go. */
import { describe, expect, it } from 'vitest';
import { createBalancer, murmur3, type RingHashBalancer } from '../src/balance/index.ts';
import { mulberry32 } from '../src/rng.ts';
import type { EndpointState } from '../src/types.ts';
import { endpoint, hosts, shares, weighted } from './support/endpoints.ts';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

const ring = (list: EndpointState[], sizes: { minimumRingSize?: number; maximumRingSize?: number } = {}) =>
  createBalancer(
    list,
    { type: 'ring_hash', hashHeader: 'x-user', minimumRingSize: 1024, maximumRingSize: 8_388_608, ...sizes },
    mulberry32(1),
  );

/** The host key each of KEYS maps to. */
function assign(list: EndpointState[]): string[] {
  const balancer = ring(list);
  return KEYS.map((hashKey) => balancer.pick({ hashKey })?.key ?? 'none');
}

function keyShares(assigned: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of assigned) counts.set(key, (counts.get(key) ?? 0) + 1);
  return new Map([...counts].map(([key, count]) => [key, count / assigned.length]));
}

describe('ring hash', () => {
  it('returns undefined without hosts, with or without a key', () => {
    expect(ring([]).pick({ hashKey: 'a' })).toBeUndefined();
    expect(ring([]).pick({})).toBeUndefined();
  });

  it('hashes with murmur3 (x86, 32-bit) over the UTF-16LE bytes of the string', () => {
    expect(murmur3('', 0)).toBe(0);
    expect(murmur3('a', 0)).toBe(1867108634);
    expect(murmur3('hello world', 42)).toBe(3495752719);
    expect(murmur3('é☃x', 3)).toBe(1044439973);
    expect(murmur3('svc/10.0.0.1:8080', 123456)).toBe(1633117812);
  });

  it('maps a key equal to a host key onto that host (its first point is the key’s own hash)', () => {
    const list = hosts(20);
    const balancer = ring(list);
    for (const h of list) expect(balancer.pick({ hashKey: h.key })).toBe(h);
  });

  it('maps the same key to the same host, every time and in every ring built over the same hosts', () => {
    const list = hosts(8);
    const first = assign(list);
    expect(assign(list)).toEqual(first);
    expect(assign([...list].reverse())).toEqual(first);
    const balancer = ring(list);
    for (let i = 0; i < 5; i++) expect(balancer.pick({ hashKey: 'user-42' })?.key).toBe(first[42]);
  });

  it('spreads 10 000 keys over 10 hosts within ±1.5 points of 10 % each', () => {
    const s = keyShares(assign(hosts(10)));
    expect(s.size).toBe(10);
    for (const share of s.values()) expect(Math.abs(share - 0.1)).toBeLessThan(0.015);
  });

  it('follows weights 1:3: 25 % / 75 % ±3 points of 10 000 keys', () => {
    const s = keyShares(assign(weighted(1, 3)));
    expect(Math.abs((s.get('h0') ?? 0) - 0.25)).toBeLessThan(0.03);
    expect(Math.abs((s.get('h1') ?? 0) - 0.75)).toBeLessThan(0.03);
  });

  it('keeps every key of the other hosts in place when a host leaves, and spreads the leaver’s keys', () => {
    const list = hosts(10);
    const before = assign(list);
    const after = assign(list.filter((h) => h.key !== 'h3'));
    let others = 0;
    let kept = 0;
    const heirs = new Set<string>();
    before.forEach((host, i) => {
      if (host === 'h3') heirs.add(after[i] ?? 'none');
      else {
        others++;
        if (after[i] === host) kept++;
      }
    });
    expect(others).toBeGreaterThan(8_500);
    expect(kept / others).toBeGreaterThanOrEqual(0.99);
    expect(kept).toBe(others);
    expect(heirs.size).toBeGreaterThanOrEqual(7);
    expect(heirs.has('h3')).toBe(false);
  });

  it('moves only about 1/(n+1) of the keys when an 11th host joins (9.1 % ±2 points), all to the newcomer', () => {
    const list = hosts(10);
    const before = assign(list);
    const after = assign([...list, endpoint('h10')]);
    const moved = before.filter((host, i) => after[i] !== host).length;
    expect(Math.abs(moved / KEYS.length - 1 / 11)).toBeLessThan(0.02);
    after.forEach((host, i) => {
      if (host !== before[i]) expect(host).toBe('h10');
    });
  });

  it('keeps a host’s points when another host’s weight changes', () => {
    const before = assign(weighted(1, 1, 1, 1));
    const after = assign(weighted(1, 1, 1, 3));
    before.forEach((host, i) => {
      if (after[i] !== host) expect(after[i]).toBe('h3');
    });
    expect(after.filter((h) => h === 'h3').length).toBeGreaterThan(before.filter((h) => h === 'h3').length);
  });

  it('picks a host at random without a hash key: 4 hosts within ±3 points of 25 % over 10 000 picks', () => {
    const s = shares(ring(hosts(4)), 10_000);
    expect(s.size).toBe(4);
    for (const share of s.values()) expect(Math.abs(share - 0.25)).toBeLessThan(0.03);
  });

  it('gives each weight unit minimumRingSize points', () => {
    const balancer = ring(weighted(1, 2), { minimumRingSize: 100 }) as RingHashBalancer;
    expect(balancer.size).toBe(300);
    expect((ring(hosts(1)) as RingHashBalancer).size).toBe(1024);
  });

  it('shrinks the points per weight unit to stay within maximumRingSize', () => {
    const balancer = ring(weighted(1, 3), {
      minimumRingSize: 1024,
      maximumRingSize: 1000,
    }) as RingHashBalancer;
    expect(balancer.size).toBe(1000);
    const s = keyShares(KEYS.map((hashKey) => balancer.pick({ hashKey })?.key ?? 'none'));
    expect(Math.abs((s.get('h0') ?? 0) - 0.25)).toBeLessThan(0.03);
  });
});
