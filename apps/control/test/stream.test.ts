/**
 * The proxy stream end to end: two real control planes on port 0 over one real Postgres database, and plain `ws`
 * clients as fake proxies. Covers hello → registration → snapshot → ACK/NACK and status, push on change (one
 * serialisation shared by every proxy), and a change made on one control plane reaching a proxy on the other.
 */
import { CLOSE_CODES, MeshSlice, ProxyStatusList, SnapshotMessage } from '@trellis/schema';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import {
  eventually,
  FakeProxy,
  getJson,
  proxyStatus,
  shiftCanary,
  startPlane,
  streamUrl,
} from './support/proxy-client.ts';

let databaseUrl: string;
let a: ControlPlane;
let b: ControlPlane;
const open: FakeProxy[] = [];

async function join(
  plane: ControlPlane,
  node: Parameters<typeof FakeProxy.join>[1],
  extra?: Parameters<typeof FakeProxy.join>[2],
) {
  const proxy = await FakeProxy.join(streamUrl(plane), node, extra);
  open.push(proxy);
  return proxy;
}

function canaryWeights(slice: MeshSlice): number[] {
  return (slice.routes.find((r) => r.name === 'service-b-canary')?.destinations ?? []).map((d) => d.weight);
}

beforeAll(async () => {
  databaseUrl = await createDatabase('stream');
  a = await startPlane(databaseUrl);
  b = await startPlane(databaseUrl);
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await a?.stop();
  await b?.stop();
});

