/**
 * Rollback on a real control plane over Postgres, seeded with the example mesh: restoring an earlier revision's
 * configuration brings back changed and deleted rules, deletes rules created since, recreates deleted services and
 * keeps newer ones, as one new revision that reaches a connected proxy; a rollback that changes nothing creates no
 * revision; bad input, unknown revisions and a stale expected revision get problem+json.
 */
import type { MeshConfig } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { call } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { FakeProxy, startPlane, streamUrl } from './support/proxy-client.ts';

let plane: ControlPlane;
let proxy: FakeProxy;

const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
  call(plane.app, method, `/api/v1${url}`, body);

const rollback = (revision: number | string, body?: unknown) =>
  api('POST', `/revisions/${revision}/rollback`, body);

async function latestRevision(kind?: 'config'): Promise<number> {
  return (await api('GET', `/revisions?limit=1${kind ? `&kind=${kind}` : ''}`)).body.items[0].revision;
}

function strip<T extends object>(resource: T) {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = resource as Record<string, unknown>;
  return rest;
}

/** A configuration without ids, versions and timestamps, keyed by name: what a rollback must reproduce. */
function comparable(config: MeshConfig, dropServices: string[] = []) {
  return {
    services: config.services.filter((s) => !dropServices.includes(s.name)).map(strip),
    routes: config.routes.map(strip).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    policies: config.policies.map(strip),
  };
}

async function configOf(revision: number): Promise<MeshConfig> {
  const res = await api('GET', `/revisions/${revision}`);
  expect(res.status).toBe(200);
  return res.body.snapshot;
}

async function putCanary(weights: [number, number]) {
  const current = (await api('GET', '/routes/service-b-canary')).body;
  const { id: _i, createdAt: _c, updatedAt: _u, ...spec } = current;
  const res = await api('PUT', '/routes/service-b-canary', {
    ...spec,
    destinations: [
      { subset: { version: 'v1' }, weight: weights[0] },
      { subset: { version: 'v2' }, weight: weights[1] },
    ],
  });
  expect(res.status).toBe(200);
  return Number(res.headers['x-trellis-revision']);
}

const weightsOf = (route: { destinations: { weight: number }[] }) => route.destinations.map((d) => d.weight);

beforeAll(async () => {
  plane = await startPlane(await createDatabase('rollback'));
  expect(plane.seeded).toBe(true);
  // service-a's proxy: its slice holds service-b and the canary route.
  proxy = await FakeProxy.join(streamUrl(plane), { service: 'service-a', instance: 'a-1' });
  proxy.ack((await proxy.snapshot()).data);
  proxy.ws.on('message', (raw) => {
    const message = JSON.parse(raw.toString());
    if (['snapshot', 'config', 'endpoints'].includes(message.type)) proxy.ack(message);
  });
});

afterAll(async () => {
  await proxy?.close().catch(() => undefined);
  await plane?.stop();
});

