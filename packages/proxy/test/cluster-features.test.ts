/** Cluster behaviour end to end: active health checks, ring-hash stickiness, TCP connection limits. */
import net, { type AddressInfo } from 'node:net';
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

describe('active health checks', () => {
  it('an endpoint failing its health check gets no traffic until it passes again', async () => {
    const [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
    if (!a || !b) throw new Error('setup');
    upstreams = [a, b];
    let aHealthy = false;
    const respond =
      (name: string, healthy: () => boolean) =>
      (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
        if (req.url === '/healthz') {
          res.writeHead(healthy() ? 200 : 503);
          res.end();
          return;
        }
        res.writeHead(200);
        res.end(JSON.stringify({ upstream: name }));
      };
    a.handler = respond('a', () => aHealthy);
    b.handler = respond('b', () => true);
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: a }, { upstream: b }] }],
        policies: [
          {
            name: 'p',
            service: 'svc',
            panicThresholdPercent: 0,
            healthCheck: {
              path: '/healthz',
              // Generous probe timeout and two failures to flip, so a loaded machine cannot mark the healthy one down.
              intervalMs: 250,
              timeoutMs: 250,
              unhealthyThreshold: 2,
              healthyThreshold: 1,
            },
          },
        ],
      }),
    );
    proxy = started.proxy;
    const waitHealth = async (want: string) => {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const e = proxy?.clusterStatus()[0]?.endpoints.find((x) => x.port === a.port);
        if (e?.health === want) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`endpoint a never became ${want}`);
    };
    await waitHealth('unhealthy');
    for (let i = 0; i < 10; i++) expect(upstreamOf((await send(started.port(), 'svc', '/')).text)).toBe('b');
    aHealthy = true;
    await waitHealth('healthy');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(upstreamOf((await send(started.port(), 'svc', '/')).text));
    expect(seen).toEqual(new Set(['a', 'b']));
  });
});

describe('ring hash', () => {
  it('sends every request with the same key to the same endpoint', async () => {
    upstreams = await Promise.all(['r0', 'r1', 'r2', 'r3'].map((n) => startUpstream(n)));
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: upstreams.map((u) => ({ upstream: u })) }],
        policies: [{ name: 'p', service: 'svc', loadBalancer: { type: 'ring_hash', hashHeader: 'x-user' } }],
      }),
      { rng: mulberry32(3) },
    );
    proxy = started.proxy;
    const owners = new Set<string>();
    for (let user = 0; user < 12; user++) {
      const first = upstreamOf(
        (await send(started.port(), 'svc', '/', { headers: { 'x-user': `user-${user}` } })).text,
      );
      owners.add(first);
      for (let i = 0; i < 5; i++) {
        expect(
          upstreamOf(
            (await send(started.port(), 'svc', '/', { headers: { 'x-user': `user-${user}` } })).text,
          ),
        ).toBe(first);
      }
    }
    expect(owners.size).toBeGreaterThan(1);
  });
});

describe('tcp limits', () => {
  it('refuses connections beyond maxConnections and counts bytes', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((s) => {
      held.push(s);
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const echoPort = (server.address() as AddressInfo).port;
    try {
      const started = await startProxy(
        meshConfig({
          services: [
            { name: 'db', protocol: 'tcp', endpoints: [{ upstream: { port: echoPort } as Upstream }] },
          ],
          policies: [{ name: 'p', service: 'db', connectionPool: { maxConnections: 2 } }],
          listeners: [{ name: 'db', mode: 'outbound', protocol: 'tcp', service: 'db', port: 0 }],
        }),
      );
      proxy = started.proxy;
      const open = async () => {
        const s = net.connect(started.port('db'), '127.0.0.1');
        await new Promise<void>((resolve, reject) => {
          s.once('connect', resolve);
          s.once('error', reject);
        });
        return s;
      };
      const echo = (s: net.Socket, text: string) =>
        new Promise<string>((resolve) => {
          s.once('data', (d) => resolve(d.toString()));
          s.write(text);
        });
      const c1 = await open();
      const c2 = await open();
      expect(await echo(c1, 'one')).toBe('one');
      expect(await echo(c2, 'two')).toBe('two');
      const c3 = await open();
      const closed = await new Promise<boolean>((resolve) => {
        c3.once('close', () => resolve(true));
        c3.once('data', () => resolve(false));
        c3.write('three');
      });
      expect(closed).toBe(true);
      c1.destroy();
      c2.destroy();
      const deadline = Date.now() + 2000;
      let edge: { bytesIn: number; bytesOut: number } | undefined;
      while (Date.now() < deadline) {
        const totals = proxy.recorder.totals() as unknown as {
          edges: { destination: string; bytesIn: number; bytesOut: number }[];
        };
        edge = totals.edges.find((e) => e.destination === 'db');
        if (edge && edge.bytesIn >= 6) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(edge?.bytesIn).toBe(6);
      expect(edge?.bytesOut).toBe(6);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
