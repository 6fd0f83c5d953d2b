/**
 * Authorization policies through the control plane, on a real one over Postgres seeded with the example mesh:
 * REST CRUD with field errors, optimistic versions and paging; every write a revision with audit entries and the
 * policy in the revision's configuration; rollback restores them; and the push reaches exactly the proxies that
 * enforce a policy (its destination's, every service's for "*"), unit-tested on the slice as well.
 */
import { type AuthorizationPolicy, MeshSlice, type MeshSnapshot } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { Mesh } from '../src/stream/mesh.ts';
import { SliceCache, sliceFor } from '../src/stream/slice.ts';
import { call } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { FakeProxy, startPlane, streamUrl } from './support/proxy-client.ts';

let plane: ControlPlane;
const proxies: FakeProxy[] = [];

const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
  call(plane.app, method, `/api/v1${url}`, body);

const denyA = {
  name: 'no-a-to-b',
  destination: 'service-b',
  action: 'deny',
  rules: [{ from: [{ principal: 'service:service-a' }], to: [{ methods: ['POST'], paths: ['/admin/*'] }] }],
};

function strip(resource: AuthorizationPolicy) {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = resource;
  return rest;
}

async function latestRevision(): Promise<number> {
  return (await api('GET', '/revisions?limit=1')).body.items[0].revision;
}

/** A proxy of `service` that acknowledges everything it is sent. */
async function join(service: string): Promise<FakeProxy> {
  const proxy = await FakeProxy.join(streamUrl(plane), { service, instance: `${service}-1` });
  proxies.push(proxy);
  proxy.ack((await proxy.snapshot()).data);
  proxy.ws.on('message', (raw) => {
    const message = JSON.parse(raw.toString());
    if (['snapshot', 'config', 'endpoints'].includes(message.type)) proxy.ack(message);
  });
  return proxy;
}

const namesIn = (view: MeshSlice | undefined) =>
  (view?.authorizationPolicies ?? []).map((p) => p.name).sort();

beforeAll(async () => {
  plane = await startPlane(await createDatabase('authz'));
  expect(plane.seeded).toBe(true);
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
  await plane?.stop();
});

