import { type ProxyStatus, type RouteRule, RouteRuleReplace, toFieldErrors } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  ackProgress,
  diffRoute,
  formFields,
  formValuesOf,
  placeErrors,
  rebalance,
  replaceBodyOf,
  validateReplace,
} from '../src/features/routes/form.ts';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const RULE: RouteRule = {
  id: 'r1',
  name: 'service-b-canary',
  service: 'service-b',
  priority: 100,
  match: [],
  destinations: [
    { subset: { version: 'v1' }, weight: 90 },
    { subset: { version: 'v2' }, weight: 10 },
  ],
  timeoutMs: 2000,
  retries: {
    attempts: 2,
    perTryTimeoutMs: 500,
    retryOn: ['connect-failure', 'reset', 'gateway-error'],
    retriableStatusCodes: [],
    backoff: { baseIntervalMs: 25, maxIntervalMs: 250 },
  },
  headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] } },
  version: 3,
  createdAt: '2026-11-25T20:00:00.000Z',
  updatedAt: '2026-11-25T20:00:00.000Z',
};

describe('rebalance', () => {
  it('gives the other destination the rest with two', () => {
    expect(rebalance([90, 10], 1, 100)).toEqual([0, 100]);
    expect(rebalance([90, 10], 0, 25)).toEqual([25, 75]);
  });

  it('shares the rest among the others in proportion to their weights', () => {
    expect(rebalance([50, 30, 20], 0, 0)).toEqual([0, 60, 40]);
    expect(rebalance([50, 30, 20], 0, 80)).toEqual([80, 12, 8]);
  });

  it('shares equally when the others were all 0, rounding by largest remainder', () => {
    expect(rebalance([100, 0, 0], 0, 0)).toEqual([0, 50, 50]);
    expect(rebalance([100, 0, 0, 0], 0, 0)).toEqual([0, 34, 33, 33]);
  });

  it('clamps to whole numbers between 0 and 100', () => {
    expect(rebalance([50, 50], 0, 150)).toEqual([100, 0]);
    expect(rebalance([50, 50], 0, -3)).toEqual([0, 100]);
    expect(rebalance([50, 50], 0, 33.6)).toEqual([34, 66]);
    expect(rebalance([50, 50], 0, Number.NaN)).toEqual([0, 100]);
  });

  it('always sums to 100', () => {
    const cases: [number[], number, number][] = [
      [[33, 33, 34], 1, 10],
      [[1, 1, 1, 97], 3, 3],
      [[10, 20, 30, 40], 2, 99],
      [[0, 0, 100], 2, 1],
      [[7, 13, 80], 0, 55],
    ];
    for (const [weights, index, value] of cases) {
      const out = rebalance(weights, index, value);
      expect(sum(out)).toBe(100);
      expect(out[index]).toBe(Math.round(value));
      expect(out.every((w) => Number.isInteger(w) && w >= 0)).toBe(true);
    }
  });

  it('keeps a single destination at 100', () => {
    expect(rebalance([100], 0, 40)).toEqual([100]);
  });
});

describe('replaceBodyOf and validateReplace', () => {
  it('builds a PUT body the schema accepts, with the version the rule was loaded at', () => {
    const body = replaceBodyOf(RULE, { weights: [0, 100], timeoutMs: '3000', retryAttempts: '1' });
    expect(body).not.toHaveProperty('id');
    expect(body).not.toHaveProperty('createdAt');
    expect(body.version).toBe(3);
    const result = validateReplace(body);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.body.destinations.map((d) => d.weight)).toEqual([0, 100]);
      expect(result.body.timeoutMs).toBe(3000);
      expect(result.body.retries.attempts).toBe(1);
      expect(result.body.retries.perTryTimeoutMs).toBe(500);
    }
  });

  it("gives the API's own messages at the API's paths", () => {
    const bad = replaceBodyOf(RULE, { weights: [90, 10], timeoutMs: '-5', retryAttempts: '' });
    const result = validateReplace(bad);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      const expected = RouteRuleReplace.safeParse(bad);
      expect(expected.success).toBe(false);
      if (!expected.success) expect(result.errors).toEqual(toFieldErrors(expected.error));
      expect(result.errors).toContainEqual({ path: 'timeoutMs', message: 'must be at least 1 ms' });
      expect(result.errors).toContainEqual({ path: 'retries.attempts', message: 'must be a number' });
    }
  });

  it('refuses weights that do not sum to 100', () => {
    const result = validateReplace(replaceBodyOf(RULE, { ...formValuesOf(RULE), weights: [80, 10] }));
    expect(result).toEqual({
      ok: false,
      errors: [{ path: 'destinations', message: 'weights must sum to 100, got 90' }],
    });
  });
});

