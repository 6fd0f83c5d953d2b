/** Routing through a real proxy: matches, weighted split, header changes, mirror, fault injection, no_route. */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { mulberry32 } from '../src/rng.ts';
import { closeAll, meshConfig, send, startProxy, upstreamOf } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let v1: Upstream;
let v2: Upstream;
let api: Upstream;
let shadow: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  [v1, v2, api, shadow] = await Promise.all([
    startUpstream('v1'),
    startUpstream('v2'),
    startUpstream('api'),
    startUpstream('shadow'),
  ]);
  const started = await startProxy(
    meshConfig({
      services: [
        {
          name: 'shop',
          endpoints: [
            { upstream: v1, labels: { version: 'v1' } },
            { upstream: v2, labels: { version: 'v2' } },
            { upstream: api, labels: { version: 'api' } },
            { upstream: shadow, labels: { version: 'shadow' } },
          ],
        },
        { name: 'plain', endpoints: [{ upstream: v1 }] },
      ],
      routes: [
        {
          name: 'exact-health',
          service: 'shop',
          priority: 1,
          match: [{ path: { exact: '/health' } }],
          destinations: [{ subset: { version: 'api' }, weight: 100 }],
        },
        {
          name: 'api-posts',
          service: 'shop',
          priority: 2,
          match: [{ path: { prefix: '/api/' }, methods: ['POST'] }],
          destinations: [{ subset: { version: 'api' }, weight: 100 }],
          headers: {
            request: { set: { 'x-route': 'api-posts' }, remove: ['x-secret'] },
            response: { set: { 'x-served-by': 'trellis' }, remove: ['x-upstream'] },
          },
        },
        {
          name: 'beta-users',
          service: 'shop',
          priority: 3,
          match: [{ headers: [{ name: 'x-user', regex: 'beta-[0-9]+' }] }, { path: { regex: '/v2/.*' } }],
          destinations: [{ subset: { version: 'v2' }, weight: 100 }],
        },
        {
          name: 'mirrored',
          service: 'shop',
          priority: 4,
          match: [{ path: { prefix: '/mirror' } }],
          destinations: [{ subset: { version: 'v1' }, weight: 100 }],
          mirror: { subset: { version: 'shadow' }, percent: 100 },
        },
        {
          name: 'faulty',
          service: 'shop',
          priority: 5,
          match: [{ path: { prefix: '/fault' } }],
          destinations: [{ subset: { version: 'v1' }, weight: 100 }],
          fault: { abort: { httpStatus: 503, percent: 30 }, delay: { fixedDelayMs: 40, percent: 50 } },
        },
        {
          name: 'canary',
          service: 'shop',
          priority: 10,
          match: [{ path: { prefix: '/' }, methods: ['GET'] }],
          destinations: [
            { subset: { version: 'v1' }, weight: 90 },
            { subset: { version: 'v2' }, weight: 10 },
          ],
        },
      ],
    }),
    { rng: mulberry32(42) },
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [v1, v2, api, shadow]));

describe('route matching', () => {
  it.each([
    ['exact path', 'GET', '/health', {}, 'api'],
    ['prefix + method', 'POST', '/api/orders', {}, 'api'],
    ['header regex (whole value)', 'GET', '/anything', { 'x-user': 'beta-7' }, 'v2'],
    ['path regex', 'PUT', '/v2/x', {}, 'v2'],
  ] as const)('%s → %s', async (_name, method, path, headers, expected) => {
    const res = await send(port, 'shop', path, { method, headers });
    expect(res.status).toBe(200);
    expect(upstreamOf(res.text)).toBe(expected);
  });

  it('a partial regex match does not count', async () => {
    const res = await send(port, 'shop', '/x', { method: 'DELETE', headers: { 'x-user': 'not-beta-7x' } });
    expect(res.status).toBe(404);
    expect(res.headers['x-trellis-error']).toBe('no_route');
  });

  it('an unknown host gets 404 no_route with a problem body', async () => {
    const res = await send(port, 'nowhere', '/');
    expect(res.status).toBe(404);
    expect(res.headers['x-trellis-error']).toBe('no_route');
    expect(JSON.parse(res.text)).toMatchObject({ code: 'TRELLIS_ERR_NO_ROUTE' });
  });

  it('a service without rules gets the default route; Host may carry a port or a domain', async () => {
    expect((await send(port, 'plain:8080', '/')).status).toBe(200);
    expect((await send(port, 'plain.default.svc', '/')).status).toBe(200);
  });
});

describe('traffic management', () => {
  it('splits 90/10 over 2000 requests within ±2.5 points', async () => {
    const counts = { v1: 0, v2: 0 } as Record<string, number>;
    for (let i = 0; i < 2000; i++) {
      const res = await send(port, 'shop', `/split/${i}`);
      const name = upstreamOf(res.text);
      counts[name] = (counts[name] ?? 0) + 1;
    }
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(2000);
    expect(Math.abs((counts.v2 ?? 0) / 20 - 10)).toBeLessThanOrEqual(2.5);
  });

  it('sets and removes request and response headers', async () => {
    const before = api.seen.length;
    const res = await send(port, 'shop', '/api/h', {
      method: 'POST',
      headers: { 'x-secret': 's3' },
      body: '{}',
    });
    const seen = api.seen[before];
    expect(seen?.headers['x-route']).toBe('api-posts');
    expect(seen?.headers['x-secret']).toBeUndefined();
    expect(res.headers['x-served-by']).toBe('trellis');
    expect(res.headers['x-upstream']).toBeUndefined();
  });

  it('mirrors requests to the shadow subset without affecting the client', async () => {
    shadow.handler = (_req, res) => {
      res.writeHead(500);
      res.end('shadow broke');
    };
    const before = shadow.seen.length;
    for (let i = 0; i < 5; i++) {
      const res = await send(port, 'shop', `/mirror/${i}`, { method: 'POST', body: `payload-${i}` });
      expect(res.status).toBe(200);
      expect(upstreamOf(res.text)).toBe('v1');
    }
    const deadline = Date.now() + 2000;
    while (shadow.seen.length < before + 5 && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    const copies = shadow.seen.slice(before);
    expect(copies).toHaveLength(5);
    expect(copies.map((c) => c.body.toString()).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `payload-${i}`));
    expect(copies[0]?.headers.host).toBe('shop-shadow');
  });

  it('injects aborts and delays at the configured percentages', async () => {
    let aborted = 0;
    let delayed = 0;
    const n = 200;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await send(port, 'shop', '/fault');
      const took = performance.now() - t0;
      if (res.status === 503) {
        expect(res.headers['x-trellis-error']).toBe('fault_abort');
        aborted += 1;
      }
      if (took >= 39) delayed += 1;
    }
    expect(Math.abs(aborted / n - 0.3)).toBeLessThan(0.1);
    expect(Math.abs(delayed / n - 0.5)).toBeLessThan(0.1);
  });

  it('adds x-request-id and x-forwarded-*, passes traceparent through and strips hop-by-hop headers', async () => {
    const before = v1.seen.length;
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/h',
          headers: {
            host: 'plain',
            connection: 'keep-alive, x-hop',
            'x-hop': 'drop me',
            'keep-alive': 'timeout=5',
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    const h = v1.seen[before]?.headers ?? {};
    expect(h['x-hop']).toBeUndefined();
    expect(h['keep-alive']).toBeUndefined();
    expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('plain');
    expect(h['x-trellis-source']).toBe('client');
  });
});
