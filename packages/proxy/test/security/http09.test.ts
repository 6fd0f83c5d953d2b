/**
 * Security issue M8 §5: proxies refuse HTTP/0.9. Node's parser reads a request line without a version ("GET /")
 * as HTTP/0.9 and goes on to read headers, and the proxy used to forward such a request as if it were HTTP/1.1;
 * likewise "HTTP/0.9" and "HTTP/2.0" spelled out in an HTTP/1 request line. A request line without a version is
 * now answered 400, a well-formed version other than 1.0 and 1.1 505 (RFC 9110 §15.6.6, as nginx answers), each
 * with the connection closed, never with a version-less body, and nothing reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../../src/proxy.ts';
import { closeAll, meshConfig, startProxy } from '../support/mesh.ts';
import { exchange, headerOf, responsesIn, statusOf } from '../support/raw.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

let up: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  up = await startUpstream('up');
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      listeners: [
        { name: 'out', mode: 'outbound', port: 0, service: 'svc' },
        { name: 'in', mode: 'inbound', port: 0, upstream: { port: up.port } },
      ],
      limits: { headersTimeoutMs: 300 },
    }),
  );
  proxy = started.proxy;
  port = started.port('out');
});
afterAll(() => closeAll(proxy, [up]));

describe('HTTP/0.9 and other versions than 1.x', () => {
  it.each([
    ['a request line without a version, then headers', 'GET /\r\nhost: svc\r\n\r\n', 400],
    ['a request line without a version, then an empty line', 'GET /\r\n\r\n', 400],
    ['HTTP/0.9 spelled out', 'GET / HTTP/0.9\r\nhost: svc\r\n\r\n', 505],
    ['HTTP/2.0 in an HTTP/1 request line', 'GET / HTTP/2.0\r\nhost: svc\r\n\r\n', 505],
  ])('%s → %i, connection closed, nothing forwarded', async (_name, payload, status) => {
    for (const listener of ['out', 'in']) {
      const before = up.seen.length;
      const answer = await exchange(proxy.address(listener)?.port ?? 0, payload);
      expect(statusOf(answer), listener).toBe(status);
      expect(headerOf(answer, 'x-trellis-error')).toBe('bad_request');
      expect(responsesIn(answer)).toBe(1);
      expect(answer).not.toContain('<still open>');
      expect(up.seen.length, listener).toBe(before);
    }
  });

  it('a bare "GET /" line and nothing more: no HTTP/0.9 answer (a body without a status line), then closed', async () => {
    const before = up.seen.length;
    const answer = await exchange(port, 'GET /\r\n');
    // Refused as soon as the line ends without a version, not after the headers timeout.
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).not.toContain('<still open>');
    expect(up.seen.length).toBe(before);
  });

  it('HTTP/1.0 and HTTP/1.1 are served as before', async () => {
    expect(statusOf(await exchange(port, 'GET /ok HTTP/1.0\r\nhost: svc\r\n\r\n'))).toBe(200);
    expect(statusOf(await exchange(port, 'GET /ok HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n'))).toBe(
      200,
    );
  });
});