describe('proxy stream', () => {
  it('hello registers the endpoint and brings a snapshot; ACK makes the proxy SYNCED', async () => {
    const proxy = await join(a, {
      service: 'service-a',
      instance: 'a-1',
      address: '10.0.1.1',
      port: 9101,
      zone: 'zone-9',
      labels: { version: 'v7' },
    });
    const { data } = await proxy.snapshot();
    const message = SnapshotMessage.parse(data);
    expect(message.nonce).toMatch(/^[0-9a-f]{32}$/);
    const slice = MeshSlice.parse(message.slice);
    // The seed declares service-a's dependencies: its slice is service-a and what it calls, not the whole mesh.
    expect(slice.services.map((s) => s.name)).toEqual(['service-a', 'service-b']);
    expect(slice.routes.map((r) => r.name)).toEqual(['service-b-canary']);
    expect(slice.policies.map((p) => p.name)).toEqual([]);
    // The proxy's own registration is part of the revision it was sent.
    expect(slice.endpoints).toContainEqual(
      expect.objectContaining({
        service: 'service-a',
        address: '10.0.1.1',
        port: 9101,
        zone: 'zone-9',
        labels: { version: 'v7' },
        source: 'proxy',
        health: 'healthy',
      }),
    );

    const endpoints = await getJson(`${a.url}/api/v1/services/service-a/endpoints`);
    const mine = endpoints.body.items.find((e: any) => e.address === '10.0.1.1');
    expect(mine).toMatchObject({ source: 'proxy', health: 'healthy', port: 9101, expiresAt: null });
    const audit = await getJson(`${a.url}/api/v1/audit?kind=endpoint&resourceName=service-a/10.0.1.1:9101`);
    expect(audit.body.items[0]).toMatchObject({ action: 'create', actor: 'proxy:service-a/a-1' });

    expect(await proxyStatus(a, 'service-a', 'a-1')).toMatchObject({
      status: 'STALE',
      lastSent: { revision: message.revision, nonce: message.nonce },
      ackedRevision: null,
    });
    proxy.ack(message);
    await proxy.flush();
    const list = ProxyStatusList.parse((await getJson(`${a.url}/api/v1/proxies`)).body);
    const status = list.items.find((p) => p.node.instance === 'a-1');
    expect(status).toMatchObject({
      status: 'SYNCED',
      currentRevision: message.revision,
      ackedRevision: message.revision,
      endpointId: mine.id,
      disconnectedAt: null,
      lastNack: null,
    });
    expect(status?.convergenceMs).toBeGreaterThanOrEqual(0);
  });

  it('pushes every change to every proxy that sees it at once, serialising each slice once per revision', async () => {
    const b1 = await join(a, { service: 'service-b', instance: 'b-1', address: '10.0.2.1' });
    const b2 = await join(a, { service: 'service-b', instance: 'b-2', address: '10.0.2.2' });
    const a1 = await join(a, { service: 'service-a', instance: 'a-push', address: '10.0.1.2' });
    const c1 = await join(a, { service: 'service-c', instance: 'c-1', address: '10.0.3.1' });
    const joined = Math.max(
      ...(await Promise.all([b1, b2, a1, c1].map((p) => p.snapshot()))).map((m) => m.data.revision),
    );
    const cMark = c1.received.length;
    const revision = await shiftCanary(a, 25);
    expect(revision).toBeGreaterThan(joined);

    const got = await Promise.all([b1, b2, a1].map((p) => p.update(revision)));
    for (const m of got) {
      expect(m.data).toMatchObject({ type: 'config', revision });
      expect(canaryWeights(MeshSlice.parse(m.view))).toEqual([75, 25]);
    }
    // One serialisation per distinct slice: b-1 and b-2 get the very same bytes (one nonce); a-push, whose slice
    // differs, another. Only the configuration changed, so only the configuration was sent. service-c does not
    // call service-b: nothing.
    expect(got[0]?.raw.equals(got[1]?.raw as Buffer)).toBe(true);
    expect(got[0]?.raw.equals(got[2]?.raw as Buffer)).toBe(false);
    await c1.flush();
    expect(c1.received.length).toBe(cMark);
  });

  it('a NACK shows as NACKED with the error; answers with a stale nonce are ignored', async () => {
    const proxy = await join(a, { service: 'service-c', instance: 'c-nack', address: '10.0.3.9' });
    const first = (await proxy.snapshot()).data;
    proxy.send({
      type: 'nack',
      revision: first.revision,
      nonce: first.nonce,
      error: 'route service-b-canary: subset version=v2 has no endpoints',
      errors: [{ path: 'routes[0].destinations[1]', message: 'no endpoints' }],
    });
    await proxy.flush();
    expect(await proxyStatus(a, 'service-c', 'c-nack')).toMatchObject({
      status: 'NACKED',
      ackedRevision: null,
      lastNack: {
        revision: first.revision,
        nonce: first.nonce,
        error: 'route service-b-canary: subset version=v2 has no endpoints',
        errors: [{ path: 'routes[0].destinations[1]', message: 'no endpoints' }],
      },
    });

    proxy.ack({ revision: first.revision, nonce: 'f'.repeat(32) });
    await proxy.flush();
    expect((await proxyStatus(a, 'service-c', 'c-nack')).status).toBe('NACKED');

    const revision = await shiftCanary(a, 30);
    const next = (await proxy.update(revision)).data;
    await proxy.flush();
    expect((await proxyStatus(a, 'service-c', 'c-nack')).status).toBe('STALE');
    proxy.ack(first); // the answer to an older snapshot
    await proxy.flush();
    expect((await proxyStatus(a, 'service-c', 'c-nack')).status).toBe('STALE');
    proxy.ack(next);
    await proxy.flush();
    expect(await proxyStatus(a, 'service-c', 'c-nack')).toMatchObject({
      status: 'SYNCED',
      ackedRevision: next.revision,
    });
  });

  it('a change made through one control plane reaches a proxy connected to another', async () => {
    const onB = await join(b, { service: 'service-b', instance: 'b-remote', address: '10.0.2.50' });
    await onB.snapshot();
    const revision = await shiftCanary(a, 40);
    const { data, view } = await onB.update(revision);
    expect(canaryWeights(MeshSlice.parse(view))).toEqual([60, 40]);
    onB.ack(data);
    await onB.flush();
    expect((await proxyStatus(b, 'service-b', 'b-remote')).status).toBe('SYNCED');
    // A answers for B's proxies too (it asks B), and says where the proxy streams from.
    const seenFromA = await proxyStatus(a, 'service-b', 'b-remote');
    expect(seenFromA.status).toBe('SYNCED');
    expect(seenFromA.replica).toBe((await proxyStatus(b, 'service-b', 'b-remote')).replica);
  });

  it('keeps delivering after the LISTEN sessions are cut, including changes made while they were away', async () => {
    const onB = await join(b, { service: 'service-b', instance: 'b-listen', address: '10.0.2.51' });
    await onB.snapshot();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
         WHERE application_name = 'trellis-control-listen' AND datname = current_database()`,
      );
      expect(rows.length).toBe(2);
      const revision = await shiftCanary(a, 45);
      const { view } = await onB.update(revision);
      expect(canaryWeights(MeshSlice.parse(view))).toEqual([55, 45]);
      await eventually(async () => {
        const { rows: back } = await admin.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE application_name = 'trellis-control-listen' AND datname = current_database()`,
        );
        return back[0].n === 2 ? true : undefined;
      }, 'both LISTEN sessions to come back');
      const after = await shiftCanary(a, 50);
      expect(canaryWeights(MeshSlice.parse((await onB.update(after)).view))).toEqual([50, 50]);
    } finally {
      await admin.end();
    }
  });

  it('a burst of changes ends with every proxy on the last revision, never going backwards', async () => {
    const proxy = await join(b, { service: 'service-a', instance: 'a-burst', address: '10.0.1.60' });
    await proxy.snapshot();
    const before = proxy.received.length;
    let last = 0;
    for (const weight of [1, 2, 3, 4, 5]) last = await shiftCanary(a, weight);
    const { view } = await proxy.update(last);
    expect(canaryWeights(MeshSlice.parse(view))).toEqual([95, 5]);
    const revisions = proxy.received.slice(before).map((m) => m.data.revision);
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(new Set(revisions).size).toBe(revisions.length);
  });

  it('a proxy that already has the current revision is not sent it again', async () => {
    const first = await join(a, { service: 'service-b', instance: 'b-again', address: '10.0.2.70' });
    const { data } = await first.snapshot();
    first.ack(data);
    await first.close();
    const current = a.stream.currentRevision;
    const again = await join(
      a,
      { service: 'service-b', instance: 'b-again', address: '10.0.2.70' },
      { revision: current, mesh: data.mesh },
    );
    await eventually(async () => {
      const s = await proxyStatus(a, 'service-b', 'b-again');
      return s?.disconnectedAt === null && s.endpointId !== null ? s : undefined;
    }, 'the reconnected proxy to be ready');
    await again.flush();
    expect(again.received).toEqual([]);
    expect(await proxyStatus(a, 'service-b', 'b-again')).toMatchObject({
      status: 'SYNCED',
      ackedRevision: current,
      lastSent: null,
    });
  });

  it('a revision from another mesh (another database) counts for nothing: the proxy gets its whole slice', async () => {
    const current = a.stream.currentRevision;
    const stranger = await join(
      a,
      { service: 'service-b', instance: 'b-stranger', address: '10.0.2.71' },
      { revision: current, mesh: '00000000-0000-4000-8000-000000000000' },
    );
    const { data } = await stranger.snapshot();
    expect(data.mesh).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.mesh).not.toBe('00000000-0000-4000-8000-000000000000');
  });

  it('a second connection of the same instance replaces the first', async () => {
    const old = await join(a, { service: 'service-c', instance: 'c-twice', address: '10.0.3.80' });
    await old.snapshot();
    const fresh = await join(a, { service: 'service-c', instance: 'c-twice', address: '10.0.3.80' });
    expect((await old.closed).code).toBe(CLOSE_CODES.replaced);
    await fresh.snapshot();
    const entries = (await getJson(`${a.url}/api/v1/proxies`)).body.items.filter(
      (p: any) => p.node.instance === 'c-twice',
    );
    expect(entries).toHaveLength(1);
    expect(entries[0].disconnectedAt).toBeNull();
  });
});
