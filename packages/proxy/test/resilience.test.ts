/** Retries, timeouts, circuit breaking and outlier ejection through a real proxy and real upstreams. */
import { afterEach, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { mulberry32 } from '../src/rng.ts';
import { closeAll, meshConfig, send, startProxy, upstreamOf } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let proxy: TrellisProxy | undefined;
let upstreams: Upstream[] = [];
afterEach(async () => {
  await closeAll(proxy, upstreams);
  proxy = undefined;
  upstreams = [];
});

async function ups(...names: string[]) {
  const list = await Promise.all(names.map((n) => startUpstream(n)));
  upstreams.push(...list);
  return list;
}

describe('retries', () => {
  it('an endpoint answering 503 once: the client sees 200 from another endpoint', async () => {
    const [bad, good] = await ups('bad', 'good');
    if (!bad || !good) throw new Error('setup');
    bad.handler = (_req, res) => {
      res.writeHead(503);
      res.end('overloaded');
    };
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: bad }, { upstream: good }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 2, retryOn: ['gateway-error'] } }],
        policies: [
          {
            name: 'p',
            service: 'svc',
            loadBalancer: { type: 'round_robin' },
            outlierDetection: { enabled: false },
          },
        ],
      }),
      { rng: mulberry32(1) },
    );
    proxy = started.proxy;
    for (let i = 0; i < 10; i++) {
      const res = await send(started.port(), 'svc', `/r${i}`);
      expect(res.status).toBe(200);
      expect(upstreamOf(res.text)).toBe('good');
    }
    expect(bad.seen.length).toBeGreaterThan(0);
  });

  it('a per-try timeout moves a slow attempt to another endpoint; the route timeout answers 504', async () => {
    const [slow, fast] = await ups('slow', 'fast');
    if (!slow || !fast) throw new Error('setup');
    slow.handler = (_req, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end('{"upstream":"slow"}');
      }, 4000).unref();
    };
    const started = await startProxy(
      meshConfig({
        services: [
          { name: 'svc', endpoints: [{ upstream: slow }, { upstream: fast }] },
          { name: 'only-slow', endpoints: [{ upstream: slow }] },
        ],
        routes: [
          {
            name: 'r',
            service: 'svc',
            timeoutMs: 3000,
            retries: { attempts: 2, perTryTimeoutMs: 600, retryOn: ['5xx'] },
          },
          { name: 'r2', service: 'only-slow', timeoutMs: 300, retries: { attempts: 0 } },
        ],
        policies: [
          {
            name: 'p',
            service: 'svc',
            loadBalancer: { type: 'round_robin' },
            outlierDetection: { enabled: false },
          },
        ],
      }),
    );
    proxy = started.proxy;
    for (let i = 0; i < 4; i++) {
      const res = await send(started.port(), 'svc', '/');
      expect(res.status).toBe(200);
      expect(upstreamOf(res.text)).toBe('fast');
    }
    const timedOut = await send(started.port(), 'only-slow', '/');
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers['x-trellis-error']).toBe('upstream_timeout');
  });

  it('the retry budget caps retries; without budget every failure is retried', async () => {
    const [failing] = await ups('failing');
    if (!failing) throw new Error('setup');
    failing.handler = (_req, res) => {
      res.writeHead(503);
      res.end();
    };
    const config = (budget: object) =>
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: failing }] }],
        routes: [
          {
            name: 'r',
            service: 'svc',
            retries: { attempts: 1, retryOn: ['5xx'], backoff: { baseIntervalMs: 1, maxIntervalMs: 2 } },
          },
        ],
        policies: [{ name: 'p', service: 'svc', retryBudget: budget, outlierDetection: { enabled: false } }],
      });
    const started = await startProxy(config({ budgetPercent: 20, minRetriesPerSecond: 0 }));
    proxy = started.proxy;
    for (let i = 0; i < 50; i++) expect((await send(started.port(), 'svc', '/')).status).toBe(503);
    // 50 requests deposit 10 tokens at 20 %: at most 10 retries, so at most 60 upstream attempts.
    expect(failing.seen.length).toBeLessThanOrEqual(60);
    expect(failing.seen.length).toBeGreaterThanOrEqual(58);
    await proxy.apply(config({ enabled: false }));
    const before = failing.seen.length;
    for (let i = 0; i < 20; i++) await send(started.port(), 'svc', '/');
    expect(failing.seen.length - before).toBe(40);
  });

  it('does not retry a request whose body streams (larger than the retry buffer)', async () => {
    const [a, b] = await ups('a', 'b');
    if (!a || !b) throw new Error('setup');
    for (const u of [a, b]) {
      u.handler = (_req, res, body) => {
        res.writeHead(503);
        res.end(String(body.length));
      };
    }
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: a }, { upstream: b }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 2, retryOn: ['5xx'] } }],
        policies: [
          {
            name: 'p',
            service: 'svc',
            outlierDetection: { enabled: false },
            retryBudget: { enabled: false },
          },
        ],
        limits: { retryBufferBytes: 1024 },
      }),
    );
    proxy = started.proxy;
    const small = await send(started.port(), 'svc', '/', { method: 'POST', body: 'x'.repeat(100) });
    expect(small.status).toBe(503);
    expect(a.seen.length + b.seen.length).toBe(3);
    const large = await send(started.port(), 'svc', '/', { method: 'POST', body: 'y'.repeat(5000) });
    expect(large.status).toBe(503);
    expect(large.text).toBe('5000');
    expect(a.seen.length + b.seen.length).toBe(4);
  });
});