describe('the authorization-policies API', () => {
  it('creates (201), reads, lists with paging and refuses duplicates and unknown destinations', async () => {
    const before = await latestRevision();
    const created = await api('POST', '/authorization-policies', denyA);
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/v1/authorization-policies/no-a-to-b');
    expect(created.headers['x-trellis-revision']).toBe(String(before + 1));
    expect(created.body).toMatchObject({ ...denyA, dryRun: false, version: 1 });

    expect((await api('GET', '/authorization-policies/no-a-to-b')).body).toEqual(created.body);
    const mesh = { name: 'mesh-trial', destination: '*', action: 'allow', rules: [], dryRun: true };
    expect((await api('POST', '/authorization-policies', mesh)).status).toBe(201);

    const first = await api('GET', '/authorization-policies?limit=1');
    expect(first.status).toBe(200);
    expect(first.body.items.map((p: AuthorizationPolicy) => p.name)).toEqual(['mesh-trial']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await api('GET', `/authorization-policies?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ items: [created.body], nextCursor: null });
    const filtered = await api('GET', '/authorization-policies?destination=*');
    expect(filtered.body.items.map((p: AuthorizationPolicy) => p.name)).toEqual(['mesh-trial']);

    const duplicate = await api('POST', '/authorization-policies', denyA);
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('TRELLIS_ERR_ALREADY_EXISTS');
    const unknown = await api('POST', '/authorization-policies', {
      ...denyA,
      name: 'x',
      destination: 'nope',
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors).toEqual([{ path: 'destination', message: expect.stringContaining('nope') }]);
    expect((await api('GET', '/authorization-policies/missing')).status).toBe(404);
  });

  it('refuses invalid specs with problem+json naming each field', async () => {
    const res = await api('POST', '/authorization-policies', {
      ...denyA,
      name: 'bad',
      rules: [{ from: [{ principal: 'service-a' }], to: [{ paths: ['admin'], methods: ['post'] }] }],
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.code).toBe('TRELLIS_ERR_VALIDATION');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'rules[0].from[0].principal',
      'rules[0].to[0].methods[0]',
      'rules[0].to[0].paths[0]',
    ]);
  });

  it('replaces with the version read (409 with the current one otherwise) and deletes', async () => {
    const current = (await api('GET', '/authorization-policies/no-a-to-b')).body as AuthorizationPolicy;
    const changed = { ...strip(current), action: 'allow', version: current.version };
    const ok = await api('PUT', '/authorization-policies/no-a-to-b', changed);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ action: 'allow', version: current.version + 1 });

    const stale = await api('PUT', '/authorization-policies/no-a-to-b', { ...changed, action: 'deny' });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('TRELLIS_ERR_VERSION_CONFLICT');
    expect(stale.body.current).toMatchObject({ action: 'allow', version: current.version + 1 });

    const renamed = await api('PUT', '/authorization-policies/no-a-to-b', { ...changed, name: 'other' });
    expect(renamed.status).toBe(400);

    const staleDelete = await api('DELETE', `/authorization-policies/mesh-trial?version=7`);
    expect(staleDelete.status).toBe(409);
    const deleted = await api('DELETE', '/authorization-policies/mesh-trial?version=1');
    expect(deleted.status).toBe(204);
    expect((await api('GET', '/authorization-policies/mesh-trial')).status).toBe(404);
  });
});

describe('history and rollback', () => {
  it('each write is a revision with an audit entry and the policy in its configuration; rollback restores it', async () => {
    const policy = { ...denyA, name: 'history-test', destination: 'service-c' };
    const created = await api('POST', '/authorization-policies', policy);
    const createdAt = Number(created.headers['x-trellis-revision']);
    const audit = (await api('GET', `/audit?revision=${createdAt}`)).body.items;
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'create',
        kind: 'authorization-policy',
        resourceName: 'history-test',
      }),
    ]);
    const summary = (await api('GET', '/revisions?limit=1')).body.items[0];
    expect(summary).toMatchObject({
      revision: createdAt,
      kind: 'config',
      summary: 'create authorization-policy history-test',
    });
    const snapshot = (await api('GET', `/revisions/${createdAt}`)).body.snapshot;
    expect(snapshot.authorizationPolicies.map(strip)).toContainEqual({ ...policy, dryRun: false });

    const updated = await api('PUT', '/authorization-policies/history-test', {
      ...policy,
      dryRun: true,
      version: 1,
    });
    expect(updated.status).toBe(200);
    const deleted = await api('DELETE', '/authorization-policies/history-test');
    expect(deleted.status).toBe(204);

    // Back to the first version: recreated, with its spec of then.
    const restored = await api('POST', `/revisions/${createdAt}/rollback`);
    expect(restored.status).toBe(200);
    expect(restored.body.changes).toContainEqual({
      kind: 'authorization-policy',
      name: 'history-test',
      action: 'create',
    });
    const back = (await api('GET', '/authorization-policies/history-test')).body;
    expect(strip(back)).toEqual({ ...policy, dryRun: false });

    // Back to before it existed: deleted again.
    const gone = await api('POST', `/revisions/${createdAt - 1}/rollback`);
    expect(gone.body.changes).toContainEqual({
      kind: 'authorization-policy',
      name: 'history-test',
      action: 'delete',
    });
    expect((await api('GET', '/authorization-policies/history-test')).status).toBe(404);
  });
});

describe('the push', () => {
  it("reaches the proxies of the destination and, for '*', of every service; no other proxy", async () => {
    const b = await join('service-b');
    const a = await join('service-a');
    const c = await join('service-c');
    expect(namesIn(b.view)).toEqual(['no-a-to-b']);
    expect(namesIn(a.view)).toEqual([]);
    expect(namesIn(c.view)).toEqual([]);

    const created = await api('POST', '/authorization-policies', {
      name: 'default-deny',
      destination: '*',
      action: 'allow',
      rules: [],
      dryRun: true,
    });
    const revision = Number(created.headers['x-trellis-revision']);
    for (const proxy of [a, b, c])
      await proxy.waitForView((v) => namesIn(v).includes('default-deny'), 'the mesh-wide policy');
    expect(namesIn(b.view)).toEqual(['default-deny', 'no-a-to-b']);
    expect(namesIn(a.view)).toEqual(['default-deny']);
    // What a proxy holds validates as the slice, without control-plane metadata.
    const slice = MeshSlice.parse(a.view);
    expect(slice.authorizationPolicies?.[0]).toEqual({
      name: 'default-deny',
      destination: '*',
      action: 'allow',
      rules: [],
      dryRun: true,
    });

    await api('DELETE', '/authorization-policies/no-a-to-b');
    await b.waitForView((v) => !namesIn(v).includes('no-a-to-b'), 'the deletion');
    await expect
      .poll(async () =>
        (await api('GET', '/proxies')).body.items.every(
          (p: { ackedRevision: number }) => p.ackedRevision > revision,
        ),
      )
      .toBe(true);
  });
});

describe('slicing (unit)', () => {
  const meta = {
    id: '00000000-0000-4000-8000-000000000001',
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
  const service = (name: string, dependencies?: string[]) => ({
    name,
    protocol: 'http' as const,
    port: 80,
    labels: {},
    description: '',
    ...(dependencies ? { dependencies } : {}),
    ...meta,
  });
  const policy = (name: string, destination: string): AuthorizationPolicy => ({
    name,
    destination,
    action: 'deny',
    rules: [{}],
    dryRun: false,
    ...meta,
  });
  const snapshot: MeshSnapshot = {
    revision: 3,
    services: [service('a', ['b']), service('b'), service('c')],
    endpoints: [],
    routes: [],
    policies: [],
    authorizationPolicies: [policy('for-b', 'b'), policy('for-c', 'c'), policy('everyone', '*')],
  };

  it("a proxy of S gets S's and '*' policies, whatever its dependencies", () => {
    const mesh = Mesh.of(snapshot, null);
    const names = (s: string) => (sliceFor(mesh, s).authorizationPolicies ?? []).map((p) => p.name).sort();
    expect(names('a')).toEqual(['everyone']);
    expect(names('b')).toEqual(['everyone', 'for-b']);
    expect(names('c')).toEqual(['everyone', 'for-c']);
  });

  it('services with policies of their own get messages of their own; the others share one', () => {
    const mesh = Mesh.of(
      { ...snapshot, services: [service('a'), service('b'), service('c'), service('d')] },
      null,
    );
    const cache = new SliceCache();
    const text = (s: string) =>
      JSON.parse(cache.snapshot(mesh, s).bytes.toString())
        .slice.authorizationPolicies.map((p: { name: string }) => p.name)
        .sort();
    expect(text('a')).toEqual(['everyone']);
    expect(text('d')).toEqual(['everyone']);
    expect(cache.snapshot(mesh, 'a')).toBe(cache.snapshot(mesh, 'd'));
    expect(text('b')).toEqual(['everyone', 'for-b']);
    expect(cache.snapshot(mesh, 'b').configDigest).not.toBe(cache.snapshot(mesh, 'a').configDigest);
    expect(
      JSON.parse(cache.config(mesh, 'c').bytes.toString())
        .config.authorizationPolicies.map((p: { name: string }) => p.name)
        .sort(),
    ).toEqual(['everyone', 'for-c']);
  });
});
