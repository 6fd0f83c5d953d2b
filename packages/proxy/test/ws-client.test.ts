/**
 * The control stream's WebSocket client (src/ws-client.ts) against the `ws` server the control plane runs: the
 * handshake (plain and TLS with given roots, refused, timed out), messages both ways (small, 16-bit and 64-bit
 * lengths, fragmented, binary), ping and pong, the closing handshake from either side, a message over maxPayload,
 * a server that breaks the protocol, and terminate().
 */
import { once } from 'node:events';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws';
import { WebSocket } from '../src/ws-client.ts';
import { makeRoot, serverFiles } from './support/ca.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  cleanups.push(() => {
    for (const c of wss.clients) c.terminate();
    return new Promise((resolve) => wss.close(resolve));
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/api/v1/stream/proxy?x=1`;
  return { wss, url };
}

function client(url: string, options?: ConstructorParameters<typeof WebSocket>[1]) {
  const ws = new WebSocket(url, options);
  const errors: Error[] = [];
  ws.on('error', (error: Error) => errors.push(error));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  cleanups.push(() => ws.terminate());
  return { ws, errors, closed };
}

async function connected(
  url: string,
  wss: WebSocketServer,
  options?: ConstructorParameters<typeof WebSocket>[1],
) {
  const accepted = once(wss, 'connection') as Promise<
    [ServerSocket, { url: string; headers: Record<string, string> }]
  >;
  const c = client(url, options);
  await once(c.ws, 'open');
  const [peer, request] = await accepted;
  return { ...c, peer, request };
}

const nextMessage = (ws: WebSocket) =>
  once(ws, 'message').then(([data, binary]) => ({ data: data as Buffer, binary: binary as boolean }));
const nextServerMessage = (peer: ServerSocket) =>
  once(peer, 'message').then(([data, binary]) => ({ data: data as Buffer, binary: binary as boolean }));

describe('the control stream WebSocket client', () => {
  it('opens with the path and query asked for and no extension offered, and carries text both ways', async () => {
    const { wss, url } = await server();
    const { ws, peer, request } = await connected(url, wss);
    expect(request.url).toBe('/api/v1/stream/proxy?x=1');
    expect(request.headers['sec-websocket-extensions']).toBeUndefined();
    expect(ws.readyState).toBe(WebSocket.OPEN);

    const toServer = nextServerMessage(peer);
    ws.send(JSON.stringify({ type: 'hello', text: 'h\u00e9llo \u{1f600}' }));
    expect(await toServer).toEqual({
      data: Buffer.from('{"type":"hello","text":"h\u00e9llo \u{1f600}"}'),
      binary: false,
    });

    const toClient = nextMessage(ws);
    peer.send('{"type":"snapshot"}');
    const got = await toClient;
    expect(got.data.toString()).toBe('{"type":"snapshot"}');
    expect(got.binary).toBe(false);
  });

  it('sends and receives messages with 16-bit and 64-bit lengths, and binary ones', async () => {
    const { wss, url } = await server();
    const { ws, peer } = await connected(url, wss);
    for (const size of [125, 126, 65_535, 65_536, 300_000]) {
      const text = 'x'.repeat(size - 1) + String(size % 10);
      const toServer = nextServerMessage(peer);
      ws.send(text);
      expect((await toServer).data.toString()).toBe(text);
      const toClient = nextMessage(ws);
      peer.send(text);
      expect((await toClient).data.toString()).toBe(text);
    }
    const toClient = nextMessage(ws);
    peer.send(Buffer.from([0, 1, 2, 255]));
    expect(await toClient).toEqual({ data: Buffer.from([0, 1, 2, 255]), binary: true });
  });

  it('puts a fragmented message together, with a ping between its fragments answered by a pong', async () => {
    const { wss, url } = await server();
    const { ws, peer } = await connected(url, wss);
    const toClient = nextMessage(ws);
    const pong = once(peer, 'pong');
    peer.send('{"part":', { fin: false });
    peer.ping(Buffer.from('are you there'));
    peer.send('"one', { fin: false });
    peer.send(' two"}', { fin: true });
    expect((await toClient).data.toString()).toBe('{"part":"one two"}');
    expect(((await pong)[0] as Buffer).toString()).toBe('are you there');
  });

  it('closes: the server gets the code and reason, the client its echo', async () => {
    const { wss, url } = await server();
    const { ws, peer, closed } = await connected(url, wss);
    const serverSaw = once(peer, 'close');
    ws.close(1001, 'proxy shutting down');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const [code, reason] = await serverSaw;
    expect([code, `${reason}`]).toEqual([1001, 'proxy shutting down']);
    expect(await closed).toEqual({ code: 1001, reason: 'proxy shutting down' });
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('is closed by the server with its code and reason, and answers the close', async () => {
    const { wss, url } = await server();
    const { ws, peer, closed, errors } = await connected(url, wss);
    const serverClosed = once(peer, 'close');
    peer.close(4001, 'superseded by a newer connection');
    expect(await closed).toEqual({ code: 4001, reason: 'superseded by a newer connection' });
    const [code] = await serverClosed;
    expect(code).toBe(4001);
    expect(errors).toEqual([]);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('closes with 1009 a message over maxPayload, counting all its fragments', async () => {
    const { wss, url } = await server();
    const { peer, closed, errors } = await connected(url, wss, { maxPayload: 1000 });
    const serverSaw = once(peer, 'close');
    peer.send('a'.repeat(600), { fin: false });
    peer.send('b'.repeat(600), { fin: true });
    expect((await closed).code).toBe(1009);
    expect((await serverSaw)[0]).toBe(1009);
    expect(errors.map((e) => e.message)).toEqual(['Max payload size exceeded']);
  });

  it('fails the connection (1002) when the server masks its frames', async () => {
    const { wss, url } = await server();
    const { peer, closed, errors } = await connected(url, wss);
    // A masked text frame "hi": servers must not mask.
    (peer as unknown as { _socket: net.Socket })._socket.write(
      Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]),
    );
    expect((await closed).code).toBe(1002);
    expect(errors[0]?.message).toBe('MASK must be clear');
  });

  it('reports a refused handshake with its status and closes with 1006', async () => {
    const { url } = await server({
      verifyClient: (_info: unknown, done: (ok: boolean, code?: number) => void) => done(false, 401),
    });
    const { ws, errors, closed } = client(url);
    expect(await closed).toEqual({ code: 1006, reason: '' });
    expect(errors.map((e) => e.message)).toEqual(['Unexpected server response: 401']);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('gives up a handshake the server never answers after handshakeTimeout', async () => {
    // Reads and never answers.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    const started = Date.now();
    const { errors, closed } = client(`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`, {
      handshakeTimeout: 200,
    });
    expect((await closed).code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(errors.map((e) => e.message)).toEqual(['Opening handshake has timed out']);
  });

  it('reports a refused TCP connection', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const { errors, closed } = client(`ws://127.0.0.1:${port}/`);
    expect((await closed).code).toBe(1006);
    expect((errors[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
  });

  it('terminates at once: 1006 on both sides', async () => {
    const { wss, url } = await server();
    const { ws, peer, closed } = await connected(url, wss);
    const serverSaw = once(peer, 'close');
    ws.terminate();
    expect((await closed).code).toBe(1006);
    expect((await serverSaw)[0]).toBe(1006);
  });

  it('speaks wss:// to a server whose certificate chains to the given roots, and refuses one that does not', async () => {
    const root = await makeRoot();
    const { keyPem, certPem } = await serverFiles(root);
    const tlsServer = https.createServer({ key: keyPem, cert: certPem });
    const wss = new WebSocketServer({ server: tlsServer });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const c of wss.clients) c.terminate();
      tlsServer.closeAllConnections();
      return new Promise((resolve) => tlsServer.close(resolve));
    });
    const url = `wss://127.0.0.1:${(tlsServer.address() as AddressInfo).port}/api/v1/stream/proxy`;
    const { ws, peer } = await connected(url, wss, { ca: root.pem });
    const toClient = nextMessage(ws);
    peer.send('over tls');
    expect((await toClient).data.toString()).toBe('over tls');

    const other = await makeRoot();
    const refused = client(url, { ca: other.pem });
    expect((await refused.closed).code).toBe(1006);
    expect(refused.errors[0]?.message).toMatch(/certificate/);
  });
});
