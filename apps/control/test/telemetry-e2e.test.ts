/**
 * Telemetry end to end through a whole control plane: proxies join over /api/v1/stream/proxy and send telemetry
 * messages; the calls show up in GET /api/v1/topology and /api/v1/metrics, and a stop writes them to Postgres.
 * The plane runs on the real clock, so frames are dated a couple of seconds back, inside the live window.
 */
import { Topology } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/client.ts';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { FakeProxy, getJson, startPlane, streamUrl } from './support/proxy-client.ts';
import { edge, frame } from './support/telemetry.ts';

let databaseUrl: string;
let plane: ControlPlane | undefined;
const open: FakeProxy[] = [];

async function join(service: string, instance: string): Promise<FakeProxy> {
  if (!plane) throw new Error('no plane');
  const proxy = await FakeProxy.join(streamUrl(plane), { service, instance });
  open.push(proxy);
  await proxy.waitFor((m) => m.type === 'snapshot', `a snapshot for ${instance}`);
  return proxy;
}

beforeAll(async () => {
  databaseUrl = await createDatabase('telemetry');
  plane = await startPlane(databaseUrl);
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await plane?.stop();
});

describe('telemetry over the proxy stream', () => {
  it('shows what proxies report in the topology and the metrics, and writes it on stop', async () => {
    const a = await join('service-a', 'a-1');
    const b = await join('service-b', 'b-1');
    const second = Math.floor(Date.now() / 1000) * 1000 - 2000;
    a.send({
      type: 'telemetry',
      frames: [frame('service-a', second, [edge('service-a', 'service-b', { ok: 45, c5xx: 5 })], 'a-1')],
    });
    b.send({
      type: 'telemetry',
      frames: [
        frame('service-b', second, [edge('service-a', 'service-b', { ok: 45, c5xx: 5 })], 'b-1'),
        frame('service-b', second, [edge('service-b', 'service-c', { ok: 12 })], 'b-1'),
      ],
    });
    await Promise.all([a.flush(), b.flush()]);

    const url = plane?.url as string;
    const topology = Topology.parse((await getJson(`${url}/api/v1/topology`)).body);
    const ab = topology.edges.find((e) => e.source === 'service-a' && e.destination === 'service-b');
    expect(ab).toMatchObject({ reporter: 'source', requests: 50, rps: 5, errorRate: 0.1, idle: false });
    const bc = topology.edges.find((e) => e.source === 'service-b' && e.destination === 'service-c');
    expect(bc).toMatchObject({ reporter: 'source', requests: 12 });
    expect(topology.nodes.find((n) => n.service === 'service-b')).toMatchObject({
      reporter: 'destination',
      requests: 50,
      successRate: 0.9,
      health: 'degraded',
    });
    expect(topology.nodes.find((n) => n.service === 'service-c')).toMatchObject({
      reporter: 'source',
      requests: 12,
    });

    const metrics = await getJson(
      `${url}/api/v1/metrics?edge=service-a>service-b&from=${second - 60_000}&step=1m`,
    );
    expect(metrics.status).toBe(200);
    const total = metrics.body.points.reduce((n: number, p: { requests: number }) => n + p.requests, 0);
    expect(total).toBe(50);

    await Promise.all(open.splice(0).map((p) => p.close()));
    await plane?.stop();
    plane = undefined;
    const db = createDb(databaseUrl);
    try {
      const rows = await db.telemetryServiceBucket.findMany({
        where: { service: 'service-b', resolution: 10 },
      });
      expect(rows.map((r) => [r.reporter, Number(r.requests), Number(r.status5xx)]).sort()).toEqual([
        ['destination', 50, 5],
        ['source', 50, 5],
      ]);
    } finally {
      await db.$disconnect();
    }
  });
});
