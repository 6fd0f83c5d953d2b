/**
 * The mTLS and authorization flags of the topology. Unit: an edge is mTLS when every request the callee reported in
 * the live window came over mutual TLS, and its denied counts are the callee's (the side that enforces). End to
 * end: two real proxies joined to a real control plane, with certificates from its CA and strict mutual TLS; an
 * authorization policy created through the API denies svc-a's POSTs to svc-b; GET /api/v1/topology then shows the
 * svc-a → svc-b edge with the lock (mtls) and the denied count.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlClient, createProxy, IdentityManager, type TrellisProxy } from '@trellis/proxy';
import { Topology } from '@trellis/schema';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { LiveView } from '../src/telemetry/live.ts';
import { buildTopology } from '../src/telemetry/topology.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { freePort } from './support/ports.ts';
import { eventually, getJson, JOIN_TOKEN, sendJson, startPlane, streamUrl } from './support/proxy-client.ts';
import { edge, frame, ManualClock } from './support/telemetry.ts';

describe('topology flags (unit)', () => {
  const T0 = 1_700_000_000_000;
  const registry = [
    { name: 'a', endpoints: { total: 1, healthy: 1, unhealthy: 0, draining: 0 }, dependencies: ['b', 'd'] },
    { name: 'b', endpoints: { total: 1, healthy: 1, unhealthy: 0, draining: 0 }, dependencies: [] },
  ];

  it("reads mtls and denials from the callee's reports, the caller's when the callee sent none", () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    live.ingest([
      // The caller saw 10 calls, not knowing they were mTLS (permissive) nor why 3 got 403.
      frame('a', T0 + 5000, [
        edge('a', 'b', { ok: 7, c4xx: 3 }),
        edge('a', 'c', { ok: 4, mtls: 4, denied: 1 }),
      ]),
      frame('b', T0 + 5000, [edge('a', 'b', { ok: 7, c4xx: 3, mtls: 10, denied: 3, dryRunDenied: 2 })]),
      frame('b', T0 + 6000, [edge('x', 'b', { ok: 5, mtls: 4 })]),
    ]);
    const topology = buildTopology(live.snapshot(), registry);
    const find = (s: string, d: string) => topology.edges.find((e) => e.source === s && e.destination === d);
    expect(find('a', 'b')).toMatchObject({
      reporter: 'source',
      requests: 10,
      mtls: true,
      denied: 3,
      dryRunDenied: 2,
    });
    // c runs no inbound proxy that reported: the caller's counts.
    expect(find('a', 'c')).toMatchObject({ mtls: true, denied: 1, dryRunDenied: 0 });
    // One plaintext request of five: no lock.
    expect(find('x', 'b')).toMatchObject({ reporter: 'destination', mtls: false, denied: 0 });
    // A declared dependency nobody calls: no lock.
    expect(find('a', 'd')).toMatchObject({ idle: true, mtls: false, denied: 0, dryRunDenied: 0 });
    expect(Topology.parse(topology)).toEqual(topology);
  });

  it('an edge whose calls stopped loses its lock when they leave the window', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    live.ingest([frame('b', T0 + 5000, [edge('a', 'b', { ok: 2, mtls: 2 })])]);
    expect(buildTopology(live.snapshot(), registry).edges.find((e) => e.destination === 'b')?.mtls).toBe(
      true,
    );
    clock.advance(20_000);
    const later = buildTopology(live.snapshot(), registry).edges.find((e) => e.destination === 'b');
    expect(later).toMatchObject({ idle: true, mtls: false });
  });
});

let plane: ControlPlane;
const running: { client: ControlClient; proxy: TrellisProxy }[] = [];
let app: http.Server;

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${plane.url}/api/v1${path}`, {
    method: 'POST',
    headers: { ...bearer(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, `${path}: ${await res.text()}`).toBe(201);
}

async function sidecar(service: string, port: number, listeners: unknown[]) {
  const bootstrap = {
    node: { service, instance: `${service}-1` },
    listeners,
    mtls: { mode: 'strict' as const },
  };
  let client: ControlClient | undefined;
  const proxy = await createProxy(
    { ...bootstrap, services: [] },
    { drainTimeoutMs: 200, sink: { publish: (f) => client?.publish(f) } },
  );
  const workload = new IdentityManager({
    service,
    trustDomain: 'trellis.local',
    logger: pino({ level: 'silent' }),
  });
  proxy.useIdentity(workload);
  client = new ControlClient({
    url: streamUrl(plane),
    token: JOIN_TOKEN,
    identity: { service, instance: `${service}-1`, address: '127.0.0.1', port, zone: '', labels: {} },
    bootstrap: bootstrap as never,
    proxy,
    workload,
    logger: pino({ level: 'silent' }),
  });
  running.push({ client, proxy });
  await client.start();
  await eventually(async () => workload.current, `a certificate for ${service}`, 10_000);
  return proxy;
}

function request(port: number, method: string): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/orders', method, headers: { host: 'svc-b' } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            error: res.headers['x-trellis-error'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('telemetry_authz'), { seed: false });
  app = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  for (const { client, proxy } of running) {
    await client.stop();
    await proxy.close();
  }
  app?.closeAllConnections();
  await new Promise((r) => app?.close(r));
  await plane?.stop();
});

describe('topology flags end to end', () => {
  it('svc-a → svc-b over strict mTLS, with svc-a POSTs denied by a policy: the edge has the lock and the count', async () => {
    // Mesh-wide strict mTLS (the mesh settings replace the mode in the proxies' own files): no request of the
    // live window can have gone in plaintext before both sidecars held their certificates.
    const settings = await getJson(`${plane.url}/api/v1/mesh/settings`);
    const strict = await sendJson('PUT', `${plane.url}/api/v1/mesh/settings`, {
      mtls: { mode: 'strict' },
      version: settings.body.version,
    });
    expect(strict.status).toBe(200);
    await post('/services', { name: 'svc-a', port: 8080, dependencies: ['svc-b'] });
    await post('/services', { name: 'svc-b', port: 8080 });
    await post('/authorization-policies', {
      name: 'no-writes-from-a',
      destination: 'svc-b',
      action: 'deny',
      rules: [{ from: [{ principal: 'service:svc-a' }], to: [{ methods: ['POST'] }] }],
    });

    const inboundPort = await freePort();
    const b = await sidecar('svc-b', inboundPort, [
      {
        name: 'in',
        mode: 'inbound',
        port: inboundPort,
        upstream: { address: '127.0.0.1', port: (app.address() as AddressInfo).port },
      },
    ]);
    const a = await sidecar('svc-a', 15_300, [{ name: 'out', mode: 'outbound', port: 0 }]);
    await eventually(async () => (b.snapshot.authz ? true : undefined), 'the policy at svc-b', 10_000);
    await eventually(
      async () =>
        a.clusterStatus().find((c) => c.service === 'svc-b')?.endpoints.length === 1 ? true : undefined,
      "svc-b's endpoint at svc-a",
      10_000,
    );
    const out = a.address('out')?.port as number;

    const edge = await eventually(
      async () => {
        expect(await request(out, 'GET')).toEqual({ status: 200, error: undefined });
        expect(await request(out, 'POST')).toEqual({ status: 403, error: 'rbac_denied' });
        const topology = Topology.parse((await getJson(`${plane.url}/api/v1/topology`)).body);
        const ab = topology.edges.find((e) => e.source === 'svc-a' && e.destination === 'svc-b');
        return ab && ab.requests >= 4 && ab.denied >= 2 ? ab : undefined;
      },
      'the flags in the topology',
      15_000,
      250,
    );
    expect(edge.mtls).toBe(true);
    expect(edge.dryRunDenied).toBe(0);
    expect(edge.denied).toBeLessThanOrEqual(edge.requests);
  });
});
