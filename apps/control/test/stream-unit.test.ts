/**
 * The stream's pure parts: what a slice contains and how it is scoped, one serialisation per revision and
 * message, the in-memory mesh and its change log, latest-wins
 * coalescing of revision bursts, close reasons that fit a close frame.
 */
import {
  applyEndpointsMessage,
  ConfigMessage,
  type Endpoint,
  EndpointsMessage,
  MeshSlice,
  MeshSliceConfig,
  type MeshSnapshot,
  RouteRuleSpec,
  SnapshotMessage,
} from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { Batcher } from '../src/stream/batch.ts';
import { LatestOnly } from '../src/stream/coalesce.ts';
import { closeReason } from '../src/stream/hub.ts';
import { ChangeLog, Mesh, proxyEndpoint } from '../src/stream/mesh.ts';
import { SliceCache, sliceFor, sliceScope } from '../src/stream/slice.ts';

const meta = (n: number) => ({
  id: `00000000-0000-4000-8000-00000000000${n}`,
  version: 3,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-02T00:00:00.000Z',
});

function snapshot(revision: number, dependencies?: Record<string, string[]>): MeshSnapshot {
  const deps = (name: string) => (dependencies?.[name] ? { dependencies: dependencies[name] } : {});
  return {
    revision,
    services: [
      { name: 'api', protocol: 'http', port: 8080, labels: {}, description: '', ...deps('api'), ...meta(1) },
      {
        name: 'db',
        protocol: 'tcp',
        port: 5432,
        labels: { tier: 'data' },
        description: 'store',
        ...deps('db'),
        ...meta(2),
      },
      { name: 'web', protocol: 'http', port: 80, labels: {}, description: '', ...deps('web'), ...meta(5) },
    ],
    endpoints: [dbEndpoint('10.0.0.1')],
    routes: [
      {
        ...RouteRuleSpec.parse({ name: 'api-main', service: 'api', destinations: [{ weight: 100 }] }),
        ...meta(4),
      },
    ],
    policies: [],
  };
}

function dbEndpoint(address: string): Endpoint {
  return {
    service: 'db',
    address,
    port: 5432,
    labels: {},
    zone: 'z1',
    weight: 1,
    health: 'unhealthy',
    source: 'proxy',
    ttlSeconds: 30,
    lastSeen: '2026-01-02T00:00:00.000Z',
    expiresAt: null,
    ...meta(3),
  };
}

const mesh = (revision: number, dependencies?: Record<string, string[]>) =>
  Mesh.of(snapshot(revision, dependencies), null);

describe('sliceFor', () => {
  it('strips control-plane metadata, keeps unhealthy endpoints, and validates as a MeshSlice', () => {
    const slice = sliceFor(mesh(7), 'api');
    expect(MeshSlice.safeParse(slice).success).toBe(true);
    expect(slice.services.map((s) => s.name)).toEqual(['api', 'db', 'web']);
    expect(slice.endpoints).toEqual([
      {
        service: 'db',
        address: '10.0.0.1',
        port: 5432,
        labels: {},
        zone: 'z1',
        weight: 1,
        health: 'unhealthy',
        source: 'proxy',
        ttlSeconds: 30,
      },
    ]);
    const text = JSON.stringify(slice);
    for (const field of ['"id"', '"version"', '"createdAt"', '"updatedAt"', '"lastSeen"', '"expiresAt"']) {
      expect(text).not.toContain(field);
    }
  });

  it('holds only the declared dependencies and the service itself when it declares them', () => {
    const scoped = mesh(7, { web: ['api'] });
    const slice = sliceFor(scoped, 'web');
    expect(slice.services.map((s) => s.name)).toEqual(['api', 'web']);
    expect(slice.routes.map((r) => r.name)).toEqual(['api-main']);
    expect(slice.endpoints).toEqual([]);
    expect(sliceScope(scoped, 'web')).toEqual(new Set(['web', 'api']));
    // The proxy of a deleted service is owed nothing (it is closed at the next liveness check).
    expect(sliceScope(scoped, 'deleted')).toEqual(new Set());
    // A service without declared dependencies still sees the whole mesh.
    expect(sliceFor(scoped, 'db').services.map((s) => s.name)).toEqual(['api', 'db', 'web']);
  });
});

