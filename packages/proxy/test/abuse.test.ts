/**
 * HTTP-level abuse against a proxy listener, as a hostile client would try it: request-smuggling shapes (each
 * a way for two parsers to disagree on where a request ends), a connection flood beyond the listener's limit.
 * Every shape is refused with 400 and the connection closed, so no second, smuggled request ever reaches the
 * upstream; more header fields than limits.maxHeaders answer 431 (Node would otherwise drop the extra ones
 * silently and the rest would be forwarded); a flood is held at maxConnections, with memory bounded, and the
 * listener serves again once it ends.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const MAX_CONNECTIONS = 20;
let up: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  up = await startUpstream('up');
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      limits: { maxConnections: MAX_CONNECTIONS, headersTimeoutMs: 2000 },
    }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

/** Sends raw bytes and collects everything until the proxy closes the connection (or 3 s pass). */
function raw(payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy());
    socket.write(payload, 'latin1');
  });
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n';

/** Each one a request whose end two parsers could see differently, followed by a smuggled request. */
const SHAPES: [string, string][] = [
  [
    'Content-Length and Transfer-Encoding together',
    `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding not ending in chunked, with a length',
    `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked, identity\r\ncontent-length: 5\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'an unknown transfer coding',
    `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: xchunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'two different Content-Lengths',
    `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 0\r\ncontent-length: 40\r\n\r\n${SMUGGLED}`,
  ],
  ['a Content-Length list', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 0, 40\r\n\r\n${SMUGGLED}`],
  ['whitespace before the colon', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length : 40\r\n\r\n${SMUGGLED}`],
  [
    'an obs-folded Transfer-Encoding',
    `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding:\r\n chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'a chunk size with a prefix',
    `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n0x0\r\n\r\n${SMUGGLED}`,
  ],
  ['a negative Content-Length', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: -1\r\n\r\n${SMUGGLED}`],
  ['a NUL in a header value', `GET / HTTP/1.1\r\nhost: svc\r\nx-a: a\u0000b\r\n\r\n${SMUGGLED}`],
  ['bare LF line ends', `POST / HTTP/1.1\nhost: svc\ncontent-length: 0\n\n${SMUGGLED}`],
];

describe('HTTP abuse', () => {
  it.each(SHAPES)('%s → 400, connection closed, nothing smuggled to the upstream', async (_name, payload) => {
    const before = up.seen.length;
    const res = await raw(payload);
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(res.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(up.seen.slice(before).map((s) => s.url)).not.toContain('/smuggled');
  });

  it('more header fields than limits.maxHeaders → 431 headers_too_large; exactly the limit passes', async () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
    const before = up.seen.length;
    // host, connection and 99 more: 101 fields, one over the default of 100.
    const tooMany = await raw(`GET /many HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n${fields(99)}\r\n`);
    expect(tooMany).toMatch(/^HTTP\/1\.1 431 /);
    expect(tooMany).toContain('x-trellis-error: headers_too_large');
    expect(up.seen.length).toBe(before);
    const enough = await raw(`GET /enough HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n${fields(98)}\r\n`);
    expect(enough).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.seen.at(-1)?.headers['x-h97']).toBe('97');
  });

  it('a connection flood is held at maxConnections, memory stays bounded, and the listener serves again after', async () => {
    const rssBefore = process.memoryUsage().rss;
    const sockets: net.Socket[] = [];
    const refused = MAX_CONNECTIONS * 9;
    let closedByProxy = 0;
    let allRefused: () => void = () => {};
    const refusedAll = new Promise<void>((resolve) => {
      allRefused = resolve;
    });
    await Promise.all(
      Array.from(
        { length: MAX_CONNECTIONS * 10 },
        () =>
          new Promise<void>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => resolve());
            socket.on('error', () => resolve());
            socket.on('close', () => {
              closedByProxy += 1;
              if (closedByProxy === refused) allRefused();
            });
            sockets.push(socket);
          }),
      ),
    );
    // The ones beyond the limit are closed by the proxy as they come; the rest stay open, idle.
    await refusedAll;
    expect(closedByProxy).toBe(MAX_CONNECTIONS * 9);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    for (const s of sockets) s.destroy();
    // Once the flood is gone, an ordinary client is served.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await send(port, 'svc', '/after').then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(200);
  });
});
