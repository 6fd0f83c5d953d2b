/** HTTP/1.1 details through the proxy: chunked bodies both ways, Expect: 100-continue, request ids, keep-alive. */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let up: Upstream;
let endlessClosed: () => void = () => {};
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  up = await startUpstream('up', (req, res, body) => {
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 5);
      res.on('close', () => {
        clearInterval(timer);
        endlessClosed();
      });
      return;
    }
    if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part-1;');
      setTimeout(() => res.end('part-2'), 20);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        length: body.length,
        te: req.headers['transfer-encoding'] ?? null,
        id: req.headers['x-request-id'],
      }),
    );
  });
  const started = await startProxy(
    meshConfig({ services: [{ name: 'svc', endpoints: [{ upstream: up }] }] }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

function rawRequest(options: http.RequestOptions, write: (req: http.ClientRequest) => void) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; continued: boolean }>(
    (resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port, ...options }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, continued }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('after-continue');
      });
      req.on('error', reject);
      write(req);
    },
  );
}

describe('HTTP/1.1 semantics', () => {
  it('streams a chunked request body without a length', async () => {
    const res = await rawRequest(
      { method: 'POST', path: '/', headers: { host: 'svc', 'transfer-encoding': 'chunked' } },
      (req) => {
        req.write('a'.repeat(70_000));
        req.end('b'.repeat(10));
      },
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).length).toBe(70_010);
  });

  it('passes a chunked response through as it comes', async () => {
    const res = await rawRequest({ path: '/chunked', headers: { host: 'svc' } }, (req) => req.end());
    expect(res.body).toBe('part-1;part-2');
    expect(res.headers['transfer-encoding']).toBe('chunked');
  });

  it('answers Expect: 100-continue and then takes the body', async () => {
    const res = await rawRequest(
      { method: 'POST', path: '/', headers: { host: 'svc', expect: '100-continue', 'content-length': '14' } },
      () => {},
    );
    expect(res.continued).toBe(true);
    expect(JSON.parse(res.body).length).toBe(14);
  });

  it('keeps an incoming x-request-id and generates one when absent', async () => {
    const kept = JSON.parse((await send(port, 'svc', '/', { headers: { 'x-request-id': 'req-42' } })).text);
    expect(kept.id).toBe('req-42');
    const made = JSON.parse((await send(port, 'svc', '/')).text);
    expect(made.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a client that goes away mid-response makes the proxy drop the upstream request', async () => {
    const closed = new Promise<void>((r) => {
      endlessClosed = r;
    });
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/endless', headers: { host: 'svc' } },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => {});
      req.on('close', () => resolve());
      req.end();
      setTimeout(() => reject(new Error('no data')), 2000);
    });
    await closed;
    const deadline = Date.now() + 2000;
    while (proxy.clusterStatus()[0]?.endpoints[0]?.active !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(proxy.clusterStatus()[0]?.endpoints[0]?.active).toBe(0);
  });

  it('reuses upstream connections (keep-alive pooling)', async () => {
    const connections = new Set<unknown>();
    up.server.on('connection', (s) => connections.add(s));
    for (let i = 0; i < 20; i++) await send(port, 'svc', '/');
    expect(connections.size).toBeLessThanOrEqual(1);
  });
});
