import { describe, expect, it } from 'vitest';
import { edgeView, rpsText } from '../src/features/topology/live.ts';
import {
  edgeRulePath,
  endpointKey,
  flowSeconds,
  labelChoices,
  normalizeSearch,
  parseLabelFilter,
  searchMatches,
  servicesMatching,
} from '../src/features/topology/model.ts';
import { formatRps } from '../src/lib/format.ts';
import { trafficEdge } from './support/topology.ts';

const services: { name: string; labels: Record<string, string> }[] = [
  { name: 'ingress', labels: { tier: 'edge' } },
  { name: 'service-a', labels: { tier: 'frontend', team: 'web' } },
  { name: 'service-b', labels: { tier: 'backend', team: 'web' } },
  { name: 'service-c', labels: { tier: 'data' } },
];

describe('label filter', () => {
  it('offers every key=value once, sorted', () => {
    expect(labelChoices(services)).toEqual([
      'team=web',
      'tier=backend',
      'tier=data',
      'tier=edge',
      'tier=frontend',
    ]);
  });

  it('keeps the services with that label, and everything without a filter', () => {
    expect([...(servicesMatching(services, parseLabelFilter('team=web')) ?? [])]).toEqual([
      'service-a',
      'service-b',
    ]);
    expect(servicesMatching(services, parseLabelFilter(''))).toBeUndefined();
    expect(servicesMatching(services, parseLabelFilter('tier=none'))?.size).toBe(0);
  });

  it('splits on the first "=", so values may hold one', () => {
    expect(parseLabelFilter('k=a=b')).toEqual({ key: 'k', value: 'a=b' });
    expect(parseLabelFilter('=x')).toBeUndefined();
  });
});

describe('search', () => {
  it('matches names containing the text in any case, in graph order', () => {
    const names = ['ingress', 'service-a', 'service-b', 'service-c'];
    expect(searchMatches(names, normalizeSearch('  Service-C '))).toEqual(['service-c']);
    expect(searchMatches(names, normalizeSearch('SERVICE'))).toEqual(['service-a', 'service-b', 'service-c']);
    expect(searchMatches(names, normalizeSearch('   '))).toEqual([]);
  });
});

describe('flow speed', () => {
  it('does not move without traffic and gets faster with the rate, on a log scale, within bounds', () => {
    expect(flowSeconds(0)).toBeNull();
    expect(flowSeconds(Number.NaN)).toBeNull();
    const rates = [0.01, 0.1, 1, 10, 100, 1000, 1e6];
    const seconds = rates.map((r) => flowSeconds(r) as number);
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]).toBeLessThanOrEqual(seconds[i - 1] as number);
    expect(seconds[0]).toBe(2.4);
    expect(seconds.at(-1)).toBe(0.35);
    expect(flowSeconds(10)).toBeLessThan(flowSeconds(1) as number);
  });

  it('does not change for small changes of the rate', () => {
    expect(flowSeconds(20)).toBe(flowSeconds(21));
  });
});

describe('links and keys', () => {
  it('links an edge to the rule forms with the intent', () => {
    expect(edgeRulePath('service-b', 'service-c', 'breaker')).toBe(
      '/rules/edge?source=service-b&destination=service-c&intent=breaker',
    );
  });

  it('writes endpoints as the proxy names them in ejections', () => {
    expect(endpointKey('10.0.0.1', 8080)).toBe('10.0.0.1:8080');
    expect(endpointKey('::1', 8080)).toBe('[::1]:8080');
  });
});

describe('live views', () => {
  it('format rates exactly as the rest of the console does', () => {
    for (const rps of [0, 0.04, 0.05, 1, 9.94, 9.96, 10, 10.5, 99.5, 999.4, 999.5, 1000, 1234.6, 123456]) {
      expect(rpsText(rps)).toBe(formatRps(rps));
    }
  });

  it('give an edge the same key when what it shows is the same', () => {
    const e = trafficEdge('a', 'b', { rps: 10.2, p99: 12.2 });
    expect(edgeView({ ...e, rps: 10.3 }).key).toBe(edgeView(e).key);
    expect(edgeView({ ...e, rps: 30 }).key).not.toBe(edgeView(e).key);
    expect(edgeView({ ...e, breakerOpen: true, overflows: 2 }).look).not.toBe(edgeView(e).look);
    expect(edgeView({ ...e, idle: true }).flowSeconds).toBeNull();
  });
});