describe('SliceCache', () => {
  it('serialises once per revision for proxies with the same slice, and again for a new revision', () => {
    const cache = new SliceCache();
    const m7 = mesh(7);
    const first = cache.snapshot(m7, 'api');
    expect(cache.snapshot(m7, 'api')).toBe(first);
    expect(cache.snapshot(m7, 'db')).toBe(first); // same scope: the whole mesh
    expect(cache.serialisationsFor(7)).toBe(1);
    const message = SnapshotMessage.parse(JSON.parse(first.bytes.toString('utf8')));
    expect(message).toMatchObject({ type: 'snapshot', revision: 7, nonce: first.nonce });
    expect(MeshSlice.parse(message.slice)).toEqual(sliceFor(m7, 'api'));

    const next = cache.snapshot(mesh(8), 'api');
    expect(next.revision).toBe(8);
    expect(next.nonce).not.toBe(first.nonce);
    expect(next.sliceDigest).toBe(first.sliceDigest); // same slice content at another revision
    expect(cache.serialisationsFor(8)).toBe(1);
    expect(cache.serialisations).toBe(2);
  });

  it('gives different scopes different messages, and digests that change only with the slice', () => {
    const cache = new SliceCache();
    const m = mesh(3, { web: ['api'] });
    const web = cache.snapshot(m, 'web');
    const db = cache.snapshot(m, 'db');
    expect(web).not.toBe(db);
    expect(web.sliceDigest).not.toBe(db.sliceDigest);
    m.applyEndpoints(4, { db: [dbEndpoint('10.0.0.1'), dbEndpoint('10.0.0.2')] }, null);
    expect(cache.snapshot(m, 'web').sliceDigest).toBe(web.sliceDigest);
    const dbNext = cache.snapshot(m, 'db');
    expect(dbNext.sliceDigest).not.toBe(db.sliceDigest);
    expect(dbNext.configDigest).toBe(db.configDigest); // only endpoints changed
    const config = cache.config(m, 'db');
    expect(config.configDigest).toBe(db.configDigest);
    const message = ConfigMessage.parse(JSON.parse(config.bytes.toString('utf8')));
    expect(MeshSliceConfig.parse(message.config)).toEqual({
      services: sliceFor(m, 'db').services,
      routes: sliceFor(m, 'db').routes,
      policies: sliceFor(m, 'db').policies,
      authorizationPolicies: sliceFor(m, 'db').authorizationPolicies,
      mtls: sliceFor(m, 'db').mtls,
      http: sliceFor(m, 'db').http,
    });
  });

  it('digests content, not key order (resources read back from jsonb come with their keys reordered)', () => {
    const reverse = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse()) as T;
    const plain = snapshot(5);
    const shuffled = {
      ...plain,
      services: plain.services.map(reverse),
      routes: plain.routes.map(reverse),
      endpoints: plain.endpoints.map(reverse),
    };
    const a = new SliceCache().snapshot(Mesh.of(plain, null), 'api');
    const b = new SliceCache().snapshot(Mesh.of(shuffled, null), 'api');
    expect(a.bytes.equals(b.bytes)).toBe(false);
    expect(b.configDigest).toBe(a.configDigest);
    expect(b.sliceDigest).toBe(a.sliceDigest);
  });

  it('carries the mesh settings in every slice and digest: a change to http.mergeSlashes alone is a new configuration', () => {
    const mtls = { mode: 'strict' as const };
    // A revision stored before the path settings existed: proxies get the default, as the database then held.
    const older = Mesh.of({ ...snapshot(5), settings: { mtls } }, null);
    const off = Mesh.of({ ...snapshot(5), settings: { mtls, http: { mergeSlashes: false } } }, null);
    const on = Mesh.of({ ...snapshot(5), settings: { mtls, http: { mergeSlashes: true } } }, null);
    expect(sliceFor(older, 'web')).toMatchObject({ mtls, http: { mergeSlashes: false } });
    expect(sliceFor(on, 'web').http).toEqual({ mergeSlashes: true });
    const digests = [older, off, on].map((m) => new SliceCache().config(m, 'web').configDigest);
    expect(digests[0]).toBe(digests[1]);
    expect(digests[2]).not.toBe(digests[1]);
    const sent = SnapshotMessage.parse(
      JSON.parse(new SliceCache().snapshot(on, 'web').bytes.toString('utf8')),
    );
    expect(MeshSlice.parse(sent.slice).http).toEqual({ mergeSlashes: true });
    const config = ConfigMessage.parse(JSON.parse(new SliceCache().config(on, 'web').bytes.toString('utf8')));
    expect(MeshSliceConfig.parse(config.config).http).toEqual({ mergeSlashes: true });
  });

  it('serialises one endpoints delta per set of services and revision', () => {
    const cache = new SliceCache();
    const m = mesh(3);
    m.applyEndpoints(4, { db: [dbEndpoint('10.0.0.2')] }, null);
    const delta = cache.endpoints(m, ['db']);
    expect(cache.endpoints(m, ['db'])).toBe(delta);
    const message = EndpointsMessage.parse(JSON.parse(delta.bytes.toString('utf8')));
    expect(message.revision).toBe(4);
    expect(message.nonce).toBe(delta.nonce);
    expect(message.services.db?.map((e) => e.address)).toEqual(['10.0.0.2']);
    expect(JSON.stringify(message)).not.toContain('lastSeen');
  });
});

