/**
 * GET /api/v1/proxies answers for every control-plane replica on the database, not only the one asked: two real
 * control planes on one Postgres, a proxy on each. A replica that cannot be asked is named with the error, and
 * the answer still comes.
 */
import { ProxyStatusList } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { eventually, FakeProxy, getJson, startPlane, streamUrl } from './support/proxy-client.ts';

let a: ControlPlane;
let b: ControlPlane;
const open: FakeProxy[] = [];

async function listOf(plane: ControlPlane, query = '') {
  const res = await getJson(`${plane.url}/api/v1/proxies${query}`);
  expect(res.status).toBe(200);
  return ProxyStatusList.parse(res.body);
}

beforeAll(async () => {
  const url = await createDatabase('replicas');
  a = await startPlane(url);
  b = await startPlane(url);
  for (const [plane, instance, address] of [
    [a, 'on-a', '10.8.0.1'],
    [b, 'on-b', '10.8.0.2'],
  ] as const) {
    const proxy = await FakeProxy.join(streamUrl(plane), { service: 'service-a', instance, address });
    open.push(proxy);
    proxy.ack((await proxy.snapshot()).data);
    await proxy.flush();
  }
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await a?.stop();
  await b?.stop();
});

describe('GET /api/v1/proxies across replicas', () => {
  it('lists the proxies of every replica, each with the replica it streams from', async () => {
    const fromA = await listOf(a);
    const fromB = await listOf(b);
    for (const list of [fromA, fromB]) {
      expect(list.items.map((p) => p.node.instance).sort()).toEqual(['on-a', 'on-b']);
      expect(list.replicas).toHaveLength(2);
      expect(list.replicas.every((r) => r.error === null)).toBe(true);
    }
    const onB = fromA.items.find((p) => p.node.instance === 'on-b');
    expect(onB?.replica).toBe(fromB.replicas[0]?.id);
    expect(onB?.replica).not.toBe(fromA.replicas[0]?.id);
    expect(onB?.status).not.toBe('DISCONNECTED');
  });

  it("scope=local lists only this replica's proxies; a bad scope is a 400 naming the field", async () => {
    const local = await listOf(a, '?scope=local');
    expect(local.items.map((p) => p.node.instance)).toEqual(['on-a']);
    expect(local.replicas).toHaveLength(1);
    const bad = await getJson(`${a.url}/api/v1/proxies?scope=everywhere`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('scope');
  });

  it('a replica that cannot be asked is reported with the error; the others still answer', async () => {
    const now = new Date();
    await a.db.controlReplica.create({
      data: { id: crypto.randomUUID(), url: 'http://127.0.0.1:1', startedAt: now, heartbeatAt: now },
    });
    const list = await listOf(a);
    expect(list.items.map((p) => p.node.instance).sort()).toEqual(['on-a', 'on-b']);
    const dead = list.replicas.find((r) => r.url === 'http://127.0.0.1:1');
    expect(dead?.error).toBeTruthy();
  });

  it('a replica whose URL reaches another replica is reported as misconfigured, its answer not counted', async () => {
    const now = new Date();
    const id = crypto.randomUUID();
    await a.db.controlReplica.create({ data: { id, url: a.url, startedAt: now, heartbeatAt: now } });
    try {
      const list = await listOf(b);
      expect(list.items.map((p) => p.node.instance).sort()).toEqual(['on-a', 'on-b']);
      expect(list.replicas.find((r) => r.id === id)?.error).toContain('TRELLIS_ADVERTISE_URL');
    } finally {
      await a.db.controlReplica.delete({ where: { id } });
    }
  });

  it('a stopped replica removes itself', async () => {
    const before = (await listOf(a)).replicas.length;
    const c = await startPlane(a.databaseUrl);
    await eventually(
      async () => ((await listOf(a)).replicas.length === before + 1 ? 1 : undefined),
      'c to be listed',
    );
    await c.stop();
    expect((await listOf(a)).replicas).toHaveLength(before);
  });
});
