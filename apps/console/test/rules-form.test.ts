import { type ProxyStatus, ServiceSpec } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  ackProgress,
  affectedProxies,
  diffFields,
  failureOf,
  flatten,
  labelOf,
  listOf,
  numberOf,
  optionalNumberOf,
  parseSubset,
  placeErrors,
} from '../src/features/rules/form.ts';
import { ApiError } from '../src/lib/api.ts';

const proxy = (
  service: string,
  instance: string,
  status: ProxyStatus['status'],
  ackedRevision: number | null,
) => ({ node: { service, instance }, status, ackedRevision }) as unknown as ProxyStatus;

describe('inputs as the API gets them', () => {
  it('sends a cleared required number as null, so the schema refuses it, and leaves an optional one out', () => {
    expect(numberOf('')).toBeNull();
    expect(numberOf(' 12 ')).toBe(12);
    expect(Number.isNaN(numberOf('1e'))).toBe(true);
    expect(optionalNumberOf('')).toBeUndefined();
    expect(optionalNumberOf('7')).toBe(7);
  });

  it('reads lists and label selectors', () => {
    expect(listOf(' a, ,b ,c')).toEqual(['a', 'b', 'c']);
    expect(parseSubset('version=v2, zone = a')).toEqual({ subset: { version: 'v2', zone: 'a' } });
    expect(parseSubset('')).toEqual({ subset: {} });
    expect(parseSubset('version')).toEqual({ error: 'write labels as key=value, separated by commas' });
    expect(parseSubset('=v2')).toEqual({ error: 'write labels as key=value, separated by commas' });
  });
});

describe('placeErrors', () => {
  const fields = ['timeoutMs', 'destinations', 'destinations[0]', 'destinations[0].weight'];

  it('puts each error on the most specific field it falls within', () => {
    const placed = placeErrors(
      [
        { path: 'destinations[0].subset', message: 'same subset as destinations[1]' },
        { path: 'destinations[0].weight', message: 'must be an integer' },
      ],
      fields,
    );
    expect(placed.byField).toEqual({
      'destinations[0]': ['subset: same subset as destinations[1]'],
      'destinations[0].weight': ['must be an integer'],
    });
  });

  it('keeps errors of fields the form does not show apart', () => {
    const placed = placeErrors(
      [
        { path: '', message: 'a JSON body is required' },
        { path: 'timeoutMsX', message: 'is not a known field' },
      ],
      fields,
    );
    expect(placed.byField).toEqual({});
    expect(placed.other).toHaveLength(2);
  });

  it('does not repeat a message', () => {
    const e = { path: 'timeoutMs', message: 'must be at least 1 ms' };
    expect(placeErrors([e, e], fields).byField).toEqual({ timeoutMs: ['must be at least 1 ms'] });
  });
});

describe('failureOf', () => {
  const problem = (code: string, extra: object = {}) => ({
    type: 'about:blank',
    title: 't',
    status: 409,
    detail: 'route "r" is at version 4, not 3',
    instance: '/api/v1/routes/r',
    code,
    ...extra,
  });

  it('tells a version conflict, with the current version', () => {
    const error = new ApiError(
      'x',
      409,
      problem('TRELLIS_ERR_VERSION_CONFLICT', { current: { version: 4 } }) as never,
    );
    expect(failureOf(error)).toEqual({
      kind: 'conflict',
      message: 'route "r" is at version 4, not 3',
      currentVersion: 4,
    });
  });

  it('gives field errors of a problem to the fields, anything else as a message', () => {
    const errors = [{ path: 'name', message: 'is already taken' }];
    expect(
      failureOf(new ApiError('x', 409, problem('TRELLIS_ERR_ALREADY_EXISTS', { errors }) as never)),
    ).toEqual({
      kind: 'fields',
      errors,
    });
    expect(failureOf(new ApiError('the control plane is unreachable', 0))).toEqual({
      kind: 'message',
      message: 'the control plane is unreachable',
    });
  });

  it('tells a refusal for the role apart from a CSRF refusal', () => {
    expect(
      failureOf(new ApiError('this needs the editor role', 403, undefined, 'TRELLIS_ERR_FORBIDDEN')),
    ).toEqual({ kind: 'forbidden', message: 'this needs the editor role' });
    expect(failureOf(new ApiError('bad token', 403, undefined, 'TRELLIS_ERR_CSRF'))).toEqual({
      kind: 'message',
      message: 'bad token',
    });
  });
});