describe('placeErrors', () => {
  const fields = formFields(2);

  it('puts each error on the most specific field it falls within', () => {
    const placed = placeErrors(
      [
        { path: 'timeoutMs', message: 'must be at least 1 ms' },
        { path: 'destinations', message: 'weights must sum to 100, got 90' },
        { path: 'destinations[1].weight', message: 'must be between 0 and 100' },
        { path: 'destinations[1].subset', message: 'same subset as destinations[0]' },
        { path: 'retries.attempts', message: 'must be an integer' },
      ],
      fields,
    );
    expect(placed.byField).toEqual({
      timeoutMs: ['must be at least 1 ms'],
      destinations: ['weights must sum to 100, got 90'],
      'destinations[1].weight': ['must be between 0 and 100'],
      'destinations[1]': ['subset: same subset as destinations[0]'],
      'retries.attempts': ['must be an integer'],
    });
    expect(placed.other).toEqual([]);
  });

  it('keeps errors of fields the form does not show apart', () => {
    const placed = placeErrors(
      [
        { path: 'retries.perTryTimeoutMs', message: 'must not exceed timeoutMs (300)' },
        { path: '', message: 'a JSON body is required' },
        { path: 'timeoutMsX', message: 'is not a known field' },
      ],
      fields,
    );
    expect(placed.byField).toEqual({});
    expect(placed.other).toHaveLength(3);
  });

  it('does not repeat a message', () => {
    const e = { path: 'timeoutMs', message: 'must be at least 1 ms' };
    expect(placeErrors([e, e], fields).byField).toEqual({ timeoutMs: ['must be at least 1 ms'] });
  });
});

describe('diffRoute', () => {
  it('lists the split and each weight that changes, old → new', () => {
    const after = {
      ...RULE,
      destinations: [
        { subset: { version: 'v1' }, weight: 0 },
        { subset: { version: 'v2' }, weight: 100 },
      ],
    };
    expect(diffRoute(RULE, after)).toEqual([
      { field: 'weights', label: 'Split (weights)', from: '90/10', to: '0/100' },
      { field: 'destinations[0].weight', label: 'Weight of version=v1', from: '90', to: '0' },
      { field: 'destinations[1].weight', label: 'Weight of version=v2', from: '10', to: '100' },
    ]);
  });

  it('lists timeout and retry attempts', () => {
    const after = { ...RULE, timeoutMs: 2500, retries: { ...RULE.retries, attempts: 0 } };
    expect(diffRoute(RULE, after)).toEqual([
      { field: 'timeoutMs', label: 'Timeout (ms)', from: '2000', to: '2500' },
      { field: 'retries.attempts', label: 'Retry attempts', from: '2', to: '0' },
    ]);
  });

  it('is empty when nothing changes', () => {
    expect(diffRoute(RULE, { ...RULE })).toEqual([]);
  });

  it('shows added and removed destinations', () => {
    const after = {
      ...RULE,
      destinations: [
        { subset: { version: 'v1' }, weight: 50 },
        { subset: { version: 'v3' }, weight: 50 },
      ],
    };
    expect(diffRoute(RULE, after)).toEqual([
      { field: 'weights', label: 'Split (weights)', from: '90/10', to: '50/50' },
      { field: 'destinations[0].weight', label: 'Weight of version=v1', from: '90', to: '50' },
      { field: 'destinations[1].weight', label: 'Weight of version=v3', from: '–', to: '50' },
      { field: 'destinations', label: 'Weight of version=v2', from: '10', to: '–' },
    ]);
  });
});

describe('ackProgress', () => {
  const proxy = (instance: string, status: ProxyStatus['status'], ackedRevision: number | null) =>
    ({ node: { instance }, status, ackedRevision }) as unknown as ProxyStatus;

  it('counts the connected proxies at or past the revision', () => {
    const proxies = [
      proxy('a', 'SYNCED', 12),
      proxy('b', 'SYNCED', 13),
      proxy('c', 'STALE', 11),
      proxy('d', 'NACKED', null),
      proxy('e', 'DISCONNECTED', 5),
    ];
    expect(ackProgress(proxies, 12)).toEqual({ acked: 2, connected: 4, done: false });
    expect(ackProgress(proxies.slice(0, 2), 12)).toEqual({ acked: 2, connected: 2, done: true });
  });

  it('is not done with no connected proxy', () => {
    expect(ackProgress([proxy('e', 'DISCONNECTED', 20)], 12)).toEqual({
      acked: 0,
      connected: 0,
      done: false,
    });
  });
});
