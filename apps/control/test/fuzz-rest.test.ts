/**
 * Property-based fuzzing of every REST route (fast-check) against a control plane on a real Postgres: random JSON,
 * valid bodies with one field mutated (wrong types, huge strings, deep nesting, unicode edge cases), prototype-
 * pollution keys, random path parameters and query strings. Invariants, for every request: no 5xx; every error is
 * problem+json with a stable code; and afterwards the database holds exactly the writes the API accepted (each
 * 201 counted in, each 204 counted out), with nothing added to Object.prototype.
 * Runs are bounded and seeded: see support/fuzz.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';
import { bodyFor, FUZZ_TIMEOUT_MS, nastyString, pct, run } from './support/fuzz.ts';

let t: TestControl;
const accepted = { services: 0, routes: 0, policies: 0, endpoints: 0 };
const baseline = { services: 0, routes: 0, policies: 0, endpoints: 0 };
const seen5xx: string[] = [];

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface Sent {
  method: Method;
  url: string;
  body?: string;
}

async function send(req: Sent) {
  const res = await t.app.inject({
    method: req.method,
    url: req.url,
    ...(req.body === undefined
      ? { headers: bearer() }
      : { payload: req.body, headers: { ...bearer(), 'content-type': 'application/json' } }),
  });
  const where = `${req.method} ${req.url} ${req.body?.slice(0, 300) ?? ''}`;
  if (res.statusCode >= 500) seen5xx.push(`${res.statusCode} ${where}: ${res.body.slice(0, 300)}`);
  expect(res.statusCode, where).toBeLessThan(500);
  if (res.statusCode >= 400) {
    expect(res.headers['content-type'], where).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(res.body);
    expect(typeof problem.code, where).toBe('string');
    expect(problem.code, where).toMatch(/^TRELLIS_ERR_[A-Z_]+$/);
    expect(problem.status, where).toBe(res.statusCode);
  }
  return res;
}

/** Path parameters: names that exist, that don't, and that should never reach the database. */
const pathParam = fc
  .oneof(fc.constantFrom('known', 'known-route', 'known-policy', 'nope', 'a'.repeat(300)), nastyString)
  .map(pct);

const queryValue = fc.oneof(
  fc.constantFrom(
    '1',
    '0',
    '-1',
    '500',
    '501',
    'abc',
    '1e3',
    '',
    '99999999999999999999',
    'config',
    'endpoints',
  ),
  nastyString,
);
const query = fc
  .dictionary(
    fc.constantFrom(
      'limit',
      'cursor',
      'service',
      'kind',
      'resourceName',
      'revision',
      'version',
      'scope',
      'from',
      'to',
      'step',
      'source',
      'destination',
      'window',
      '__proto__',
    ),
    queryValue,
    { maxKeys: 4 },
  )
  .map((q) => {
    const s = new URLSearchParams(q as Record<string, string>).toString();
    return s ? `?${s}` : '';
  });

const validService = {
  name: 'fz-svc',
  port: 8080,
  protocol: 'http',
  labels: { team: 'a' },
  description: 'fuzz',
  dependencies: ['known'],
};
const validRoute = {
  name: 'fz-route',
  service: 'known',
  priority: 10,
  match: [{ path: { prefix: '/' }, method: 'GET' }],
  destinations: [{ subset: {}, weight: 100 }],
  timeoutMs: 1000,
  retries: { attempts: 2, perTryTimeoutMs: 100, retryOn: ['5xx'] },
};
const validPolicy = {
  name: 'fz-policy',
  service: 'known',
  loadBalancer: { type: 'round_robin' },
  connectionPool: { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10 },
  outlierDetection: { consecutive5xx: 3 },
};
const validEndpoint = { address: '10.0.0.9', port: 8080, labels: {}, weight: 1 };

async function counts() {
  return {
    services: await t.db.service.count(),
    routes: await t.db.routeRule.count(),
    policies: await t.db.trafficPolicy.count(),
    endpoints: await t.db.endpoint.count(),
  };
}

/** Tracks what the API accepted, so the database can be checked against it. */
let created = 0;
function tally(kind: keyof typeof accepted, status: number) {
  if (status === 201) created += 1;
  if (status === 201) accepted[kind] += 1;
  if (status === 204) accepted[kind] -= 1;
}

