import { type RouteRule, RouteRuleReplace, RouteRuleSpec, toFieldErrors } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  addDestination,
  diffNewRoute,
  diffRoute,
  formFields,
  formValuesOf,
  newRouteOf,
  type RouteFormValues,
  rebalance,
  removeDestination,
  replaceBodyOf,
  validateCreate,
  validateReplace,
} from '../src/features/routes/form.ts';
import { placeErrors } from '../src/features/rules/form.ts';

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

const withWeights = (weights: number[], patch: Partial<RouteFormValues> = {}): RouteFormValues => {
  const values = formValuesOf(RULE);
  return {
    ...values,
    ...patch,
    destinations: values.destinations.map((d, i) => ({ ...d, weight: weights[i] ?? d.weight })),
  };
};

describe('formValuesOf', () => {
  it('holds every field of the rule as the inputs show it', () => {
    const values = formValuesOf(RULE);
    expect(values.destinations).toEqual([
      { subset: 'version=v1', weight: 90 },
      { subset: 'version=v2', weight: 10 },
    ]);
    expect(values.timeoutMs).toBe('2000');
    expect(values.retries).toEqual({
      attempts: '2',
      perTryTimeoutMs: '500',
      retryOn: ['connect-failure', 'reset', 'gateway-error'],
      retriableStatusCodes: '',
      baseIntervalMs: '25',
      maxIntervalMs: '250',
    });
    expect(values.delay.on).toBe(false);
    expect(values.abort.on).toBe(false);
    expect(values.mirror.on).toBe(false);
  });

  it('round-trips a rule with every part set', () => {
    const full = RouteRuleSpec.parse({
      name: 'full',
      service: 'svc',
      priority: 5,
      match: [
        {
          path: { regex: '/api/.*' },
          methods: ['GET', 'POST'],
          headers: [
            { name: 'x-user', exact: 'alice' },
            { name: 'x-trace', regex: '[0-9]+' },
            { name: 'x-debug', present: true },
            { name: 'x-internal', present: false },
          ],
        },
        { path: { prefix: '/v2' } },
      ],
      destinations: [
        { subset: { version: 'v1', zone: 'a' }, weight: 70 },
        { subset: {}, weight: 30 },
      ],
      timeoutMs: 3000,
      retries: {
        attempts: 3,
        perTryTimeoutMs: 1000,
        retryOn: ['retriable-status-codes'],
        retriableStatusCodes: [500, 503],
        backoff: { baseIntervalMs: 10, maxIntervalMs: 100 },
      },
      fault: { delay: { fixedDelayMs: 200, percent: 5 }, abort: { httpStatus: 418, percent: 1.5 } },
      mirror: { subset: { version: 'v2' }, percent: 10 },
      headers: {
        request: { set: { 'x-env': 'prod' }, remove: ['x-debug', 'cookie'] },
        response: { set: {}, remove: ['server'] },
      },
    });
    const result = validateCreate('svc', formValuesOf(full));
    expect(result).toEqual({ ok: true, body: full });
  });
});