describe('Mesh and ChangeLog', () => {
  it("applies endpoint lists per service; an empty list removes the service's endpoints", () => {
    const m = mesh(1);
    m.applyEndpoints(2, { db: [], web: [{ ...dbEndpoint('10.0.0.9'), service: 'web' }] }, null);
    expect(m.revision).toBe(2);
    expect(m.configRevision).toBe(1);
    expect(m.endpointsOf('db')).toEqual([]);
    expect(m.endpointsOf('web').map((e) => e.address)).toEqual(['10.0.0.9']);
    expect(m.endpointCount).toBe(1);
  });

  it('tells which services changed since a revision, or null across a config change or beyond its reach', () => {
    const log = new ChangeLog(3);
    log.add({ revision: 5, services: ['a'] });
    log.add({ revision: 6, services: ['b'] });
    log.add({ revision: 7, services: null });
    log.add({ revision: 8, services: ['c'] });
    expect(log.endpointsChangedSince(7, 8)).toEqual(new Set(['c']));
    expect(log.endpointsChangedSince(8, 8)).toEqual(new Set());
    expect(log.endpointsChangedSince(6, 8)).toBeNull(); // revision 7 changed configuration
    expect(log.endpointsChangedSince(4, 8)).toBeNull(); // revision 5 fell out of the log
    expect(log.endpointsChangedSince(7, 9)).toBeNull(); // the log does not reach 9 yet
    log.add({ revision: 10, services: ['d'] }); // a gap: the log starts again
    expect(log.endpointsChangedSince(8, 10)).toBeNull();
    expect(log.endpointsChangedSince(9, 10)).toEqual(new Set(['d']));
  });
});

describe('LatestOnly', () => {
  function harness() {
    const runs: number[] = [];
    const gates: (() => void)[] = [];
    const latest = new LatestOnly(
      (target) => {
        runs.push(target);
        return new Promise<number>((resolve) => gates.push(() => resolve(target)));
      },
      () => undefined,
    );
    const release = async () => {
      while (gates.length === 0) await Promise.resolve();
      gates.shift()?.();
    };
    return { latest, runs, release };
  }

  it('collapses offers made while a run is in flight into one run for the highest', async () => {
    const { latest, runs, release } = harness();
    latest.offer(5);
    await Promise.resolve();
    latest.offer(6);
    latest.offer(7);
    await release();
    await release();
    await latest.idle();
    expect(runs).toEqual([5, 7]);
    expect(latest.reached).toBe(7);
  });

  it('offers made in the same tick share one run; old offers do nothing', async () => {
    const { latest, runs, release } = harness();
    latest.offer(5);
    latest.offer(6);
    latest.offer(7);
    await release();
    await latest.idle();
    latest.offer(6);
    await latest.idle();
    expect(runs).toEqual([7]);
  });

  it('reach() waits for the target; refresh() runs again even when nothing new was offered', async () => {
    const { latest, runs, release } = harness();
    let reached = false;
    const waiting = latest.reach(3).then(() => {
      reached = true;
    });
    await Promise.resolve();
    expect(reached).toBe(false);
    await release();
    await waiting;
    expect(reached).toBe(true);
    latest.refresh();
    await release();
    await latest.idle();
    expect(runs).toEqual([3, 3]);
  });

  it('after a failed run, retry() runs again for what is pending', async () => {
    let fail = true;
    const errors: unknown[] = [];
    const runs: number[] = [];
    const latest = new LatestOnly(
      async (target) => {
        runs.push(target);
        if (fail) throw new Error('database away');
        return target;
      },
      (e) => errors.push(e),
    );
    latest.offer(4);
    await latest.idle();
    expect(errors).toHaveLength(1);
    expect(latest.reached).toBe(-1);
    fail = false;
    latest.retry();
    await latest.idle();
    expect(runs).toEqual([4, 4]);
    expect(latest.reached).toBe(4);
  });
});

describe('closeReason', () => {
  it('keeps short reasons and cuts long ones at a character boundary within 123 bytes', () => {
    expect(closeReason('invalid join token')).toBe('invalid join token');
    const long = closeReason(`bad: ${'ü'.repeat(100)}`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.endsWith('…')).toBe(true);
    expect(long).not.toContain('\ufffd');
    expect(closeReason('x'.repeat(123))).toBe('x'.repeat(123));
  });
});

