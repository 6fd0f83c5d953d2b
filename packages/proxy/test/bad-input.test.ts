/** Hostile clients: malformed requests, oversized headers and slow headers are refused cleanly. */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let up: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  up = await startUpstream('up');
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      limits: { maxHeaderBytes: 4096, headersTimeoutMs: 300 },
    }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

/** Sends raw bytes and collects everything until the proxy closes the connection. */
function raw(payload: string, options: { slow?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy());
    if (options.slow) {
      socket.write(payload.slice(0, 10));
    } else socket.write(payload);
  });
}

describe('bad input', () => {
  it('garbage instead of HTTP → 400', async () => {
    expect(await raw('THIS IS NOT HTTP\r\n\r\n')).toMatch(/^HTTP\/1.1 400/);
  });

  it('conflicting Content-Length and Transfer-Encoding (smuggling shape) → 400, nothing reaches the upstream', async () => {
    const before = up.seen.length;
    const res = await raw(
      'POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n',
    );
    expect(res).toMatch(/^HTTP\/1.1 400/);
    expect(up.seen.slice(before).some((s) => s.url === '/smuggled')).toBe(false);
  });

  it('two Content-Length headers that disagree → 400', async () => {
    expect(
      await raw('POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab'),
    ).toMatch(/^HTTP\/1.1 400/);
  });

  it('headers over the limit → 431 headers_too_large', async () => {
    const res = await raw(`GET / HTTP/1.1\r\nhost: svc\r\nx-big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1.1 431/);
    expect(res).toContain('x-trellis-error: headers_too_large');
  });

  it('slow headers (slowloris) are cut off after the headers timeout', async () => {
    const t0 = Date.now();
    const res = await raw('GET / HTTP/1.1\r\nhost: svc\r\n', { slow: true });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(res === '' || /^HTTP\/1.1 408/.test(res)).toBe(true);
  });

  it('other clients are served meanwhile', async () => {
    const slow = raw('GET / HTTP/1.1\r\nhost: svc\r\n', { slow: true });
    expect((await send(port, 'svc', '/')).status).toBe(200);
    await slow;
  });
});