describe('replaceBodyOf and validateReplace', () => {
  it('builds a PUT body the schema accepts, with the version the rule was loaded at', () => {
    const values = withWeights([0, 100]);
    values.timeoutMs = '3000';
    values.retries = { ...values.retries, attempts: '1' };
    const body = replaceBodyOf(RULE, values);
    expect(body).not.toHaveProperty('id');
    expect(body).not.toHaveProperty('createdAt');
    expect(body.version).toBe(3);
    const result = validateReplace(RULE, values);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.body.destinations.map((d) => d.weight)).toEqual([0, 100]);
      expect(result.body.timeoutMs).toBe(3000);
      expect(result.body.retries.attempts).toBe(1);
      expect(result.body.retries.perTryTimeoutMs).toBe(500);
      expect(result.body.name).toBe(RULE.name);
    }
  });

  it("gives the API's own messages at the API's paths", () => {
    const values = withWeights([90, 10], { timeoutMs: '-5' });
    values.retries = { ...values.retries, attempts: '' };
    const result = validateReplace(RULE, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      const expected = RouteRuleReplace.safeParse(replaceBodyOf(RULE, values));
      expect(expected.success).toBe(false);
      if (!expected.success) expect(result.errors).toEqual(toFieldErrors(expected.error));
      expect(result.errors).toContainEqual({ path: 'timeoutMs', message: 'must be at least 1 ms' });
      expect(result.errors).toContainEqual({ path: 'retries.attempts', message: 'must be a number' });
    }
  });

  it('refuses weights that do not sum to 100', () => {
    const result = validateReplace(RULE, withWeights([80, 10]));
    expect(result).toEqual({
      ok: false,
      errors: [{ path: 'destinations', message: 'weights must sum to 100, got 90' }],
    });
  });

  it('refuses a bad regex, retries out of range and a subset not written key=value', () => {
    const values = formValuesOf(RULE);
    values.matches = [{ pathKind: 'regex', path: '(', methods: [], headers: [] }];
    values.retries = { ...values.retries, attempts: '11' };
    values.destinations = [{ subset: 'v1', weight: 100 }];
    const result = validateReplace(RULE, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toContainEqual({
        path: 'match[0].path.regex',
        message: 'is not a valid regular expression',
      });
      expect(result.errors).toContainEqual({
        path: 'retries.attempts',
        message: 'must be between 0 and 10',
      });
      expect(result.errors).toContainEqual({
        path: 'destinations[0].subset',
        message: 'write labels as key=value, separated by commas',
      });
    }
  });

  it('leaves the fault and mirror out when they are off, and checks them when on', () => {
    const values = formValuesOf(RULE);
    const off = validateReplace(RULE, values);
    expect(off.ok && off.body.fault).toBeUndefined();
    values.abort = { on: true, httpStatus: '200', percent: '100' };
    values.mirror = { on: true, subset: 'version=v2', percent: '150' };
    const on = validateReplace(RULE, values);
    expect(on.ok).toBe(false);
    if (!on.ok) {
      expect(on.errors).toContainEqual({
        path: 'fault.abort.httpStatus',
        message: 'must be between 400 and 599',
      });
      expect(on.errors).toContainEqual({ path: 'mirror.percent', message: 'must be between 0 and 100' });
    }
  });

  it('refuses headers the proxy manages', () => {
    const values = formValuesOf(RULE);
    values.headers = { ...values.headers, request: { set: [{ name: 'Host', value: 'x' }], remove: '' } };
    const result = validateReplace(RULE, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map((e) => e.path)).toEqual(['headers.request.set.Host']);
      expect(placeErrors(result.errors, formFields(values)).byField['headers.request.set']).toHaveLength(1);
    }
  });
});

describe('creating', () => {
  it('starts from the API defaults for the service and posts a spec without version', () => {
    const rule = newRouteOf('service-b');
    expect(rule.service).toBe('service-b');
    expect(rule.name).toBe('service-b-route');
    const values = formValuesOf(rule);
    values.name = 'b-fault';
    values.priority = '10';
    values.matches = [
      {
        pathKind: 'none',
        path: '',
        methods: [],
        headers: [{ name: 'x-request-id', kind: 'exact', value: 'e2e' }],
      },
    ];
    values.abort = { on: true, httpStatus: '418', percent: '100' };
    const result = validateCreate('service-b', values);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.body).not.toHaveProperty('version');
      expect(result.body.match).toEqual([{ headers: [{ name: 'x-request-id', exact: 'e2e' }] }]);
      expect(result.body.fault).toEqual({ abort: { httpStatus: 418, percent: 100 } });
      const diff = diffNewRoute(result.body);
      expect(diff[0]).toEqual({ field: 'weights', label: 'Split (weights)', from: '–', to: '100' });
      expect(diff.filter((line) => line.to === 'none')).toEqual([]);
      expect(diff).toContainEqual({ field: 'name', label: 'Name', from: '–', to: 'b-fault' });
      expect(diff).toContainEqual({
        field: 'match[0].headers[0].exact',
        label: 'Match 1: header 1 is',
        from: '–',
        to: 'e2e',
      });
      expect(diff).toContainEqual({
        field: 'fault.abort.httpStatus',
        label: 'Fault: abort status',
        from: '–',
        to: '418',
      });
    }
  });

  it('refuses a name that is not a DNS label', () => {
    const values = formValuesOf(newRouteOf('svc'));
    values.name = 'Bad_Name';
    const result = validateCreate('svc', values);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toEqual(['name']);
  });
});

