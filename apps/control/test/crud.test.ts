/** CRUD round trips over the REST API for every resource, with revisions and audit written alongside. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let t: TestControl;
beforeAll(async () => {
  t = await testControl();
});
afterAll(() => t.close());

const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
  call(t.app, method, `/api/v1${url}`, body);

describe('services', () => {
  it('creates with defaults, reads, lists, replaces and deletes', async () => {
    const created = await api('POST', '/services', { name: 'orders', port: 8080 });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/v1/services/orders');
    expect(created.body).toMatchObject({
      name: 'orders',
      port: 8080,
      protocol: 'http',
      labels: {},
      description: '',
      version: 1,
    });
    const revision = Number(created.headers['x-trellis-revision']);
    expect(revision).toBeGreaterThan(0);

    const got = await api('GET', '/services/orders');
    expect(got.body).toEqual(created.body);

    const replaced = await api('PUT', '/services/orders', {
      name: 'orders',
      port: 9090,
      labels: { team: 'checkout' },
      version: 1,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      port: 9090,
      labels: { team: 'checkout' },
      version: 2,
      id: created.body.id,
    });
    expect(Number(replaced.headers['x-trellis-revision'])).toBe(revision + 1);

    const list = await api('GET', '/services');
    expect(list.body.items.map((s: { name: string }) => s.name)).toContain('orders');

    const deleted = await api('DELETE', '/services/orders?version=2');
    expect(deleted.status).toBe(204);
    expect((await api('GET', '/services/orders')).status).toBe(404);
  });

  it('a replace that changes nothing keeps the version and creates no revision', async () => {
    await api('POST', '/services', { name: 'same', port: 80 });
    const before = (await api('GET', '/revisions?limit=1')).body.items[0].revision;
    const put = await api('PUT', '/services/same', { name: 'same', port: 80, version: 1 });
    expect(put.status).toBe(200);
    expect(put.body.version).toBe(1);
    expect((await api('GET', '/revisions?limit=1')).body.items[0].revision).toBe(before);
  });

  it('refuses to delete a service that rules still refer to, and deletes its endpoints with it', async () => {
    await api('POST', '/services', { name: 'used', port: 80 });
    await api('POST', '/routes', { name: 'used-route', service: 'used' });
    const refused = await api('DELETE', '/services/used');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('TRELLIS_ERR_IN_USE');
    expect(refused.body.detail).toContain('route used-route');
    await api('DELETE', '/routes/used-route');
    const ep = await api('POST', '/services/used/endpoints', {
      address: '10.0.0.1',
      port: 80,
      source: 'static',
    });
    expect((await api('DELETE', '/services/used')).status).toBe(204);
    const audit = await api(
      'GET',
      `/audit?kind=endpoint&resourceName=${encodeURIComponent('used/10.0.0.1:80')}`,
    );
    expect(audit.body.items[0]).toMatchObject({ action: 'delete', resourceId: ep.body.id });
  });

  it('paginates with a cursor', async () => {
    for (const n of ['page-1', 'page-2', 'page-3']) await api('POST', '/services', { name: n, port: 80 });
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { name: string }[]; nextCursor: string | null } } = await api(
        'GET',
        `/services?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      names.push(...page.body.items.map((s) => s.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['page-1', 'page-2', 'page-3']));
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('endpoints', () => {
  it('registers, replaces, heartbeats and deletes an endpoint', async () => {
    await api('POST', '/services', { name: 'pay', port: 8080 });
    const created = await api('POST', '/services/pay/endpoints', {
      address: '10.1.0.7',
      port: 8080,
      labels: { version: 'v2' },
      zone: 'eu-1',
      ttlSeconds: 60,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      service: 'pay',
      source: 'api',
      health: 'healthy',
      weight: 1,
      version: 1,
    });
    expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.lastSeen)).toBe(60_000);
    const id = created.body.id;

    const dup = await api('POST', '/services/pay/endpoints', { address: '10.1.0.7', port: 8080 });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('TRELLIS_ERR_ALREADY_EXISTS');

    const put = await api('PUT', `/services/pay/endpoints/${id}`, {
      address: '10.1.0.7',
      port: 8080,
      health: 'draining',
      ttlSeconds: 60,
      version: 1,
    });
    expect(put.body).toMatchObject({ health: 'draining', version: 2, labels: {} });

    const hb = await api('POST', `/services/pay/endpoints/${id}/heartbeat`);
    expect(hb.status).toBe(200);
    expect(hb.body.version).toBe(2);

    const list = await api('GET', '/services/pay/endpoints');
    expect(list.body.items).toHaveLength(1);
    expect((await api('DELETE', `/services/pay/endpoints/${id}`)).status).toBe(204);
    expect((await api('GET', `/services/pay/endpoints/${id}`)).status).toBe(404);
  });

  it('answers 404 for endpoints of a missing service', async () => {
    const res = await api('POST', '/services/ghost/endpoints', { address: '10.0.0.1', port: 1 });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('TRELLIS_ERR_NOT_FOUND');
  });
});

describe('routes and policies', () => {
  it('round-trips a full route rule', async () => {
    await api('POST', '/services', { name: 'reviews', port: 9080 });
    const spec = {
      name: 'reviews-canary',
      service: 'reviews',
      priority: 10,
      match: [{ path: { prefix: '/api' }, methods: ['GET'], headers: [{ name: 'x-user', regex: '^beta-' }] }],
      destinations: [
        { subset: { version: 'v1' }, weight: 75 },
        { subset: { version: 'v2' }, weight: 25 },
      ],
      timeoutMs: 3000,
      retries: {
        attempts: 3,
        perTryTimeoutMs: 1000,
        retryOn: ['5xx', 'retriable-status-codes'],
        retriableStatusCodes: [429],
      },
      fault: { delay: { fixedDelayMs: 100, percent: 5 }, abort: { httpStatus: 503, percent: 1 } },
      mirror: { subset: { version: 'v3' }, percent: 10 },
      headers: {
        request: { set: { 'x-canary': 'yes' }, remove: ['x-debug'] },
        response: { set: {}, remove: [] },
      },
    };
    const created = await api('POST', '/routes', spec);
    expect(created.status).toBe(201);
    const got = await api('GET', '/routes/reviews-canary');
    expect(got.body).toMatchObject(spec);
    expect(got.body.retries.backoff).toEqual({ baseIntervalMs: 25, maxIntervalMs: 250 });
    // jsonb reorders keys; resources come back in the schema's field order.
    expect(Object.keys(got.body.retries)).toEqual([
      'attempts',
      'perTryTimeoutMs',
      'retryOn',
      'retriableStatusCodes',
      'backoff',
    ]);
    expect(Object.keys(got.body).slice(0, 4)).toEqual(['name', 'service', 'priority', 'match']);

    const moved = await api('PUT', '/routes/reviews-canary', {
      ...spec,
      destinations: [{ subset: { version: 'v2' }, weight: 100 }],
      version: 1,
    });
    expect(moved.status).toBe(200);
    expect(moved.body.destinations).toEqual([{ subset: { version: 'v2' }, weight: 100 }]);
    expect((await api('GET', '/routes?service=reviews')).body.items).toHaveLength(1);
    expect((await api('DELETE', '/routes/reviews-canary?version=2')).status).toBe(204);
  });

  it('round-trips a traffic policy and keeps one per service and subset', async () => {
    await api('POST', '/services', { name: 'ratings', port: 9080 });
    const created = await api('POST', '/policies', {
      name: 'ratings-lb',
      service: 'ratings',
      loadBalancer: { type: 'ring_hash', hashHeader: 'x-user' },
    });
    expect(created.status).toBe(201);
    expect(created.body.connectionPool).toEqual({
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
      connectTimeoutMs: 10_000,
    });
    const clash = await api('POST', '/policies', { name: 'ratings-other', service: 'ratings' });
    expect(clash.status).toBe(409);
    expect(clash.body.detail).toContain('ratings-lb');
    const subset = await api('POST', '/policies', {
      name: 'ratings-v2',
      service: 'ratings',
      subset: { version: 'v2' },
    });
    expect(subset.status).toBe(201);

    const put = await api('PUT', '/policies/ratings-lb', {
      ...created.body,
      id: undefined,
      createdAt: undefined,
      updatedAt: undefined,
      outlierDetection: { consecutive5xx: 3 },
    });
    expect(put.status).toBe(200);
    expect(put.body.outlierDetection).toMatchObject({ consecutive5xx: 3, baseEjectionTimeMs: 30_000 });
    expect((await api('GET', '/policies?service=ratings')).body.items).toHaveLength(2);
  });
});

describe('revisions and audit', () => {
  it('records a revision with a full snapshot and an audit entry with before and after', async () => {
    const created = await api('POST', '/services', { name: 'audited', port: 1 });
    const revision = Number(created.headers['x-trellis-revision']);
    await api('PUT', '/services/audited', { name: 'audited', port: 2, version: 1 });
    const rev = await api('GET', `/revisions/${revision + 1}`);
    expect(rev.body).toMatchObject({
      revision: revision + 1,
      actor: 'token:TRELLIS_ADMIN_TOKEN',
      summary: 'update service audited',
    });
    expect(rev.body.snapshot.services.find((s: { name: string }) => s.name === 'audited').port).toBe(2);
    const older = await api('GET', `/revisions/${revision}`);
    expect(older.body.snapshot.services.find((s: { name: string }) => s.name === 'audited').port).toBe(1);

    const audit = await api('GET', '/audit?kind=service&resourceName=audited');
    expect(audit.body.items).toHaveLength(2);
    expect(audit.body.items[0]).toMatchObject({ action: 'update', revision: revision + 1 });
    expect(audit.body.items[0].before.port).toBe(1);
    expect(audit.body.items[0].after.port).toBe(2);
    expect(audit.body.items[1]).toMatchObject({ action: 'create', before: null });
  });

  it('answers 404 for a revision that does not exist', async () => {
    const res = await api('GET', '/revisions/999999');
    expect(res.status).toBe(404);
  });
});