describe('flatten and diffFields', () => {
  const labels = { 'a.b': 'A B', 'list[].x': 'Item #: x', tags: 'Tags', sel: 'Selector' };

  it('names each field by its path; plain lists and maps as one field', () => {
    expect(
      flatten(
        { a: { b: 1, c: [] }, list: [{ x: 'p' }, { x: 'q' }], tags: ['t1', 't2'], sel: { k: 'v' }, e: {} },
        {
          maps: ['sel'],
        },
      ),
    ).toEqual(
      new Map([
        ['a.b', '1'],
        ['a.c', 'none'],
        ['list[0].x', 'p'],
        ['list[1].x', 'q'],
        ['tags', 't1, t2'],
        ['sel', 'k=v'],
        ['e', 'none'],
      ]),
    );
  });

  it('labels a field with its index numbers, the path when it has no label', () => {
    expect(labelOf('list[1].x', labels)).toBe('Item 2: x');
    expect(labelOf('zzz', labels)).toBe('zzz');
  });

  it('lists changed, added and removed fields, skipping metadata', () => {
    const before = { version: 3, a: { b: 1 }, list: [{ x: 'p' }, { x: 'q' }] };
    const after = { version: 4, a: { b: 2 }, list: [{ x: 'p' }], tags: ['t'] };
    expect(diffFields(before, after, { labels, skip: ['version'] })).toEqual([
      { field: 'a.b', label: 'A B', from: '1', to: '2' },
      { field: 'tags', label: 'Tags', from: '–', to: 't' },
      { field: 'list[1].x', label: 'Item 2: x', from: 'q', to: '–' },
    ]);
    expect(diffFields(before, { ...before }, { labels })).toEqual([]);
    // An empty list or map is nothing, as a missing one is.
    expect(diffFields({ a: { c: [] } }, { a: {}, tags: [] }, { labels })).toEqual([]);
  });
});

describe('affectedProxies', () => {
  const services = [
    ServiceSpec.parse({ name: 'ingress', port: 80, dependencies: ['service-a'] }),
    ServiceSpec.parse({ name: 'service-a', port: 80, dependencies: ['service-b'] }),
    ServiceSpec.parse({ name: 'service-b', port: 80, dependencies: ['service-c'] }),
    ServiceSpec.parse({ name: 'service-c', port: 80, dependencies: [] }),
  ];
  const proxies = [
    proxy('ingress', 'ingress-1', 'SYNCED', 1),
    proxy('service-a', 'a-1', 'SYNCED', 1),
    proxy('service-b', 'b-v1-1', 'SYNCED', 1),
    proxy('service-b', 'b-v2-1', 'STALE', 1),
    proxy('service-c', 'c-1', 'SYNCED', 1),
    proxy('service-c', 'c-2', 'SYNCED', 1),
    proxy('service-c', 'c-3', 'DISCONNECTED', 1),
  ];

  it("counts the connected proxies of the service and of its callers, by the control plane's scoping", () => {
    expect(affectedProxies(services, proxies, 'service-c')).toEqual({
      proxies: 4,
      services: ['service-b', 'service-c'],
    });
    expect(affectedProxies(services, proxies, 'service-a')).toEqual({
      proxies: 2,
      services: ['ingress', 'service-a'],
    });
  });

  it('counts every proxy of a service that declares no dependencies', () => {
    const open = [...services, ServiceSpec.parse({ name: 'legacy', port: 80 })];
    expect(affectedProxies(open, [...proxies, proxy('legacy', 'l-1', 'SYNCED', 1)], 'service-c')).toEqual({
      proxies: 5,
      services: ['legacy', 'service-b', 'service-c'],
    });
  });
});

describe('ackProgress', () => {
  it('counts the connected proxies at or past the revision', () => {
    const proxies = [
      proxy('s', 'a', 'SYNCED', 12),
      proxy('s', 'b', 'SYNCED', 13),
      proxy('s', 'c', 'STALE', 11),
      proxy('s', 'd', 'NACKED', null),
      proxy('s', 'e', 'DISCONNECTED', 5),
    ];
    expect(ackProgress(proxies, 12)).toEqual({ acked: 2, connected: 4, done: false });
    expect(ackProgress(proxies.slice(0, 2), 12)).toEqual({ acked: 2, connected: 2, done: true });
  });

  it('is not done with no connected proxy', () => {
    expect(ackProgress([proxy('s', 'e', 'DISCONNECTED', 20)], 12)).toEqual({
      acked: 0,
      connected: 0,
      done: false,
    });
  });
});