beforeAll(async () => {
  t = await testControl({ bodyLimitBytes: 256 * 1024 });
  const post = (url: string, body: unknown) =>
    t.app.inject({
      method: 'POST',
      url,
      payload: JSON.stringify(body),
      headers: { ...bearer(), 'content-type': 'application/json' },
    });
  await post('/api/v1/services', { name: 'known', port: 80 });
  await post('/api/v1/routes', { name: 'known-route', service: 'known' });
  await post('/api/v1/policies', { name: 'known-policy', service: 'known' });
  Object.assign(baseline, await counts());
});
afterAll(() => t?.close());

describe('REST fuzzing', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('POST /services, /routes, /policies with random and mutated bodies', async () => {
    for (const [kind, url, valid] of [
      ['services', '/api/v1/services', validService],
      ['routes', '/api/v1/routes', validRoute],
      ['policies', '/api/v1/policies', validPolicy],
    ] as const) {
      await run(
        fc.asyncProperty(bodyFor(valid), fc.string({ minLength: 1, maxLength: 8 }), async (body, suffix) => {
          // Valid-looking bodies get a fresh name now and then, so that creates succeed and are counted too.
          const named = body.replace(
            `"${valid.name}"`,
            `"${valid.name}-${suffix.replace(/[^a-z0-9]/g, 'x').toLowerCase()}"`,
          );
          const res = await send({ method: 'POST', url, body: named });
          tally(kind, res.statusCode);
        }),
      );
    }
  });

  it('PUT and DELETE of services, routes and policies with random names, bodies and versions', async () => {
    for (const [kind, base, valid] of [
      ['services', '/api/v1/services', validService],
      ['routes', '/api/v1/routes', validRoute],
      ['policies', '/api/v1/policies', validPolicy],
    ] as const) {
      await run(
        fc.asyncProperty(pathParam, bodyFor({ ...valid, version: 1 }), query, async (name, body, q) => {
          await send({ method: 'PUT', url: `${base}/${name}`, body });
          // The seeded service stays: deleting it would take the seeded rule and policy with it.
          if (kind === 'services' && name === 'known') return;
          const res = await send({ method: 'DELETE', url: `${base}/${name}${q}` });
          tally(kind, res.statusCode);
        }),
      );
    }
  });

  it('endpoint routes with random services, ids and bodies', async () => {
    await run(
      fc.asyncProperty(pathParam, pathParam, bodyFor(validEndpoint), query, async (svc, id, body, q) => {
        const created = await send({ method: 'POST', url: `/api/v1/services/${svc}/endpoints`, body });
        tally('endpoints', created.statusCode);
        await send({ method: 'PUT', url: `/api/v1/services/${svc}/endpoints/${id}`, body });
        await send({ method: 'POST', url: `/api/v1/services/${svc}/endpoints/${id}/heartbeat` });
        await send({ method: 'GET', url: `/api/v1/services/${svc}/endpoints/${id}` });
        const removed = await send({ method: 'DELETE', url: `/api/v1/services/${svc}/endpoints/${id}${q}` });
        tally('endpoints', removed.statusCode);
      }),
    );
  });

  it('every GET with random path parameters and query strings', async () => {
    await run(
      fc.asyncProperty(pathParam, query, async (name, q) => {
        for (const url of [
          `/api/v1/services${q}`,
          `/api/v1/services/${name}${q}`,
          `/api/v1/services/${name}/endpoints${q}`,
          `/api/v1/routes${q}`,
          `/api/v1/routes/${name}${q}`,
          `/api/v1/policies${q}`,
          `/api/v1/policies/${name}${q}`,
          `/api/v1/revisions${q}`,
          `/api/v1/revisions/${name}${q}`,
          `/api/v1/audit${q}`,
        ]) {
          await send({ method: 'GET', url });
        }
      }),
    );
  });

  it('the database holds exactly the accepted writes, and nothing polluted Object.prototype', async () => {
    const now = await counts();
    expect(seen5xx).toEqual([]);
    // Not vacuous: some of the fuzzed writes were valid and went in.
    expect(created).toBeGreaterThan(0);
    expect(now).toEqual({
      services: baseline.services + accepted.services,
      routes: baseline.routes + accepted.routes,
      policies: baseline.policies + accepted.policies,
      // A deleted service takes its endpoints with it; none of the fuzzed services had any that outlived it.
      endpoints: baseline.endpoints + accepted.endpoints,
    });
    const probe = {} as Record<string, unknown>;
    expect(probe.admin).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
