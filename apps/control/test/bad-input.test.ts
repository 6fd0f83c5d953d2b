/**
 * Hostile and mistaken input: every case gets the right 4xx as problem+json with a stable code — never a 500 —
 * and nothing is written (the mesh revision does not move).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let t: TestControl;
beforeAll(async () => {
  t = await testControl({ bodyLimitBytes: 64 * 1024 });
  const make = (url: string, body: unknown) =>
    t.app.inject({
      method: 'POST',
      url,
      payload: JSON.stringify(body),
      headers: { ...bearer(), 'content-type': 'application/json' },
    });
  await make('/api/v1/services', { name: 'known', port: 80 });
  await make('/api/v1/services', { name: 'raw-tcp', port: 5432, protocol: 'tcp' });
  await make('/api/v1/routes', { name: 'known-route', service: 'known' });
});
afterAll(() => t.close());

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  body?: string;
  contentType?: string;
  status: number;
  code: string;
  path?: string;
  message?: string | RegExp;
}

const json = (value: unknown) => JSON.stringify(value);
const huge = 'x'.repeat(100 * 1024);
const DEPTH = 10_000;
const deepLabels = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`;

const cases: Case[] = [
  {
    name: 'malformed JSON',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name": ',
    status: 400,
    code: 'TRELLIS_ERR_MALFORMED_JSON',
  },
  {
    name: 'JSON with trailing garbage',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"a","port":1} x',
    status: 400,
    code: 'TRELLIS_ERR_MALFORMED_JSON',
  },
  {
    name: 'wrong content type',
    method: 'POST',
    url: '/api/v1/services',
    body: 'name=a',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'text/plain body',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'a', port: 1 }),
    contentType: 'text/plain',
    status: 415,
    code: 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'missing body',
    method: 'POST',
    url: '/api/v1/services',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
  },
  {
    name: 'body is an array',
    method: 'POST',
    url: '/api/v1/services',
    body: '[]',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
  },
  {
    name: 'body is null',
    method: 'POST',
    url: '/api/v1/services',
    body: 'null',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
  },
  {
    name: 'body is a string',
    method: 'POST',
    url: '/api/v1/services',
    body: '"svc"',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
  },
  {
    name: 'oversized body',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'big', port: 1, description: huge }),
    status: 413,
    code: 'TRELLIS_ERR_PAYLOAD_TOO_LARGE',
  },
  {
    name: 'deeply nested body',
    method: 'POST',
    url: '/api/v1/services',
    body: `{"name":"deep","port":1,"labels":${deepLabels}}`,
    status: 400,
    code: 'TRELLIS_ERR_TOO_DEEP',
    message: /more than 64 levels deep/,
  },
  {
    name: '__proto__ key',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"p","port":1,"__proto__":{"admin":true}}',
    status: 400,
    code: 'TRELLIS_ERR_MALFORMED_JSON',
    message: /__proto__/,
  },
  {
    name: 'constructor.prototype key',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"p","port":1,"constructor":{"prototype":{"x":1}}}',
    status: 400,
    code: 'TRELLIS_ERR_MALFORMED_JSON',
  },
  {
    name: 'unknown field',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'a', port: 1, replicas: 3 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'replicas',
    message: 'is not a known field',
  },
  {
    name: 'wrong type',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'a', port: '80' }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'port',
    message: 'must be a number',
  },
  {
    name: 'missing required field',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'a' }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'port',
    message: 'is required',
  },
  {
    name: 'invalid name',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'Not_A_Label', port: 1 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'name',
  },
  {
    name: 'unicode name',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'sërvice', port: 1 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'name',
  },
  {
    name: 'lone surrogate in description',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"surrogate","port":1,"description":"\\ud800"}',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'description',
  },
  {
    name: 'NUL in description',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"nul","port":1,"description":"a\\u0000b"}',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'description',
  },
  {
    name: 'port out of range',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'a', port: 70000 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'port',
  },
  {
    name: 'duplicate service',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'known', port: 1 }),
    status: 409,
    code: 'TRELLIS_ERR_ALREADY_EXISTS',
    path: 'name',
  },
  {
    name: 'weights not summing to 100',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({
      name: 'w',
      service: 'known',
      destinations: [
        { subset: { v: '1' }, weight: 50 },
        { subset: { v: '2' }, weight: 40 },
      ],
    }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'destinations',
    message: 'weights must sum to 100, got 90',
  },
  {
    name: 'route to a missing service',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'orphan', service: 'missing' }),
    status: 422,
    code: 'TRELLIS_ERR_UNKNOWN_REFERENCE',
    path: 'service',
  },
  {
    name: 'route to a tcp service',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'tcp-route', service: 'raw-tcp' }),
    status: 422,
    code: 'TRELLIS_ERR_UNKNOWN_REFERENCE',
    path: 'service',
  },
  {
    name: 'policy for a missing service',
    method: 'POST',
    url: '/api/v1/policies',
    body: json({ name: 'orphan', service: 'missing' }),
    status: 422,
    code: 'TRELLIS_ERR_UNKNOWN_REFERENCE',
    path: 'service',
  },
  {
    name: 'duplicate route name',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'known-route', service: 'known' }),
    status: 409,
    code: 'TRELLIS_ERR_ALREADY_EXISTS',
  },
  {
    name: 'bad regex',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'rx', service: 'known', match: [{ path: { regex: '(' } }] }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'match[0].path.regex',
  },
  {
    name: 'regex RE2 cannot run (a lookahead)',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'rx', service: 'known', match: [{ path: { regex: '/(?!public).*' } }] }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'match[0].path.regex',
  },
  {
    name: 'header injection in header value',
    method: 'POST',
    url: '/api/v1/routes',
    body: json({ name: 'hv', service: 'known', headers: { request: { set: { 'x-a': 'ok\r\nx-evil: 1' } } } }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'headers.request.set["x-a"]',
  },
  {
    name: 'unknown load balancer',
    method: 'POST',
    url: '/api/v1/policies',
    body: json({ name: 'lb', service: 'known', loadBalancer: { type: 'fastest' } }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'loadBalancer.type',
  },
  {
    name: 'PUT without version',
    method: 'PUT',
    url: '/api/v1/services/known',
    body: json({ name: 'known', port: 81 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'version',
    message: 'is required',
  },
  {
    name: 'PUT renaming',
    method: 'PUT',
    url: '/api/v1/services/known',
    body: json({ name: 'other', port: 81, version: 1 }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'name',
  },
  {
    name: 'PUT with stale version',
    method: 'PUT',
    url: '/api/v1/services/known',
    body: json({ name: 'known', port: 81, version: 99 }),
    status: 409,
    code: 'TRELLIS_ERR_VERSION_CONFLICT',
  },
  {
    name: 'PUT on a missing resource',
    method: 'PUT',
    url: '/api/v1/routes/nope',
    body: json({ name: 'nope', service: 'known', version: 1 }),
    status: 404,
    code: 'TRELLIS_ERR_NOT_FOUND',
  },
  {
    name: 'DELETE with stale version',
    method: 'DELETE',
    url: '/api/v1/routes/known-route?version=5',
    status: 409,
    code: 'TRELLIS_ERR_VERSION_CONFLICT',
  },
  {
    name: 'DELETE with non-numeric version',
    method: 'DELETE',
    url: '/api/v1/routes/known-route?version=abc',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'version',
  },
  {
    name: 'GET a missing service',
    method: 'GET',
    url: '/api/v1/services/nope',
    status: 404,
    code: 'TRELLIS_ERR_NOT_FOUND',
  },
  {
    name: 'GET with an invalid name',
    method: 'GET',
    url: `/api/v1/services/${'A'.repeat(200)}`,
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'name',
  },
  {
    name: 'endpoint id that is not a UUID',
    method: 'GET',
    url: '/api/v1/services/known/endpoints/1%27%20OR%201=1',
    status: 404,
    code: 'TRELLIS_ERR_NOT_FOUND',
  },
  {
    name: 'bad limit',
    method: 'GET',
    url: '/api/v1/services?limit=100000',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'limit',
  },
  {
    name: 'bad cursor',
    method: 'GET',
    url: '/api/v1/services?cursor=%00%01',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'cursor',
  },
  {
    name: 'bad audit cursor',
    method: 'GET',
    url: `/api/v1/audit?cursor=${Buffer.from('"abc"').toString('base64url')}`,
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'cursor',
  },
  {
    name: 'revision that is not a number',
    method: 'GET',
    url: '/api/v1/revisions/latest',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'revision',
  },
  {
    name: 'revision beyond int range',
    method: 'GET',
    url: '/api/v1/revisions/99999999999',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'revision',
  },
  {
    name: 'NUL in a query parameter',
    method: 'GET',
    url: '/api/v1/audit?resourceName=a%00b',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'resourceName',
  },
  {
    name: 'NUL in an unknown field name',
    method: 'POST',
    url: '/api/v1/services',
    body: '{"name":"k","port":1,"a\\u0000":1}',
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
  },
  {
    name: 'emoji in a label value',
    method: 'POST',
    url: '/api/v1/services',
    body: json({ name: 'emoji', port: 1, labels: { mood: '😀' } }),
    status: 400,
    code: 'TRELLIS_ERR_VALIDATION',
    path: 'labels.mood',
  },
  {
    name: 'unknown API route',
    method: 'GET',
    url: '/api/v1/nothing-here',
    status: 404,
    code: 'TRELLIS_ERR_ROUTE_NOT_FOUND',
  },
];

async function revision(): Promise<number> {
  const row = await t.db.meshState.findUnique({ where: { id: 1 } });
  return row?.revision ?? -1;
}

describe('bad input', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const before = await revision();
    const res = await t.app.inject({
      method: c.method,
      url: c.url,
      ...(c.body === undefined
        ? { headers: bearer() }
        : { payload: c.body, headers: { ...bearer(), 'content-type': c.contentType ?? 'application/json' } }),
    });
    expect(res.statusCode).toBe(c.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: c.status, code: c.code });
    expect(typeof problem.title).toBe('string');
    expect(typeof problem.detail).toBe('string');
    if (c.path !== undefined) {
      const paths = (problem.errors ?? []).map((e: { path: string }) => e.path);
      expect(paths).toContain(c.path);
      if (c.message !== undefined) {
        const entry = problem.errors.find((e: { path: string }) => e.path === c.path);
        if (typeof c.message === 'string') expect(entry.message).toBe(c.message);
        else expect(entry.message).toMatch(c.message);
      }
    } else if (c.message instanceof RegExp) {
      expect(problem.detail).toMatch(c.message);
    }
    if (c.status === 409 && c.code === 'TRELLIS_ERR_VERSION_CONFLICT') expect(problem.current).toBeDefined();
    expect(await revision()).toBe(before);
  });

  it('did not pollute Object.prototype', () => {
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
