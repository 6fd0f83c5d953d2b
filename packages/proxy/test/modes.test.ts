/** Listener modes: ingress by host and path, inbound to the local app, egress allow-list, TCP, WebSocket. */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy, upstreamOf } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let web: Upstream;
let api: Upstream;
let app: Upstream;
let external: Upstream;
let echo: net.Server;
let wsServer: http.Server;
let proxy: TrellisProxy;
let port: (name?: string) => number;

function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  [web, api, app, external] = await Promise.all([
    startUpstream('web'),
    startUpstream('api'),
    startUpstream('app'),
    startUpstream('external'),
  ]);
  echo = net.createServer((s) => s.pipe(s));
  const echoPort = await listenOn(echo);
  wsServer = http.createServer();
  wsServer.on('upgrade', (req, socket) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-seen-path: ${req.url}\r\n\r\n`,
    );
    socket.pipe(socket);
  });
  const wsPort = await listenOn(wsServer);
  const config = meshConfig({
    services: [
      { name: 'web', endpoints: [{ upstream: web }] },
      { name: 'api', endpoints: [{ upstream: api }] },
      { name: 'ws', endpoints: [{ upstream: { port: wsPort } as Upstream }] },
      { name: 'db', protocol: 'tcp', endpoints: [{ upstream: { port: echoPort } as Upstream }] },
    ],
    listeners: [
      { name: 'out', mode: 'outbound', port: 0 },
      {
        name: 'edge',
        mode: 'ingress',
        port: 0,
        routes: [
          { host: 'shop.example.com', pathPrefix: '/', service: 'web' },
          { host: 'shop.example.com', pathPrefix: '/api', service: 'api' },
          { host: '*.example.com', pathPrefix: '/', service: 'api' },
        ],
      },
      { name: 'in', mode: 'inbound', port: 0, upstream: { port: app.port } },
      { name: 'egress', mode: 'egress', port: 0, allow: [{ host: 'localhost', ports: [external.port] }] },
      { name: 'db-out', mode: 'outbound', protocol: 'tcp', service: 'db', port: 0 },
    ],
  });
  const started = await startProxy(config);
  proxy = started.proxy;
  port = started.port;
});
afterAll(async () => {
  await closeAll(proxy, [web, api, app, external]);
  await new Promise((r) => echo.close(r));
  wsServer.closeAllConnections();
  await new Promise((r) => wsServer.close(r));
});

describe('ingress', () => {
  it('routes by exact host and longest prefix, then wildcard hosts', async () => {
    expect(upstreamOf((await send(port('edge'), 'shop.example.com', '/cart')).text)).toBe('web');
    expect(upstreamOf((await send(port('edge'), 'shop.example.com', '/api/items')).text)).toBe('api');
    expect(upstreamOf((await send(port('edge'), 'admin.example.com:443', '/')).text)).toBe('api');
    const none = await send(port('edge'), 'other.org', '/');
    expect(none.status).toBe(404);
    expect(none.headers['x-trellis-error']).toBe('no_route');
  });
});

describe('inbound', () => {
  it('forwards everything to the local app; a plaintext caller is "unknown", whatever its x-trellis-source', async () => {
    const before = app.seen.length;
    const res = await send(port('in'), 'anything', '/local', { headers: { 'x-trellis-source': 'frontend' } });
    expect(upstreamOf(res.text)).toBe('app');
    expect(app.seen[before]?.url).toBe('/local');
    expect(app.seen[before]?.headers['x-trellis-source']).toBeUndefined();
    const { pairs } = proxy.recorder.totals();
    expect(pairs.map((p) => p.source)).toContain('unknown');
    expect(JSON.stringify(pairs)).not.toContain('frontend');
  });
});

describe('egress', () => {
  it('passes allow-listed hosts and refuses others with 403 egress_denied and a reason', async () => {
    const ok = await send(port('egress'), `localhost:${external.port}`, '/x');
    expect(ok.status).toBe(200);
    expect(upstreamOf(ok.text)).toBe('external');
    const denied = await send(port('egress'), 'evil.example.com', '/');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-trellis-error']).toBe('egress_denied');
    expect(JSON.parse(denied.text).detail).toContain('evil.example.com');
    const wrongPort = await send(port('egress'), `localhost:${external.port + 1}`, '/');
    expect(wrongPort.status).toBe(403);
  });
});

describe('tcp', () => {
  it('proxies a TCP connection to the service and echoes bytes back', async () => {
    const socket = net.connect(port('db-out'), '127.0.0.1');
    const payload = Buffer.from('hello over tcp '.repeat(1000));
    const received: Buffer[] = [];
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (c: Buffer) => {
        received.push(c);
        total += c.length;
        if (total >= payload.length) resolve();
      });
      socket.on('error', reject);
      socket.write(payload);
    });
    socket.end();
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });
});

describe('websocket upgrade', () => {
  it('passes the upgrade through and splices the sockets', async () => {
    const socket = net.connect(port('out'), '127.0.0.1');
    const data: Buffer[] = [];
    const got = (predicate: (text: string) => boolean) =>
      new Promise<string>((resolve) => {
        const check = () => {
          const text = Buffer.concat(data).toString();
          if (predicate(text)) resolve(text);
        };
        socket.on('data', (c: Buffer) => {
          data.push(c);
          check();
        });
      });
    const handshake = got((t) => t.includes('\r\n\r\n'));
    socket.write(
      'GET /chat HTTP/1.1\r\nhost: ws\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const head = await handshake;
    expect(head).toMatch(/^HTTP\/1.1 101/);
    expect(head).toContain('x-seen-path: /chat');
    const echoed = got((t) => t.includes('ping-frame'));
    socket.write('ping-frame');
    expect(await echoed).toContain('ping-frame');
    socket.destroy();
  });
});
