/**
 * How the engine reads its sockets (engine/socket-reads.ts): an accepted connection, plaintext or TLS, takes its
 * reads from the socket's handle into a shared buffer, not through 'data' events, and still keeps everything a
 * stream gave it: requests split at any byte, pipelining, backpressure (a paused connection stops reading, and
 * reads again when resumed), the end of the client's side, and the bytes a tunnel takes over. A pooled upstream
 * TLS connection reads the same way. If a Node upgrade changed what socket-reads.ts relies on, the first case says
 * so (the engine would fall back to 'data' events and still work, only slower).
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { collect } from '../src/engine/body.ts';
import { Http1Server, type ServerExchange } from '../src/engine/server.ts';
import { UpstreamPool } from '../src/engine/upstream.ts';
import { Fields } from '../src/http1/fields.ts';
import { makeRoot, serverFiles } from './support/ca.ts';

const LIMITS = {
  maxHeadBytes: 16 * 1024,
  maxHeaders: 100,
  maxStartLineBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 16,
};

const servers: Http1Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function serve(onRequest: (exchange: ServerExchange) => void): Promise<number> {
  const server = new Http1Server({ limits: LIMITS, now: () => performance.now(), onRequest });
  servers.push(server);
  await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
  return (server.server.address() as net.AddressInfo).port;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects what the socket receives until `done` says it is complete. */
function receive(socket: net.Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) resolve(text);
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(text));
  });
}

const answer = (exchange: ServerExchange, text: string) =>
  exchange.respond(200, undefined, Fields.of({ 'content-type': 'text/plain' }), Buffer.from(text));

