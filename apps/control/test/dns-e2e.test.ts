/**
 * DNS discovery end to end: a real proxy with its control-plane client routes to an upstream the control plane
 * found through a real DNS server (SRV: port from the record), and follows the record when it changes, through
 * the normal revision and push path. The proxy never resolves anything itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { addr, TestDnsServer } from './support/dns-server.ts';
import { type MeshProxy, requestThrough, startMeshProxy, startUpstream } from './support/mesh-proxy.ts';
import { eventually, sendJson, startPlane } from './support/proxy-client.ts';

const SRV = '_http._tcp.ext.test';

let dns: TestDnsServer;
let plane: ControlPlane;
let mesh: MeshProxy;
let upstreams: Awaited<ReturnType<typeof startUpstream>>[] = [];

const srv = (port: number) => [{ priority: 0, weight: 1, port, target: 'local.ext.test', ttl: 30 }];

beforeAll(async () => {
  dns = await TestDnsServer.start();
  plane = await startPlane(await createDatabase('dnse2e'), { seed: false, dnsServers: [dns.address] });
  upstreams = [await startUpstream('one'), await startUpstream('two')];
  dns.set('local.ext.test', 'A', [addr('127.0.0.1', 30)]);
  dns.set(SRV, 'SRV', srv(upstreams[0]?.port as number));
  const services = `${plane.url}/api/v1/services`;
  expect((await sendJson('POST', services, { name: 'frontend', port: 8080 })).status).toBe(201);
  const ext = await sendJson('POST', services, {
    name: 'ext',
    port: 8080,
    dns: { hostname: SRV, type: 'SRV', refreshMs: 1000 },
  });
  expect(ext.status).toBe(201);
  mesh = await startMeshProxy(plane, 'frontend', 'fe-1');
});

afterAll(async () => {
  await mesh?.stop();
  await plane?.stop();
  await dns?.close();
  for (const u of upstreams) await u.close();
});

it('a proxy routes to the upstream DNS names, and follows the record when it changes', async () => {
  const through = () => requestThrough(mesh.proxy, 'ext');
  await eventually(async () => ((await through()) === 'one' ? true : undefined), 'traffic to upstream one');
  dns.set(SRV, 'SRV', srv(upstreams[1]?.port as number));
  await eventually(async () => ((await through()) === 'two' ? true : undefined), 'traffic to upstream two');
  for (let i = 0; i < 5; i++) expect(await through()).toBe('two');
});
