/**
 * Telemetry end to end through a whole control plane: proxies join over /api/v1/stream/proxy and send telemetry
 * messages; the calls show up in GET /api/v1/topology and /api/v1/metrics, and a stop writes them to Postgres.
 * The plane runs on the real clock, so frames are dated a couple of seconds back, inside the live window. A real
 * proxy in front of an upstream answering 500 ejects it, and the topology shows the ejection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlClient, createProxy, type TrellisProxy } from '@trellis/proxy';
import { Topology } from '@trellis/schema';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/client.ts';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { eventually, FakeProxy, getJson, JOIN_TOKEN, startPlane, streamUrl } from './support/proxy-client.ts';
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

async function upstream(status: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/** One request through the proxy's outbound listener to `host`; resolves with the status. */
function call(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('telemetry over the proxy stream', () => {
  it('shows an endpoint a real proxy ejected in the topology', async () => {
    const url = plane?.url as string;
    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${url}/api/v1${path}`, {
        method: 'POST',
        headers: { ...bearer(), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, `${path}: ${await res.text()}`).toBe(201);
    };
    const sick = await upstream(500);
    const well = await upstream(200);
    let proxy: TrellisProxy | undefined;
    let client: ControlClient | undefined;
    try {
      await api('/services', { name: 'shop', port: 8080 });
      await api('/services', { name: 'storefront', port: 8080, dependencies: ['shop'] });
      for (const server of [sick, well]) {
        await api('/services/shop/endpoints', {
          address: '127.0.0.1',
          port: portOf(server),
          source: 'static',
        });
      }
      await api('/policies', {
        name: 'shop-ejections',
        service: 'shop',
        loadBalancer: { type: 'round_robin' },
        outlierDetection: {
          consecutive5xx: 3,
          intervalMs: 1000,
          baseEjectionTimeMs: 60_000,
          maxEjectionPercent: 50,
        },
      });

      const bootstrap = {
        node: { service: 'storefront', instance: 'storefront-1' },
        listeners: [{ name: 'out', mode: 'outbound' as const, port: 0 }],
      };
      proxy = await createProxy(
        { ...bootstrap, services: [] },
        { drainTimeoutMs: 200, sink: { publish: (frame) => client?.publish(frame) } },
      );
      client = new ControlClient({
        url: streamUrl({ url }),
        token: JOIN_TOKEN,
        identity: {
          service: 'storefront',
          instance: 'storefront-1',
          address: '127.0.0.1',
          port: 15007,
          zone: '',
          labels: {},
        },
        bootstrap,
        proxy,
        logger: pino({ level: 'silent' }),
      });
      await client.start();
      const running = proxy;
      await eventually(
        async () =>
          running.clusterStatus().find((c) => c.service === 'shop')?.endpoints.length === 2
            ? true
            : undefined,
        'the shop endpoints in the proxy',
      );

      const out = running.address('out')?.port as number;
      const sickKey = `127.0.0.1:${portOf(sick)}`;
      await eventually(
        async () => {
          await call(out, 'shop');
          const shop = running.clusterStatus().find((c) => c.service === 'shop');
          return shop?.endpoints.some((e) => e.port === portOf(sick) && e.ejected) ? true : undefined;
        },
        'the proxy to eject the upstream answering 500',
        10_000,
      );

      const node = await eventually(
        async () => {
          const topology = Topology.parse((await getJson(`${url}/api/v1/topology`)).body);
          const shop = topology.nodes.find((n) => n.service === 'shop');
          return shop && shop.ejectedEndpoints.length > 0 ? shop : undefined;
        },
        'the ejection in the topology',
        10_000,
        100,
      );
      expect(node.ejectedEndpoints).toEqual([{ endpoint: sickKey, proxies: 1 }]);
      const topology = Topology.parse((await getJson(`${url}/api/v1/topology`)).body);
      expect(topology.edges.find((e) => e.source === 'storefront' && e.destination === 'shop')).toMatchObject(
        {
          declared: true,
          overflows: 0,
          breakerOpen: false,
        },
      );
    } finally {
      await client?.stop();
      await proxy?.close();
      for (const server of [sick, well]) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    }
  });

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
