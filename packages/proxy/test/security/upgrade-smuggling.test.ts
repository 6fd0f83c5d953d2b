/**
 * Security issue M8 §3: a raw request written inside a WebSocket upgrade that the upstream never accepted. The
 * client sends an upgrade request and, in the same write, `GET /admin`; the upstream ignores the Upgrade, as RFC
 * 9110 §7.8 lets it, and answers 200 or 404, not 101, and goes on reading HTTP on the connection. The proxy used to
 * tunnel the bytes at once, so the upstream read the smuggled request as the next one, past the inbound deny rule
 * for /admin. Now the answer is relayed, the connection closed, and the upstream never sees /admin; after a real 101
 * the bytes do go through. (Node's own server stops reading after an Upgrade it ignores, so the upstreams here
 * are raw: one request head after another, each answered in turn.)
 */
import http, { type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../../src/proxy.ts';
import { closeAll, meshConfig, startProxy } from '../support/mesh.ts';
import { exchange, headerOf, responsesIn, statusOf } from '../support/raw.ts';
import type { Upstream } from '../support/upstream.ts';

/** A keep-alive HTTP/1.1 server that ignores Upgrade: it answers each request head in turn and records its target. */
interface PlainUpstream {
  port: number;
  seen: string[];
  server: net.Server;
}

async function plainUpstream(status: string, body: string): Promise<PlainUpstream> {
  const up: PlainUpstream = { port: 0, seen: [], server: net.createServer() };
  up.server.on('connection', (socket) => {
    let buffered = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        up.seen.push(buffered.slice(0, buffered.indexOf('\r\n')).split(' ')[1] ?? '');
        buffered = buffered.slice(end + 4);
        socket.write(
          `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

let app: PlainUpstream;
let missing: PlainUpstream;
let wsServer: Server;
let proxy: TrellisProxy;
let port: (name?: string) => number;

beforeAll(async () => {
  app = await plainUpstream('200 OK', 'ok');
  missing = await plainUpstream('404 Not Found', 'no such thing');
  // An upstream that accepts the upgrade and echoes what comes after its 101.
  wsServer = http.createServer();
  wsServer.on('upgrade', (_req, socket, head: Buffer) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
  const wsPort = (wsServer.address() as AddressInfo).port;
  const started = await startProxy({
    ...meshConfig({
      services: [
        { name: 'missing', endpoints: [{ upstream: { port: missing.port } as Upstream }] },
        { name: 'ws', endpoints: [{ upstream: { port: wsPort } as Upstream }] },
      ],
      listeners: [
        { name: 'out', mode: 'outbound', port: 0 },
        { name: 'in', mode: 'inbound', port: 0, upstream: { port: app.port } },
      ],
    }),
    authorizationPolicies: [
      {
        name: 'no-admin',
        destination: '*',
        action: 'deny',
        rules: [{ to: [{ paths: ['/admin', '/admin/*'] }] }],
      },
    ],
  });
  proxy = started.proxy;
  port = started.port;
});
afterAll(async () => {
  wsServer.closeAllConnections();
  await new Promise((resolve) => wsServer.close(resolve));
  await closeAll(proxy, []);
  for (const up of [app, missing]) up.server.close();
});

const upgradeThenSmuggle = (host: string) =>
  `GET /ws HTTP/1.1\r\nhost: ${host}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n` +
  `GET /admin HTTP/1.1\r\nhost: ${host}\r\n\r\n`;

describe('bytes after an upgrade request before the upstream answered 101', () => {
  it('inbound, upstream answers 200: the deny rule on /admin holds, the app never sees /admin', async () => {
    const before = app.seen.length;
    const answer = await exchange(port('in'), upgradeThenSmuggle('b'));
    expect(statusOf(answer)).toBe(200);
    expect(responsesIn(answer)).toBe(1);
    expect(answer).not.toContain('<still open>');
    expect(app.seen.slice(before)).toEqual(['/ws']);
  });

  it('outbound, upstream answers 404: relayed as it is, the upstream never sees /admin', async () => {
    const before = missing.seen.length;
    const answer = await exchange(port('out'), upgradeThenSmuggle('missing'));
    expect(statusOf(answer)).toBe(404);
    expect(headerOf(answer, 'connection')).toBe('close');
    expect(answer.endsWith('no such thing')).toBe(true);
    expect(responsesIn(answer)).toBe(1);
    expect(missing.seen.slice(before)).toEqual(['/ws']);
  });

  it('after a 101 the bytes sent with the upgrade request do reach the upstream, in order', async () => {
    const socket = net.connect(port('out'), '127.0.0.1');
    let text = '';
    const until = (want: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (text.includes(want)) {
            socket.off('data', onData);
            resolve();
          }
        };
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          check();
        };
        socket.on('data', onData);
        check();
      });
    const echoed = until('early-bytes');
    socket.write(
      'GET /chat HTTP/1.1\r\nhost: ws\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\nearly-bytes',
    );
    await echoed;
    expect(statusOf(text)).toBe(101);
    expect(text.indexOf('\r\n\r\nearly-bytes')).toBeGreaterThan(0);
    const later = until('later-bytes');
    socket.write('later-bytes');
    await later;
    socket.destroy();
  });
});