describe('adding and removing destinations', () => {
  it('adds at weight 0 and gives a removed weight to the others', () => {
    const added = addDestination([{ subset: 'version=v1', weight: 100 }]);
    expect(added).toEqual([
      { subset: 'version=v1', weight: 100 },
      { subset: '', weight: 0 },
    ]);
    const three = [
      { subset: 'a=1', weight: 50 },
      { subset: 'a=2', weight: 30 },
      { subset: 'a=3', weight: 20 },
    ];
    expect(removeDestination(three, 0)).toEqual([
      { subset: 'a=2', weight: 60 },
      { subset: 'a=3', weight: 40 },
    ]);
    expect(removeDestination([{ subset: '', weight: 100 }], 0)).toEqual([{ subset: '', weight: 100 }]);
  });
});

describe('placeErrors on the route form', () => {
  const fields = formFields(formValuesOf(RULE));

  it('puts each error on the most specific field it falls within', () => {
    const placed = placeErrors(
      [
        { path: 'timeoutMs', message: 'must be at least 1 ms' },
        { path: 'destinations', message: 'weights must sum to 100, got 90' },
        { path: 'destinations[1].weight', message: 'must be between 0 and 100' },
        { path: 'destinations[1].subset.version', message: 'label values must be at most 63 characters' },
        { path: 'retries.attempts', message: 'must be an integer' },
      ],
      fields,
    );
    expect(placed.byField).toEqual({
      timeoutMs: ['must be at least 1 ms'],
      destinations: ['weights must sum to 100, got 90'],
      'destinations[1].weight': ['must be between 0 and 100'],
      'destinations[1].subset': ['version: label values must be at most 63 characters'],
      'retries.attempts': ['must be an integer'],
    });
    expect(placed.other).toEqual([]);
  });

  it('places header match errors on their row', () => {
    const values = formValuesOf(RULE);
    values.matches = [
      { pathKind: 'none', path: '', methods: [], headers: [{ name: '', kind: 'exact', value: '' }] },
    ];
    const placed = placeErrors(
      [{ path: 'match[0].headers[0].name', message: 'must not be empty' }],
      formFields(values),
    );
    expect(placed.byField).toEqual({ 'match[0].headers[0].name': ['must not be empty'] });
    const one = placeErrors(
      [{ path: 'match[0].headers[0]', message: 'a header match needs exactly one of exact, regex, present' }],
      formFields(values),
    );
    expect(Object.keys(one.byField)).toEqual(['match[0].headers[0]']);
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

describe('diffRoute beyond the weights', () => {
  it('lists each other field that changes, labelled, in the rule order', () => {
    const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...spec } = RULE;
    const after = RouteRuleSpec.parse({
      ...spec,
      match: [{ path: { prefix: '/api' }, methods: ['GET'] }],
      retries: { ...RULE.retries, retryOn: ['5xx'], perTryTimeoutMs: undefined },
      fault: { delay: { fixedDelayMs: 100, percent: 50 } },
      mirror: { subset: { version: 'v2' }, percent: 10 },
      headers: { request: { set: { 'x-env': 'prod' } }, response: { remove: ['server'] } },
    });
    expect(diffRoute(RULE, after)).toEqual([
      { field: 'match[0].path.prefix', label: 'Match 1: path starts with', from: '–', to: '/api' },
      { field: 'match[0].methods', label: 'Match 1: methods', from: '–', to: 'GET' },
      {
        field: 'retries.retryOn',
        label: 'Retry on',
        from: 'connect-failure, reset, gateway-error',
        to: '5xx',
      },
      { field: 'fault.delay.fixedDelayMs', label: 'Fault: delay (ms)', from: '–', to: '100' },
      { field: 'fault.delay.percent', label: 'Fault: delayed requests (%)', from: '–', to: '50' },
      { field: 'mirror.subset', label: 'Mirror: subset', from: '–', to: 'version=v2' },
      { field: 'mirror.percent', label: 'Mirror: mirrored requests (%)', from: '–', to: '10' },
      { field: 'headers.request.set', label: 'Request headers set', from: 'none', to: 'x-env=prod' },
      { field: 'headers.response.remove', label: 'Response headers removed', from: 'none', to: 'server' },
      { field: 'retries.perTryTimeoutMs', label: 'Timeout per try (ms)', from: '500', to: '–' },
    ]);
  });
});
