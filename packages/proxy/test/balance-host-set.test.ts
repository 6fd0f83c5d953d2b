/** The host set: only usable hosts are balanced, invalidate() refreshes them, panic mode spreads over all. */
import type { LoadBalancer } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { HostSet } from '../src/balance/host-set.ts';
import { BALANCERS, createBalancer } from '../src/balance/index.ts';
import { mulberry32 } from '../src/rng.ts';
import type { EndpointState } from '../src/types.ts';
import { endpoint, hosts, shares } from './support/endpoints.ts';

const CONFIGS: LoadBalancer[] = [
  { type: 'round_robin' },
  { type: 'least_request', choiceCount: 2 },
  { type: 'random' },
  { type: 'ring_hash', hashHeader: 'x-user', minimumRingSize: 64, maximumRingSize: 8_388_608 },
];

/** h0 healthy, h1 unhealthy, h2 draining, h3 ejected, h4 healthy. */
function mixed(): EndpointState[] {
  return [
    endpoint('h0'),
    endpoint('h1', { health: 'unhealthy' }),
    endpoint('h2', { health: 'draining' }),
    endpoint('h3', { ejectedUntil: 30_000 }),
    endpoint('h4'),
  ];
}

describe('balancer registry', () => {
  it('registers every strategy of the schema by name', () => {
    expect(Object.keys(BALANCERS).sort()).toEqual(['least_request', 'random', 'ring_hash', 'round_robin']);
  });

  it.each(CONFIGS)('$type returns undefined for an empty host list', (config) => {
    expect(createBalancer([], config, mulberry32(1)).pick({ hashKey: 'k' })).toBeUndefined();
  });
});

describe('host set', () => {
  it.each(CONFIGS)('$type skips unhealthy, draining and ejected hosts', (config) => {
    const set = new HostSet(mixed(), config, 0, mulberry32(1));
    const s = shares(set, 2_000);
    expect([...s.keys()].sort()).toEqual(['h0', 'h4']);
    expect(set.usable.map((h) => h.key)).toEqual(['h0', 'h4']);
    expect(set.hosts).toHaveLength(5);
    expect(set.panic).toBe(false);
  });

  it('uses a host again once it is back and the set is invalidated', () => {
    const list = mixed();
    const set = new HostSet(list, { type: 'round_robin' }, 0, mulberry32(1));
    expect(shares(set, 100).has('h3')).toBe(false);
    (list[3] as EndpointState).ejectedUntil = 0;
    (list[1] as EndpointState).health = 'healthy';
    expect(shares(set, 100).has('h3')).toBe(false);
    set.invalidate();
    expect(set.usable.map((h) => h.key)).toEqual(['h0', 'h1', 'h3', 'h4']);
    const s = shares(set, 1_000);
    for (const key of ['h0', 'h1', 'h3', 'h4']) expect(s.get(key)).toBe(0.25);
  });

  it('stops using a host that is ejected once invalidated', () => {
    const list = hosts(3);
    const set = new HostSet(list, { type: 'random' }, 0, mulberry32(1));
    expect(shares(set, 300).size).toBe(3);
    (list[0] as EndpointState).ejectedUntil = 5_000;
    set.invalidate();
    expect([...shares(set, 1_000).keys()].sort()).toEqual(['h1', 'h2']);
  });

  it('keeps its balancer between picks: round robin goes on through the cycle', () => {
    const set = new HostSet(hosts(3), { type: 'round_robin' }, 0, () => 0);
    expect([0, 1, 2, 3].map(() => set.pick({})?.key)).toEqual(['h0', 'h1', 'h2', 'h0']);
  });

  it('balances with the configured strategy: ring hash keeps a key on one host', () => {
    const set = new HostSet(hosts(5), CONFIGS[3] as LoadBalancer, 0, mulberry32(1));
    const host = set.pick({ hashKey: 'session-1' });
    for (let i = 0; i < 50; i++) expect(set.pick({ hashKey: 'session-1' })).toBe(host);
  });

  it('panics below the threshold: 1 usable host of 4 with threshold 50 spreads over all 4 (25 % ±3 points)', () => {
    const list = hosts(4);
    (list[0] as EndpointState).health = 'unhealthy';
    (list[1] as EndpointState).ejectedUntil = 1_000;
    (list[2] as EndpointState).health = 'draining';
    const set = new HostSet(list, { type: 'random' }, 50, mulberry32(3));
    const s = shares(set, 10_000);
    expect(set.panic).toBe(true);
    expect(set.usable.map((h) => h.key)).toEqual(['h3']);
    expect(s.size).toBe(4);
    for (const share of s.values()) expect(Math.abs(share - 0.25)).toBeLessThan(0.03);
  });

  it('does not panic at exactly the threshold: 2 usable hosts of 4 with threshold 50', () => {
    const list = hosts(4);
    (list[0] as EndpointState).health = 'unhealthy';
    (list[1] as EndpointState).ejectedUntil = 1_000;
    const set = new HostSet(list, { type: 'random' }, 50, mulberry32(3));
    expect([...shares(set, 1_000).keys()].sort()).toEqual(['h2', 'h3']);
    expect(set.panic).toBe(false);
  });

  it('leaves panic mode when enough hosts come back', () => {
    const list = hosts(4);
    for (const h of list.slice(0, 3)) h.health = 'unhealthy';
    const set = new HostSet(list, { type: 'round_robin' }, 50, mulberry32(3));
    expect(set.panic).toBe(true);
    for (const h of list.slice(0, 2)) h.health = 'healthy';
    set.invalidate();
    expect(set.panic).toBe(false);
    expect([...shares(set, 300).keys()].sort()).toEqual(['h0', 'h1', 'h3']);
  });

  it('returns undefined when no host is usable and panic mode is off (threshold 0)', () => {
    const list = hosts(3);
    for (const h of list) h.ejectedUntil = 1_000;
    const set = new HostSet(list, { type: 'least_request', choiceCount: 2 }, 0, mulberry32(1));
    expect(set.pick({})).toBeUndefined();
    expect(set.panic).toBe(false);
    expect(set.usable).toEqual([]);
  });

  it('returns undefined without any host, whatever the threshold', () => {
    for (const threshold of [0, 50, 100]) {
      const set = new HostSet([], { type: 'round_robin' }, threshold, mulberry32(1));
      expect(set.pick({})).toBeUndefined();
      expect(set.panic).toBe(false);
    }
  });
});