describe('Batcher', () => {
  it('runs a lone item at once and gathers what arrives meanwhile into the next batch', async () => {
    const batches: number[][] = [];
    const gates: (() => void)[] = [];
    const batcher = new Batcher<number, string>(async (items) => {
      batches.push(items);
      await new Promise<void>((resolve) => gates.push(resolve));
      return items.map((n) => (n < 0 ? new Error(`bad ${n}`) : `ok ${n}`));
    }, 3);
    const first = batcher.submit(1);
    const rest = [2, -3, 4, 5].map((n) => batcher.submit(n));
    while (gates.length === 0) await Promise.resolve();
    expect(batches).toEqual([[1]]);
    gates.shift()?.();
    expect(await first).toBe('ok 1');
    while (gates.length === 0) await Promise.resolve();
    expect(batches).toEqual([[1], [2, -3, 4]]);
    gates.shift()?.();
    while (gates.length === 0) await Promise.resolve();
    gates.shift()?.();
    const settled = await Promise.allSettled(rest);
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'ok 2',
      'bad -3',
      'ok 4',
      'ok 5',
    ]);
    expect(batches).toEqual([[1], [2, -3, 4], [5]]);
    await batcher.idle();
  });

  it('fails every item of a batch whose run throws, and goes on with the next', async () => {
    let calls = 0;
    const batcher = new Batcher<number, number>(async (items) => {
      calls += 1;
      if (calls === 1) throw new Error('database away');
      return items;
    });
    const a = batcher.submit(1);
    const b = batcher.submit(2);
    await expect(a).rejects.toThrow('database away');
    expect(await b).toBe(2);
  });
});

describe('endpoint diffs', () => {
  it('applyEndpoints reports what changed as proxies see it; the log composes steps into one diff', () => {
    const m = mesh(1);
    const log = new ChangeLog();
    const step = (revision: number, addresses: string[], touch = false) => {
      const list = addresses.map((a) => ({
        ...dbEndpoint(a),
        ...(touch ? { lastSeen: '2027-01-01T00:00:00.000Z' } : {}),
      }));
      const diffs = m.applyEndpoints(revision, { db: list }, null);
      log.add({ revision, services: ['db'], diffs });
      return diffs.db;
    };
    log.add({ revision: 1, services: null });
    expect(step(2, ['10.0.0.1', '10.0.0.2'])?.set.map((e) => e.address)).toEqual(['10.0.0.2']);
    // A new lastSeen is not a change a proxy can see.
    expect(step(3, ['10.0.0.1', '10.0.0.2'], true)).toEqual({ set: [], remove: [] });
    expect(step(4, ['10.0.0.2', '10.0.0.3'])).toMatchObject({
      remove: [{ address: '10.0.0.1', port: 5432 }],
    });
    const composed = log.endpointDiffsSince(1, 4, ['db'])?.db;
    expect(composed?.set.map((e) => e.address).sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(composed?.remove).toEqual([{ address: '10.0.0.1', port: 5432 }]);
    // Applied to what a proxy at revision 1 held, the composed diff gives the list at revision 4.
    const held = applyEndpointsMessage([proxyEndpoint(dbEndpoint('10.0.0.1'))], {
      services: {},
      changes: { db: { set: composed?.set.map(proxyEndpoint) ?? [], remove: composed?.remove ?? [] } },
    });
    expect(held.map((e) => e.address).sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    // Steps read back from the database carry no diffs: the log says so.
    log.reset([{ revision: 5, services: ['db'] }]);
    expect(log.endpointDiffsSince(4, 5, ['db'])).toBeNull();
  });
});

describe('a service deleted and created again between two updates', () => {
  it('counts as an endpoint change of that service, so proxies holding its old endpoints get their whole slice', () => {
    const m = mesh(1);
    const log = new ChangeLog();
    log.add({ revision: 1, services: null });
    const withoutDb = { ...snapshot(2), services: snapshot(2).services.filter((s) => s.name !== 'db') };
    const { endpoints: _gone, ...configWithoutDb } = withoutDb;
    const dropped = m.applyConfig(configWithoutDb, null);
    expect(dropped).toEqual(['db']);
    log.add({ revision: 2, services: null, dropped });
    const { endpoints: _none, ...configWithDb } = snapshot(3);
    expect(m.applyConfig(configWithDb, null)).toEqual([]);
    log.add({ revision: 3, services: null, dropped: [] });
    expect(m.endpointsOf('db')).toEqual([]);
    expect(log.since(1, 3)).toEqual({ config: true, services: new Set(['db']) });
    expect(log.endpointDiffsSince(1, 3, ['db'])).toBeNull();
  });
});