describe('the engine reading a plaintext connection', () => {
  it("takes the reads from the socket's handle, and answers requests split at every byte in order", async () => {
    const seen: { viaHandle: boolean; dataListeners: number }[] = [];
    const port = await serve((exchange) => {
      seen.push({ viaHandle: exchange.connection.raw, dataListeners: exchange.socket.listenerCount('data') });
      answer(exchange, exchange.target);
    });
    const socket = await connect(port);
    const got = receive(socket, (t) => t.split('HTTP/1.1 200').length === 4);
    const requests = Buffer.from(
      ['/a', '/b', '/c'].map((p) => `GET ${p} HTTP/1.1\r\nhost: x\r\n\r\n`).join(''),
    );
    for (const byte of requests) {
      socket.write(Buffer.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    const text = await got;
    expect(text.match(/\r\n\r\n\/[abc]/g)).toEqual(['\r\n\r\n/a', '\r\n\r\n/b', '\r\n\r\n/c']);
    expect(seen).toEqual([
      { viaHandle: true, dataListeners: 0 },
      { viaHandle: true, dataListeners: 0 },
      { viaHandle: true, dataListeners: 0 },
    ]);
    socket.destroy();
  });

  it('reads a TLS connection the same way, through the TLS wrap: the plaintext, split and pipelined, in order', async () => {
    const seen: boolean[] = [];
    await serve((exchange) => {
      seen.push(exchange.connection.raw);
      answer(exchange, exchange.target);
    });
    const plain = servers.at(-1) as Http1Server;
    const { keyPem, certPem } = await serverFiles(await makeRoot());
    // As the inbound listener does: the TLS server hands each secured socket to the engine's own server.
    const secure = tls.createServer({ key: keyPem, cert: certPem }, (socket) =>
      plain.server.emit('connection', socket),
    );
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const port = (secure.address() as net.AddressInfo).port;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const got = receive(socket, (t) => t.split('HTTP/1.1 200').length === 4);
    const requests = ['/x', '/y', '/z'].map((p) => `GET ${p} HTTP/1.1\r\nhost: x\r\n\r\n`).join('');
    socket.write(requests.slice(0, 7));
    await new Promise((r) => setImmediate(r));
    socket.write(requests.slice(7));
    const text = await got;
    expect(text.match(/\r\n\r\n\/[xyz]/g)).toEqual(['\r\n\r\n/x', '\r\n\r\n/y', '\r\n\r\n/z']);
    expect(seen).toEqual([true, true, true]);
    socket.destroy();
    secure.close();
  });

  it('stops reading while paused (the kernel buffers fill, the client is held back) and reads again when resumed', async () => {
    let current: ServerExchange | undefined;
    let bodyBytes = 0;
    const port = await serve((exchange) => {
      current = exchange;
      exchange.body?.pipe({
        data: (chunk) => {
          bodyBytes += chunk.length;
          return true;
        },
        end: () => answer(exchange, String(bodyBytes)),
        error: () => {},
      });
    });
    const socket = await connect(port);
    const total = 64 * 1024 * 1024;
    socket.write(`POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: ${total}\r\n\r\n`);
    await expect.poll(() => current !== undefined).toBe(true);
    current?.connection.pauseSocket();
    expect(current?.connection.paused()).toBe(true);
    const piece = Buffer.alloc(1024 * 1024, 0x61);
    let written = 0;
    // Write until the socket stops taking bytes: nobody reads them on the other side.
    while (written < total) {
      written += piece.length;
      if (!socket.write(piece)) break;
    }
    await new Promise((r) => setTimeout(r, 200));
    const whilePaused = bodyBytes;
    await new Promise((r) => setTimeout(r, 200));
    expect(bodyBytes).toBe(whilePaused);
    expect(bodyBytes).toBeLessThan(total);
    const got = receive(socket, (t) => t.endsWith(String(total)));
    current?.connection.resumeSocket();
    const more = () => {
      while (written < total) {
        const n = Math.min(piece.length, total - written);
        written += n;
        if (!socket.write(n === piece.length ? piece : piece.subarray(0, n)))
          return socket.once('drain', more);
      }
    };
    socket.once('drain', more);
    expect(await got).toMatch(new RegExp(`\\r\\n\\r\\n${total}$`));
    socket.destroy();
  });

  it("answers a client that half-closes after its request, then sees the end of the client's side", async () => {
    const port = await serve((exchange) => setTimeout(() => answer(exchange, 'late'), 50));
    const socket = await connect(port);
    const got = receive(socket, () => false);
    socket.end('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    const text = await got;
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.endsWith('late')).toBe(true);
  });

  it('hands a tunnel the socket with its reads back on net.Socket, bytes already sent included', async () => {
    // Taken over after the head has been handled, as the proxy does once its upstream has answered 101.
    const port = await serve((exchange) =>
      setImmediate(() => {
        const { socket, rest } = exchange.tunnel();
        socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
        if (rest.length > 0) socket.write(rest);
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
      }),
    );
    const socket = await connect(port);
    const switched = receive(socket, (t) => t.endsWith('early|'));
    socket.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nearly|');
    // The rest of the bytes once the tunnel has echoed the ones sent with the head.
    const first = await switched;
    socket.removeAllListeners('data');
    const got = receive(socket, (t) => t.endsWith('late'));
    socket.write('late');
    expect(first + (await got)).toMatch(/101 Switching Protocols[\s\S]*\r\n\r\nearly\|late$/);
    socket.destroy();
  });

  it('reads a pooled upstream TLS connection into the shared buffer: bodies across many reads arrive whole', async () => {
    const { keyPem, certPem } = await serverFiles(await makeRoot());
    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const upstream = tls.createServer({ key: keyPem, cert: certPem }, (socket) => {
      socket.on('data', () =>
        socket.write(
          Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`), big]),
        ),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const sockets: net.Socket[] = [];
    const pool = new UpstreamPool({
      host: '127.0.0.1',
      port: (upstream.address() as net.AddressInfo).port,
      connectTimeoutMs: 5000,
      idleTimeoutMs: 30_000,
      limits: { maxHeadBytes: 16_384, maxHeaders: 100, maxStartLineBytes: 8192 },
      tls: { connect: { rejectUnauthorized: false }, fallback: false },
      connections: 1,
      maxConnecting: 1,
      connector: (connectDefault, callback) =>
        connectDefault((error, socket) => {
          if (socket) sockets.push(socket);
          callback(error, socket);
        }),
    });
    for (let i = 0; i < 3; i++) {
      const response = await pool.request({
        method: 'GET',
        path: '/',
        fields: Fields.of({ host: 'u' }),
        body: null,
      });
      const body = response.body;
      const bytes = body === null || Buffer.isBuffer(body) ? body : await collect(body, big.length);
      expect(bytes?.equals(big)).toBe(true);
    }
    expect(sockets).toHaveLength(1);
    expect((sockets[0] as net.Socket).listenerCount('data')).toBe(0);
    await pool.close();
    upstream.close();
  });
});
