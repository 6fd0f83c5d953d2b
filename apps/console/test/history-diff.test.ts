import type { MeshConfig, RouteRule, Service } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { diffConfigs, diffLines, documentOf, relativeTime } from '../src/features/history/diff.ts';

const side = (rows: ReturnType<typeof diffLines>, which: 'left' | 'right') =>
  rows.map((r) => (r[which] ? `${r[which].changed ? '*' : ' '}${r[which].number}:${r[which].text}` : null));

describe('diffLines', () => {
  it('aligns equal documents line for line, nothing changed', () => {
    const rows = diffLines(['a', 'b'], ['a', 'b']);
    expect(side(rows, 'left')).toEqual([' 1:a', ' 2:b']);
    expect(side(rows, 'right')).toEqual([' 1:a', ' 2:b']);
  });

  it('puts a replaced line opposite its replacement, both marked', () => {
    const rows = diffLines(['{', '  "weight": 90', '}'], ['{', '  "weight": 0', '}']);
    expect(rows).toHaveLength(3);
    expect(side(rows, 'left')).toEqual([' 1:{', '*2:  "weight": 90', ' 3:}']);
    expect(side(rows, 'right')).toEqual([' 1:{', '*2:  "weight": 0', ' 3:}']);
  });

  it('leaves the other side empty for lines only one document has, and numbers each side on its own', () => {
    const rows = diffLines(['a', 'x', 'b', 'c'], ['a', 'b', 'y', 'z', 'c']);
    expect(side(rows, 'left')).toEqual([' 1:a', '*2:x', ' 3:b', null, null, ' 4:c']);
    expect(side(rows, 'right')).toEqual([' 1:a', null, ' 2:b', '*3:y', '*4:z', ' 5:c']);
  });

  it('handles empty documents (a resource only on one side)', () => {
    expect(side(diffLines([], ['a', 'b']), 'right')).toEqual(['*1:a', '*2:b']);
    expect(side(diffLines([], ['a', 'b']), 'left')).toEqual([null, null]);
    expect(diffLines([], [])).toEqual([]);
  });

  it('keeps the longest run of common lines', () => {
    const left = ['a', 'b', 'c', 'd', 'e'];
    const right = ['b', 'c', 'd', 'a', 'e'];
    const common = diffLines(left, right).filter((r) => r.left && r.right && !r.left.changed);
    expect(common.map((r) => r.left?.text)).toEqual(['b', 'c', 'd', 'e']);
  });
});

const meta = {
  id: 'x',
  version: 3,
  createdAt: '2026-11-25T00:00:00.000Z',
  updatedAt: '2026-11-25T00:00:00.000Z',
};

function service(name: string, port = 8080): Service {
  return { name, protocol: 'http', port, labels: {}, description: '', ...meta };
}

function canary(v1: number, v2: number, extra: Partial<RouteRule> = {}): RouteRule {
  return {
    name: 'service-b-canary',
    service: 'service-b',
    priority: 100,
    match: [],
    destinations: [
      { subset: { version: 'v1' }, weight: v1 },
      { subset: { version: 'v2' }, weight: v2 },
    ],
    ...extra,
    ...meta,
  } as RouteRule;
}

function config(parts: Partial<MeshConfig>): MeshConfig {
  return { revision: 1, services: [], routes: [], policies: [], authorizationPolicies: [], ...parts };
}

describe('documentOf', () => {
  it('shows the resource as JSON without id, version and timestamps', () => {
    const doc = documentOf(service('service-a'));
    expect(doc.join('\n')).not.toMatch(/"id"|"version"|createdAt|updatedAt/);
    expect(JSON.parse(doc.join('\n'))).toEqual({
      name: 'service-a',
      protocol: 'http',
      port: 8080,
      labels: {},
      description: '',
    });
  });
});

describe('diffConfigs', () => {
  it('lists resources added, removed and changed since the revision, ignoring bookkeeping fields', () => {
    const then = config({
      services: [service('service-a'), service('service-b'), service('gone')],
      routes: [canary(90, 10)],
    });
    const now = config({
      services: [service('service-a'), { ...service('service-b'), version: 9 }, service('newer', 9090)],
      routes: [{ ...canary(0, 100), version: 7 }],
    });
    const diffs = diffConfigs(then, now);
    expect(diffs.map((d) => [d.kind, d.name, d.change])).toEqual([
      ['service', 'gone', 'removed'],
      ['service', 'newer', 'added'],
      ['route', 'service-b-canary', 'changed'],
    ]);
    const route = diffs[2];
    const changedLeft = route?.rows.filter((r) => r.left?.changed).map((r) => r.left?.text.trim());
    const changedRight = route?.rows.filter((r) => r.right?.changed).map((r) => r.right?.text.trim());
    expect(changedLeft).toEqual(['"weight": 90', '"weight": 10']);
    expect(changedRight).toEqual(['"weight": 0', '"weight": 100']);
    expect(diffs[0]?.rows.every((r) => r.right === null && r.left?.changed)).toBe(true);
  });

  it('compares authorization policies too, and reads a revision stored before them as having none', () => {
    const deny = {
      name: 'deny-a',
      destination: 'service-b',
      action: 'deny' as const,
      rules: [{ from: [{ principal: 'service:service-a' }] }],
      dryRun: false,
      id: 'z',
      version: 1,
      createdAt: '2026-11-25T20:00:00.000Z',
      updatedAt: '2026-11-25T20:00:00.000Z',
    };
    const { authorizationPolicies: _none, ...old } = config({});
    const diffs = diffConfigs(old, config({ authorizationPolicies: [deny] }));
    expect(diffs.map((d) => [d.kind, d.name, d.change])).toEqual([
      ['authorization-policy', 'deny-a', 'added'],
    ]);
  });

  it('finds no difference between a configuration and itself', () => {
    const c = config({ services: [service('a')], routes: [canary(90, 10)] });
    expect(diffConfigs(c, structuredClone(c))).toEqual([]);
  });
});

describe('relativeTime', () => {
  const now = Date.parse('2026-11-25T12:00:00.000Z');
  it.each([
    ['2026-11-25T11:59:58.000Z', 'just now'],
    ['2026-11-25T11:59:18.000Z', '42 s ago'],
    ['2026-11-25T11:55:00.000Z', '5 min ago'],
    ['2026-11-25T09:00:00.000Z', '3 h ago'],
    ['2026-11-23T12:00:00.000Z', '2 d ago'],
  ])('%s is %s', (iso, text) => {
    expect(relativeTime(iso, now)).toBe(text);
  });
});
