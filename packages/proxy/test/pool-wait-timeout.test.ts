/**
 * A request waiting for one of the endpoint's connections (all `maxConnections` busy) is still bound by its route
 * timeout: it is answered 504 when the timeout passes, not when a connection frees up. undici's own pool kept such a
 * request queued, its abort unheard, until a connection was free; a stuck upstream then held every waiting request
 * far past its timeout. The proxy's metrics show the waiting request and the endpoint's connections meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const TIMEOUT_MS = 300;
let up: Upstream;
let proxy: TrellisProxy;
let port: number;
const held: (() => void)[] = [];

beforeAll(async () => {
  up = await startUpstream('stuck', (req, res) => {
    const answer = () => res.writeHead(200).end(req.url);
    if (req.url === '/hold') held.push(answer);
    else answer();
  });
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      routes: [
        // /hold has time to wait; everything else has TIMEOUT_MS.
        {
          name: 'hold',
          service: 'svc',
          priority: 1,
          match: [{ path: { prefix: '/hold' } }],
          timeoutMs: 10_000,
          retries: { attempts: 0 },
        },
        { name: 'r', service: 'svc', timeoutMs: TIMEOUT_MS, retries: { attempts: 0 } },
      ],
      policies: [
        {
          name: 'p',
          service: 'svc',
          connectionPool: { maxConnections: 1, maxPendingRequests: 5, maxRequests: 10 },
          outlierDetection: { enabled: false },
        },
      ],
    }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

describe('a request waiting for a connection', () => {
  it('is answered 504 when its timeout passes, while the connection is still busy', async () => {
    // Holds the only connection for longer than the timeout, until the test answers it.
    const first = send(port, 'svc', '/hold');
    for (let i = 0; i < 1000 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(held).toHaveLength(1);

    const metrics = proxy.adminSource().metrics;
    const endpoint = `destination_endpoint="127.0.0.1:${up.port}"`;
    const sample = async (name: string) =>
      Number(new RegExp(`^${name}\\{${endpoint}\\} (\\S+)$`, 'm').exec(await metrics())?.[1]);

    const started = performance.now();
    const answer = send(port, 'svc', '/waiting');
    let pending = 0;
    for (let i = 0; i < 200 && pending === 0; i++) {
      pending = await sample('trellis_upstream_pending_requests');
      if (pending === 0) await new Promise((r) => setImmediate(r));
    }
    expect(pending).toBe(1);
    expect(await sample('trellis_upstream_connections')).toBe(1);
    const waiting = await answer;
    const tookMs = performance.now() - started;
    expect(waiting.status).toBe(504);
    expect(waiting.headers['x-trellis-error']).toBe('upstream_timeout');
    expect(tookMs).toBeLessThan(TIMEOUT_MS + 2000);
    expect(held).toHaveLength(1);

    expect(await sample('trellis_upstream_pending_requests')).toBe(0);

    held[0]?.();
    expect((await first).status).toBe(200);
    expect((await send(port, 'svc', '/after')).status).toBe(200);
    expect(await sample('trellis_upstream_connections_opened_total')).toBe(1);
  });
});
