/**
 * The demo app on its own (real servers on 127.0.0.1): it names itself, calls its downstream through the given port
 * with the downstream's service name as Host and the request id passed on, nests the answer, turns a failed
 * downstream into 502, and its flakiness follows the injected random draws.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chainOf, listenDemoApp } from '../src/app.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function app(options: Parameters<typeof listenDemoApp>[0]): Promise<number> {
  const { server, port } = await listenDemoApp(options);
  servers.push(server);
  return port;
}

/** A stand-in for the sidecar's outbound listener: records request heads and answers with `status` and `body`. */
async function fakeSidecar(
  status: number,
  body: unknown,
): Promise<{ port: number; seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, seen };
}

async function get(port: number, path = '/', headers: Record<string, string> = {}) {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as any, ms: performance.now() - started };
}

/** Random draws in order, then `last` forever. */
function draws(...values: number[]): () => number {
  return () => (values.length > 1 ? (values.shift() as number) : (values[0] as number));
}

describe('demo app', () => {
  it('calls its downstream through the sidecar with Host: <service> and the request id, and nests the answer', async () => {
    const c = { service: 'service-c', version: 'v1', instance: 'c-9' };
    const sidecar = await fakeSidecar(200, c);
    const port = await app({
      service: 'service-b',
      version: 'v2',
      instance: 'b-9',
      downstream: { service: 'service-c', port: sidecar.port },
    });
    const { status, body } = await get(port, '/orders?x=1', { 'x-request-id': 'req-42' });
    expect(status).toBe(200);
    expect(body).toEqual({
      service: 'service-b',
      version: 'v2',
      instance: 'b-9',
      path: '/orders',
      downstream: c,
    });
    expect(chainOf(body).map((l) => l.instance)).toEqual(['b-9', 'c-9']);
    expect(sidecar.seen[0]).toMatchObject({ host: 'service-c', 'x-request-id': 'req-42' });
  });

  it('answers 502 with the downstream answer when the downstream fails', async () => {
    const sidecar = await fakeSidecar(503, { code: 'TRELLIS_ERR_NO_HEALTHY_UPSTREAM' });
    const port = await app({
      service: 'service-a',
      version: 'v1',
      instance: 'a-9',
      downstream: { service: 'service-b', port: sidecar.port },
    });
    const { status, body } = await get(port);
    expect(status).toBe(502);
    expect(body).toMatchObject({
      service: 'service-a',
      error: 'service-b answered 503',
      downstream: { code: 'TRELLIS_ERR_NO_HEALTHY_UPSTREAM' },
    });
  });

  it('a flaky instance fails or is slow as its random draws say; /healthz is never flaky', async () => {
    // 20 % errors, then 10 % slow: a draw below 0.2 fails, below 0.3 is slow, the rest are normal.
    const port = await app({
      service: 'service-c',
      version: 'v1',
      instance: 'c-3',
      flaky: { errorPercent: 20, slowPercent: 10, slowMs: 150 },
      rng: draws(0.1, 0.25, 0.9, 0.0),
    });
    const failed = await get(port);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ instance: 'c-3', error: 'injected failure (flaky instance)' });
    const slow = await get(port);
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(140);
    expect((await get(port)).status).toBe(200);
    // Every later draw is 0.0, a failure, but health checks do not draw.
    expect((await get(port, '/healthz')).body).toMatchObject({ status: 'ok', instance: 'c-3' });
    expect((await get(port)).status).toBe(500);
  });
});