describe('circuit breaker', () => {
  it('with maxRequests N, N+1 concurrent requests: exactly one gets 503 overflow', async () => {
    const [held] = await ups('held');
    if (!held) throw new Error('setup');
    const waiting: (() => void)[] = [];
    let arrived: () => void = () => {};
    const allArrived = new Promise<void>((r) => {
      arrived = r;
    });
    const N = 5;
    held.handler = (_req, res) => {
      waiting.push(() => {
        res.writeHead(200);
        res.end('{"upstream":"held"}');
      });
      if (waiting.length === N) arrived();
    };
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: held }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 0 } }],
        policies: [{ name: 'p', service: 'svc', connectionPool: { maxRequests: N, maxConnections: 100 } }],
      }),
    );
    proxy = started.proxy;
    const inFlight = Array.from({ length: N }, (_, i) => send(started.port(), 'svc', `/${i}`));
    await allArrived;
    const extra = await send(started.port(), 'svc', '/extra');
    expect(extra.status).toBe(503);
    expect(extra.headers['x-trellis-error']).toBe('overflow');
    held.handler = (_req, res) => {
      res.writeHead(200);
      res.end('{"upstream":"held"}');
    };
    for (const release of waiting) release();
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array(N).fill(200));
    expect((await send(started.port(), 'svc', '/after')).status).toBe(200);
  });
});

describe('outlier detection', () => {
  it('ejects an endpoint after consecutive 5xx, sends it nothing while ejected, and takes it back', async () => {
    const [sick, well] = await ups('sick', 'well');
    if (!sick || !well) throw new Error('setup');
    sick.handler = (_req, res) => {
      res.writeHead(500);
      res.end();
    };
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: sick }, { upstream: well }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 0 } }],
        policies: [
          {
            name: 'p',
            service: 'svc',
            loadBalancer: { type: 'round_robin' },
            outlierDetection: {
              consecutive5xx: 3,
              intervalMs: 50,
              baseEjectionTimeMs: 2000,
              maxEjectionPercent: 50,
            },
          },
        ],
      }),
    );
    proxy = started.proxy;
    for (let i = 0; i < 10; i++) await send(started.port(), 'svc', '/');
    expect(sick.seen.length).toBe(3);
    const cluster = proxy.clusterStatus().find((c) => c.service === 'svc');
    expect(cluster?.endpoints.find((e) => e.port === sick.port)?.ejected).toBe(true);
    const during = sick.seen.length;
    for (let i = 0; i < 20; i++) expect((await send(started.port(), 'svc', '/')).status).toBe(200);
    expect(sick.seen.length).toBe(during);
    sick.handler = (_req, res) => {
      res.writeHead(200);
      res.end('{"upstream":"sick"}');
    };
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline && proxy.clusterStatus()[0]?.endpoints.some((e) => e.ejected)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 10; i++) await send(started.port(), 'svc', '/');
    expect(sick.seen.length).toBeGreaterThan(during);
  });

  it('answers 502 upstream_connect_failure when no endpoint accepts connections', async () => {
    const [gone] = await ups('gone');
    if (!gone) throw new Error('setup');
    await gone.close();
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: gone }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 0 } }],
      }),
    );
    proxy = started.proxy;
    const res = await send(started.port(), 'svc', '/');
    expect(res.status).toBe(502);
    expect(res.headers['x-trellis-error']).toBe('upstream_connect_failure');
  });

  it('answers 503 no_healthy_upstream for a service with no endpoints', async () => {
    const started = await startProxy(meshConfig({ services: [{ name: 'empty', endpoints: [] }] }));
    proxy = started.proxy;
    const res = await send(started.port(), 'empty', '/');
    expect(res.status).toBe(503);
    expect(res.headers['x-trellis-error']).toBe('no_healthy_upstream');
  });
});
