/**
 * The two halves together: a real control plane (REST + proxy stream over Postgres) and a real proxy with its
 * control-plane client, in front of real upstreams. A route change made through REST reaches the proxy, is
 * ACKed, shows in /api/v1/proxies, and changes where traffic actually goes. Instances joining (a second real
 * proxy registering itself) and leaving (its proxy stopping) show up in the first proxy's cluster.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlClient, createProxy, type TrellisProxy } from '@trellis/proxy';
import type { ProxyStatus } from '@trellis/schema';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { eventually, JOIN_TOKEN, startPlane, streamUrl } from './support/proxy-client.ts';

/** The grace period after which a departed instance's endpoint is unhealthy (short, for the churn test). */
const CHURN_GRACE_MS = 1000;
/** What the README states: a joining instance is in other proxies' clusters within this time. */
const JOIN_VISIBLE_MS = 2000;

let plane: ControlPlane;
let proxy: TrellisProxy;
let client: ControlClient;
const upstreams: http.Server[] = [];
let ports: Record<string, number> = {};

async function upstream(name: string): Promise<number> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstreams.push(server);
  return (server.address() as AddressInfo).port;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${plane.url}/api/v1${path}`, {
    method,
    headers: body === undefined ? bearer() : { ...bearer(), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
}

async function through(path = '/'): Promise<string> {
  const port = proxy.address('out')?.port;
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host: 'shop' } }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve((JSON.parse(text) as { upstream: string }).upstream));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('e2e'), {
    seed: false,
    proxyGraceMs: CHURN_GRACE_MS,
    proxyTtlMs: CHURN_GRACE_MS * 3,
    proxyReconnectWindowMs: 0,
  });
  ports = { v1: await upstream('v1'), v2: await upstream('v2') };
  await api('POST', '/services', { name: 'shop', port: 8080 });
  await api('POST', '/services', { name: 'frontend', port: 8080 });
  for (const [version, port] of Object.entries(ports)) {
    await api('POST', '/services/shop/endpoints', {
      address: '127.0.0.1',
      port,
      labels: { version },
      source: 'static',
    });
  }
  await api('POST', '/routes', {
    name: 'shop-split',
    service: 'shop',
    destinations: [
      { subset: { version: 'v1' }, weight: 100 },
      { subset: { version: 'v2' }, weight: 0 },
    ],
  });
  const bootstrap = {
    node: { service: 'frontend', instance: 'fe-1' },
    listeners: [
      { name: 'out', mode: 'outbound' as const, port: 0 },
      // A port for shop alone: a slice without shop cannot be applied (the forced NACK below).
      { name: 'shop-port', mode: 'outbound' as const, port: 0, service: 'shop' },
    ],
  };
  proxy = await createProxy(
    { ...bootstrap, services: [{ name: 'shop', port: 8080 }] },
    { drainTimeoutMs: 500 },
  );
  client = new ControlClient({
    url: streamUrl(plane),
    token: JOIN_TOKEN,
    identity: {
      service: 'frontend',
      instance: 'fe-1',
      address: '127.0.0.1',
      port: 15006,
      zone: '',
      labels: {},
    },
    bootstrap,
    proxy,
    logger: pino({ level: 'silent' }),
  });
  await client.start();
});

afterAll(async () => {
  await client?.stop();
  await proxy?.close();
  await plane?.stop();
  for (const s of upstreams) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('control plane → proxy', () => {
  it('the proxy receives the mesh, ACKs it, and is SYNCED in /api/v1/proxies', async () => {
    const revision = (await api('GET', '/revisions?limit=1')).body.items[0].revision;
    await eventually(
      async () => (client.revision !== undefined && client.revision >= revision ? true : undefined),
      'first snapshot',
    );
    const status = await eventually(async () => {
      const items = (await api('GET', '/proxies')).body.items as ProxyStatus[];
      return items.find((p) => p.node.service === 'frontend' && p.status === 'SYNCED');
    }, 'SYNCED status');
    expect(status.node.instance).toBe('fe-1');
    expect(status.convergenceMs).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 10; i++) expect(await through()).toBe('v1');
  });

  it('a route change through REST moves the traffic, without polling', async () => {
    const current = (await api('GET', '/routes/shop-split')).body;
    const put = await api('PUT', '/routes/shop-split', {
      name: 'shop-split',
      service: 'shop',
      destinations: [
        { subset: { version: 'v1' }, weight: 0 },
        { subset: { version: 'v2' }, weight: 100 },
      ],
      version: current.version,
    });
    expect(put.status).toBe(200);
    const target = (await api('GET', '/revisions?limit=1')).body.items[0].revision as number;
    await eventually(
      async () => (client.revision === target ? true : undefined),
      `revision ${target} applied`,
    );
    for (let i = 0; i < 10; i++) expect(await through()).toBe('v2');
    const status = await eventually(async () => {
      const items = (await api('GET', '/proxies')).body.items as ProxyStatus[];
      return items.find((p) => p.node.service === 'frontend' && p.ackedRevision === target);
    }, 'ACK recorded');
    expect(status.status).toBe('SYNCED');
  });

  it('the proxy registered its own endpoint (discovery)', async () => {
    const endpoints = (await api('GET', '/services/frontend/endpoints')).body.items;
    expect(endpoints).toContainEqual(
      expect.objectContaining({ address: '127.0.0.1', port: 15006, source: 'proxy' }),
    );
  });

  it('endpoint churn: a joining instance takes traffic within the stated time; a departing one is dropped at once', async () => {
    const v3 = await upstream('v3');
    const bootstrap = {
      node: { service: 'shop', instance: 'shop-v3' },
      listeners: [{ name: 'in', mode: 'inbound' as const, port: 0, upstream: { port: v3 } }],
    };
    const joiner = await createProxy({ ...bootstrap, services: [] }, { drainTimeoutMs: 200 });
    const inbound = joiner.address('in')?.port as number;
    const joinerClient = new ControlClient({
      url: streamUrl(plane),
      token: JOIN_TOKEN,
      identity: {
        service: 'shop',
        instance: 'shop-v3',
        address: '127.0.0.1',
        port: inbound,
        zone: '',
        labels: { version: 'v2' },
      },
      bootstrap,
      proxy: joiner,
      logger: pino({ level: 'silent' }),
    });
    const started = Date.now();
    await joinerClient.start();
    await eventually(
      async () => ((await through()) === 'v3' ? true : undefined),
      'traffic to reach the new instance',
      JOIN_VISIBLE_MS,
    );
    const joinMs = Date.now() - started;
    expect(joinMs).toBeLessThan(JOIN_VISIBLE_MS);

    // The instance's proxy stops, leaving first: its endpoint turns unhealthy at once, by its own proxy's doing
    // rather than the liveness sweep after the grace period (stream-liveness.test.ts covers a proxy that vanishes
    // without a word), and the first proxy stops sending to it.
    await joinerClient.stop();
    await joiner.close();
    await eventually(
      async () => {
        const eps = (await api('GET', '/services/shop/endpoints')).body.items as {
          port: number;
          health: string;
        }[];
        return eps.find((e) => e.port === inbound)?.health === 'unhealthy' ? true : undefined;
      },
      'the departed endpoint to turn unhealthy',
      CHURN_GRACE_MS * 5,
    );
    const audit = (await api('GET', '/audit?kind=endpoint&limit=5')).body.items as {
      action: string;
      actor: string;
      resourceName: string;
    }[];
    expect(audit.find((e) => e.resourceName === `shop/127.0.0.1:${inbound}`)).toMatchObject({
      action: 'update',
      actor: 'proxy:shop/shop-v3',
    });
    await eventually(
      async () => (client.revision === plane.stream.currentRevision ? true : undefined),
      'the first proxy to have the change',
    );
    for (let i = 0; i < 20; i++) expect(await through()).toBe('v2');
  });

  it('a slice the proxy cannot apply is NACKed, shows in /api/v1/proxies, and the proxy keeps serving', async () => {
    const frontend = (await api('GET', '/services/frontend')).body;
    const { id: _i, createdAt: _c, updatedAt: _u, ...spec } = frontend;
    // frontend now declares it calls nothing: its slice loses shop, which its shop-port listener needs.
    const narrowed = await api('PUT', '/services/frontend', { ...spec, dependencies: [] });
    expect(narrowed.status).toBe(200);
    const nacked = await eventually(async () => {
      const items = (await api('GET', '/proxies')).body.items as ProxyStatus[];
      const fe = items.find((p) => p.node.instance === 'fe-1');
      return fe?.status === 'NACKED' ? fe : undefined;
    }, 'the NACK to be recorded');
    expect(nacked.lastNack?.error).toContain('shop');
    expect(nacked.lastNack?.errors.length).toBeGreaterThan(0);
    expect(client.nacks).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(await through()).toBe('v2');

    // Declared back to everything: the next slice applies and the proxy is SYNCED again.
    const current = (await api('GET', '/services/frontend')).body;
    const { id: _j, createdAt: _d, updatedAt: _v, dependencies: _deps, ...restored } = current;
    expect((await api('PUT', '/services/frontend', restored)).status).toBe(200);
    await eventually(async () => {
      const items = (await api('GET', '/proxies')).body.items as ProxyStatus[];
      return items.find((p) => p.node.instance === 'fe-1' && p.status === 'SYNCED');
    }, 'SYNCED again');
  });
});
