/**
 * A proxy shutting down leaves before it stops serving: it closes its stream with "going away", the control plane
 * marks its endpoint unhealthy in one revision (audited as that proxy) and tells every caller, and only then does
 * the proxy stop accepting and drain. Under continuous traffic with no retries, not one request fails, and a
 * request already inside the departing proxy finishes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { type MeshProxy, startMeshProxy } from './support/mesh-proxy.ts';
import { eventually, startPlane } from './support/proxy-client.ts';

let plane: ControlPlane;
const apps: http.Server[] = [];
const running: MeshProxy[] = [];

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${plane.url}/api/v1${path}`, {
    method,
    headers: body === undefined ? bearer() : { ...bearer(), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
}

/** An app answering its name; `/slow` answers after `slowMs`. */
async function app(name: string, slowMs = 0): Promise<number> {
  const server = http.createServer((req, res) => {
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
    if (req.url === '/slow') setTimeout(answer, slowMs);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apps.push(server);
  return (server.address() as AddressInfo).port;
}

/** A proxy joined to the control plane: a sidecar of `shop` in front of `appPort`, or an outbound one. */
async function sidecar(service: string, instance: string, appPort?: number): Promise<MeshProxy> {
  const started = await startMeshProxy(plane, service, instance, {
    ...(appPort === undefined ? {} : { inboundTo: appPort }),
    mtls: 'off',
    drainTimeoutMs: 5000,
  });
  running.push(started);
  return started;
}

function get(port: number, path = '/'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host: 'shop' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('leave'), { seed: false });
  await api('POST', '/services', { name: 'shop', port: 8080 });
  await api('POST', '/services', { name: 'frontend', port: 8080 });
  // No retries: a request sent to a proxy that stopped accepting would fail, not be hidden.
  await api('POST', '/routes', { name: 'shop', service: 'shop', retries: { attempts: 0 } });
});

afterAll(async () => {
  for (const p of running) await p.stop().catch(() => undefined);
  await plane?.stop();
  for (const s of apps) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('a proxy shutting down', () => {
  it('leaves first (endpoint unhealthy, callers told), then drains: no request fails, none is cut', async () => {
    const b1 = await sidecar('shop', 'b-1', await app('b-1', 500));
    await sidecar('shop', 'b-2', await app('b-2'));
    const caller = await sidecar('frontend', 'fe-1');
    const usable = (name: string) =>
      caller.proxy
        .clusterStatus()
        .find((c) => c.service === 'shop')
        ?.endpoints.filter((e) => e.health === 'healthy')
        .some((e) => e.port === (name === 'b-1' ? b1.port : -1));
    await eventually(async () => (usable('b-1') ? true : undefined), 'the caller to know b-1');

    const seen = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    const loop = async () => {
      while (running) {
        const res = await get(caller.port).catch((error: Error) => ({ status: 0, text: error.message }));
        if (res.status === 200) seen.set(res.text, (seen.get(res.text) ?? 0) + 1);
        else failures.push(`${res.status} ${res.text}`);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    await eventually(async () => ((seen.get('b-1') ?? 0) > 10 ? true : undefined), 'traffic to b-1');
    // A request already inside b-1's proxy when it starts to shut down.
    const inFlight = get(b1.port, '/slow');

    await b1.client.stop();
    const endpoint = await eventually(async () => {
      const items = (await api('GET', '/services/shop/endpoints')).body.items as {
        port: number;
        health: string;
      }[];
      return items.find((e) => e.port === b1.port && e.health === 'unhealthy');
    }, 'b-1 unhealthy in the control plane');
    expect(endpoint.health).toBe('unhealthy');
    await eventually(async () => (usable('b-1') ? undefined : true), 'the caller to stop picking b-1');
    const before = seen.get('b-2') ?? 0;
    await b1.proxy.close();
    await eventually(async () => ((seen.get('b-2') ?? 0) > before + 20 ? true : undefined), 'traffic after');
    running = false;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    expect(await inFlight).toEqual({ status: 200, text: 'b-1' });
    const audit = (await api('GET', '/revisions?limit=5')).body.items as { actor: string; summary: string }[];
    expect(audit.map((r) => r.actor)).toContain('proxy:shop/b-1');
  });
});
