/**
 * Authentication on a real control plane's WebSockets: the console's feeds (events, live telemetry) are refused
 * before the upgrade without credentials and accepted with a session cookie or a token; a proxy joining with a
 * per-service join token may register only as that service, and so is only ever given that service's identity.
 */
import { X509Certificate } from 'node:crypto';
import { EVENTS_STREAM_PATH, spiffeId, TELEMETRY_STREAM_PATH } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { registeredRoutes } from '../src/auth/guard.ts';
import type { ControlPlane } from '../src/server.ts';
import { bearer, TEST_ADMIN_PASSWORD } from './support/api.ts';
import { makeCsr } from './support/csr.ts';
import { createDatabase } from './support/db.ts';
import { deadline, FakeProxy, sendJson, startPlane, streamUrl } from './support/proxy-client.ts';

let plane: ControlPlane;
const open: FakeProxy[] = [];

beforeAll(async () => {
  plane = await startPlane(await createDatabase('authws'));
});
afterAll(async () => {
  for (const p of open) await p.close().catch(() => undefined);
  await plane?.stop();
});

/** How an upgrade ends: `open`, or the HTTP status it was refused with. */
function upgrade(path: string, headers: Record<string, string> = {}): Promise<'open' | number> {
  const ws = new WebSocket(`${plane.url.replace(/^http/, 'ws')}${path}`, { headers });
  return deadline(
    new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.close();
        resolve('open');
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('error', reject);
    }),
    5000,
    `the upgrade of ${path}`,
  );
}

async function loginCookie(): Promise<string> {
  const res = await fetch(`${plane.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
}

describe('console feeds', () => {
  it('refuse an upgrade without valid credentials with 401, accept a session cookie or a token', async () => {
    for (const path of [EVENTS_STREAM_PATH, `${TELEMETRY_STREAM_PATH}?service=service-a`]) {
      expect(await upgrade(path)).toBe(401);
      expect(await upgrade(path, bearer('trellis_not-a-real-token'))).toBe(401);
      expect(await upgrade(path, { cookie: 'trellis_session=forged' })).toBe(401);
      // From a page of the control plane's own host, as a browser sends it (security/websocket-origin.test.ts).
      expect(await upgrade(path, { cookie: await loginCookie(), origin: plane.url })).toBe('open');
      expect(await upgrade(path, bearer())).toBe('open');
    }
    const viewer = await sendJson('POST', `${plane.url}/api/v1/tokens`, {
      name: 'wall-screen',
      role: 'viewer',
    });
    expect(await upgrade(EVENTS_STREAM_PATH, bearer(viewer.body.token))).toBe('open');
  });

  it('every route of a full control plane declares a role', () => {
    const routes = registeredRoutes(plane.app);
    for (const url of ['/api/v1/proxies', '/api/v1/topology', '/api/v1/metrics']) {
      expect(routes.find((r) => r.url === url)?.access).toBe('viewer');
    }
    expect(routes.filter((r) => r.access === undefined).map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });
});

describe('join tokens', () => {
  it('a join token for service-a registers service-a, with its identity only, and never service-b', async () => {
    const created = await sendJson('POST', `${plane.url}/api/v1/join-tokens`, { service: 'service-a' });
    expect(created.status).toBe(201);
    const token = created.body.token as string;

    const impostor = await FakeProxy.join(
      streamUrl(plane),
      { service: 'service-b', instance: 'b-impostor', address: '10.7.0.2', port: 9702 },
      { token },
    );
    open.push(impostor);
    const refused = await deadline(impostor.closed, 5000, 'the impostor to be refused');
    expect(refused.code).toBe(4001);
    expect(refused.reason).toContain('service-a');
    const endpoints = await fetch(`${plane.url}/api/v1/services/service-b/endpoints`, { headers: bearer() });
    expect(
      ((await endpoints.json()) as { items: { address: string }[] }).items.map((e) => e.address),
    ).not.toContain('10.7.0.2');

    const proxy = await FakeProxy.join(
      streamUrl(plane),
      { service: 'service-a', instance: 'a-joined', address: '10.7.0.1', port: 9701 },
      { token },
    );
    open.push(proxy);
    await proxy.snapshot();
    const trustDomain = plane.certificates.trustDomain;
    const own = await makeCsr([{ type: 'url', value: spiffeId(trustDomain, 'service-a') }]);
    proxy.send({ type: 'csr', id: 'own', csr: own.csr });
    const issued = await proxy.waitFor((m) => m.id === 'own', 'the certificate for service-a');
    expect(issued.data.type).toBe('certificate');
    expect(new X509Certificate(issued.data.chain[0]).subjectAltName).toBe(
      `URI:${spiffeId(trustDomain, 'service-a')}`,
    );
    const theirs = await makeCsr([{ type: 'url', value: spiffeId(trustDomain, 'service-b') }]);
    proxy.send({ type: 'csr', id: 'theirs', csr: theirs.csr });
    const denied = await proxy.waitFor((m) => m.id === 'theirs', 'the answer for service-b');
    expect(denied.data.type).toBe('certificate-error');
  });

  it('a revoked or unknown join token is refused; the mesh-wide token still admits any service', async () => {
    const created = await sendJson('POST', `${plane.url}/api/v1/join-tokens`, { service: 'service-c' });
    expect((await sendJson('DELETE', `${plane.url}/api/v1/join-tokens/${created.body.id}`)).status).toBe(204);
    for (const token of [created.body.token as string, 'trellis_join_unknown']) {
      const proxy = await FakeProxy.join(
        streamUrl(plane),
        { service: 'service-c', instance: 'c-revoked', address: '10.7.0.3', port: 9703 },
        { token },
      );
      open.push(proxy);
      const closed = await deadline(proxy.closed, 5000, 'the refusal');
      expect(closed).toEqual({ code: 4001, reason: 'invalid join token' });
    }
    const anyService = await FakeProxy.join(streamUrl(plane), {
      service: 'service-c',
      instance: 'c-bootstrap',
      address: '10.7.0.4',
      port: 9704,
    });
    open.push(anyService);
    await anyService.snapshot();
  });
});