describe('rollback', () => {
  it('restores a changed route split as one new revision that reaches the proxies', async () => {
    const seeded = await latestRevision('config');
    const changed = await putCanary([0, 100]);
    await proxy.waitForView(
      (view) =>
        weightsOf(view.routes.find((r) => r.name === 'service-b-canary') ?? { destinations: [] })[1] === 100,
      'the 0/100 split',
    );

    const res = await rollback(seeded);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      revision: changed + 1,
      restoredFrom: seeded,
      changes: [{ kind: 'route', name: 'service-b-canary', action: 'update' }],
      kept: [],
    });
    expect(res.headers['x-trellis-revision']).toBe(String(changed + 1));

    const route = (await api('GET', '/routes/service-b-canary')).body;
    expect(weightsOf(route)).toEqual([90, 10]);
    expect(route.version).toBe(3);
    expect(comparable(await configOf(changed + 1))).toEqual(comparable(await configOf(seeded)));

    const summary = (await api('GET', '/revisions?limit=1')).body.items[0];
    expect(summary).toMatchObject({
      revision: changed + 1,
      kind: 'config',
      actor: 'token:TRELLIS_ADMIN_TOKEN',
      summary: `rollback to revision ${seeded}`,
    });
    const audit = (await api('GET', `/audit?revision=${changed + 1}`)).body.items;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'update', kind: 'route', resourceName: 'service-b-canary' });
    expect(weightsOf(audit[0].before)).toEqual([0, 100]);
    expect(weightsOf(audit[0].after)).toEqual([90, 10]);

    const pushed = await proxy.update(changed + 1);
    expect(
      weightsOf(pushed.view?.routes.find((r) => r.name === 'service-b-canary') ?? { destinations: [] }),
    ).toEqual([90, 10]);
    await expect
      .poll(async () => (await api('GET', '/proxies')).body.items[0]?.ackedRevision)
      .toBe(changed + 1);
  });

  it('a rollback to the configuration in force changes nothing and creates no revision', async () => {
    const before = await latestRevision();
    const res = await rollback(before);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revision: null, restoredFrom: before, changes: [], kept: [] });
    expect(res.headers['x-trellis-revision']).toBe(String(before));
    expect(await latestRevision()).toBe(before);
  });

  it('brings back deleted rules and services, deletes rules created since and keeps services created since', async () => {
    const base = await latestRevision('config');
    const baseConfig = await configOf(base);

    expect((await api('POST', '/services', { name: 'newer', port: 8080 })).status).toBe(201);
    expect((await api('POST', '/routes', { name: 'newer-route', service: 'newer' })).status).toBe(201);
    expect((await api('DELETE', '/routes/service-c-retries')).status).toBe(204);
    expect((await api('DELETE', '/policies/service-c-defaults')).status).toBe(204);
    expect((await api('DELETE', '/services/service-c')).status).toBe(204);
    const serviceA = (await api('GET', '/services/service-a')).body;
    expect(
      (await api('PUT', '/services/service-a', { ...strip(serviceA), port: 9090, version: serviceA.version }))
        .status,
    ).toBe(200);
    // A route on service-b created since, which the rollback deletes.
    expect(
      (await api('POST', '/routes', { name: 'b-extra', service: 'service-b', priority: 5 })).status,
    ).toBe(201);

    const res = await rollback(base);
    expect(res.status).toBe(200);
    expect(res.body.restoredFrom).toBe(base);
    expect(res.body.kept).toEqual(['newer']);
    expect(res.body.revision).toBe(await latestRevision());
    expect(new Set(res.body.changes.map((c: object) => JSON.stringify(c)))).toEqual(
      new Set(
        [
          { kind: 'route', name: 'newer-route', action: 'delete' },
          { kind: 'route', name: 'b-extra', action: 'delete' },
          { kind: 'service', name: 'service-c', action: 'create' },
          { kind: 'service', name: 'service-a', action: 'update' },
          { kind: 'route', name: 'service-c-retries', action: 'create' },
          { kind: 'policy', name: 'service-c-defaults', action: 'create' },
        ].map((c) => JSON.stringify(c)),
      ),
    );
    expect(res.body.changes).toHaveLength(6);

    const restored = await configOf(res.body.revision);
    expect(comparable(restored, ['newer'])).toEqual(comparable(baseConfig));
    expect((await api('GET', '/services/newer')).status).toBe(200);
    expect((await api('GET', '/routes/newer-route')).status).toBe(404);
    expect((await api('GET', '/services/service-a')).body.port).toBe(8080);
    expect((await api('GET', '/services/service-c/endpoints')).body.items).toEqual([]);
    expect((await api('GET', '/policies/service-c-defaults')).status).toBe(200);
  });

  it('rolling back to an endpoints revision restores the configuration in force at that revision', async () => {
    const registered = await api('POST', '/services/service-b/endpoints', {
      address: '10.9.0.1',
      port: 8080,
      source: 'static',
      labels: { version: 'v1' },
    });
    expect(registered.status).toBe(201);
    const endpointsRevision = Number(registered.headers['x-trellis-revision']);
    expect((await api('GET', `/revisions/${endpointsRevision}`)).body.kind).toBe('endpoints');
    await putCanary([50, 50]);

    const res = await rollback(endpointsRevision);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      restoredFrom: endpointsRevision,
      changes: [{ kind: 'route', name: 'service-b-canary', action: 'update' }],
    });
    expect(weightsOf((await api('GET', '/routes/service-b-canary')).body)).toEqual([90, 10]);
    // Endpoints are runtime state: the one registered is still there.
    expect((await api('GET', '/services/service-b/endpoints')).body.items).toHaveLength(1);
  });

  it('restores policies that changed places, one policy per service and subset at every step', async () => {
    const policy = (name: string, version: string) => ({
      name,
      service: 'service-b',
      subset: { version },
      loadBalancer: { type: 'round_robin' },
    });
    expect((await api('POST', '/policies', policy('b-first', 'v1'))).status).toBe(201);
    expect((await api('POST', '/policies', policy('b-second', 'v2'))).status).toBe(201);
    const base = await latestRevision('config');
    const move = async (name: string, version: string) => {
      const current = (await api('GET', `/policies/${name}`)).body;
      const res = await api('PUT', `/policies/${name}`, {
        ...policy(name, version),
        version: current.version,
      });
      expect(res.status).toBe(200);
    };
    // Swap their subsets (through a third one, as the API itself allows only one policy per subset).
    await move('b-first', 'v3');
    await move('b-second', 'v1');
    await move('b-first', 'v2');

    const res = await rollback(base);
    expect(res.status).toBe(200);
    expect(res.body.changes).toEqual([
      { kind: 'policy', name: 'b-first', action: 'update' },
      { kind: 'policy', name: 'b-second', action: 'update' },
    ]);
    expect((await api('GET', '/policies/b-first')).body.subset).toEqual({ version: 'v1' });
    expect((await api('GET', '/policies/b-second')).body.subset).toEqual({ version: 'v2' });
    expect(comparable(await configOf(res.body.revision))).toEqual(comparable(await configOf(base)));
    for (const name of ['b-first', 'b-second']) {
      expect((await api('DELETE', `/policies/${name}`)).status).toBe(204);
    }
  });

  it('refuses a stale expectedRevision with 409 and accepts the current one', async () => {
    const target = await latestRevision();
    const changed = await putCanary([70, 30]);
    const stale = await rollback(target, { expectedRevision: target });
    expect(stale.status).toBe(409);
    expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(stale.body).toMatchObject({
      code: 'TRELLIS_ERR_REVISION_CONFLICT',
      status: 409,
      errors: [{ path: 'expectedRevision', message: `the mesh is at revision ${changed}` }],
    });
    expect(await latestRevision()).toBe(changed);
    expect(weightsOf((await api('GET', '/routes/service-b-canary')).body)).toEqual([70, 30]);

    const fresh = await rollback(target, { expectedRevision: changed });
    expect(fresh.status).toBe(200);
    expect(fresh.body.revision).toBe(changed + 1);
    expect(weightsOf((await api('GET', '/routes/service-b-canary')).body)).toEqual([90, 10]);
  });

  it('answers an unknown revision with 404 and bad input with 400 and the field, never a change', async () => {
    const before = await latestRevision();
    const unknown = await rollback(before + 1000);
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.body.code).toBe('TRELLIS_ERR_NOT_FOUND');
    expect(unknown.body.detail).toContain(`revision ${before + 1000}`);

    for (const [param, path] of [
      ['abc', 'revision'],
      ['0', 'revision'],
      ['1.5', 'revision'],
    ] as const) {
      const bad = await rollback(param);
      expect(bad.status, param).toBe(400);
      expect(bad.body.code).toBe('TRELLIS_ERR_VALIDATION');
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
    }
    for (const [body, path] of [
      [{ expectedRevision: 'x' }, 'expectedRevision'],
      [{ expectedRevision: -1 }, 'expectedRevision'],
      [{ expected: 3 }, 'expected'],
      [[1], ''],
    ] as const) {
      const bad = await rollback(before, body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.code).toBe('TRELLIS_ERR_VALIDATION');
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
    }
    const malformed = await rollback(before, '{"expectedRevision":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('TRELLIS_ERR_MALFORMED_JSON');
    expect(await latestRevision()).toBe(before);
  });
});

describe('the revision list', () => {
  it('filters by kind and pages with the cursor', async () => {
    const config = await api('GET', '/revisions?kind=config&limit=2');
    expect(config.status).toBe(200);
    expect(config.body.items.map((r: { kind: string }) => r.kind)).toEqual(['config', 'config']);
    const next = await api('GET', `/revisions?kind=config&limit=2&cursor=${config.body.nextCursor}`);
    expect(next.body.items[0].revision).toBeLessThan(config.body.items[1].revision);
    expect(next.body.items.every((r: { kind: string }) => r.kind === 'config')).toBe(true);

    const endpoints = await api('GET', '/revisions?kind=endpoints');
    expect(endpoints.body.items.length).toBeGreaterThan(0);
    expect(endpoints.body.items.every((r: { kind: string }) => r.kind === 'endpoints')).toBe(true);

    const bad = await api('GET', '/revisions?kind=routes');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['kind']);
  });
});
