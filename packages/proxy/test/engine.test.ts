/**
 * The HTTP/1.1 engine on raw sockets (engine/server.ts, engine/upstream.ts) through a real proxy: what node:http
 * and undici did for the proxy before, each checked on the wire. Pipelined requests are answered in order; trailers
 * pass both ways; HEAD, 204 and 304 answers carry no body (a HEAD's keeps its Content-Length); a client that
 * half-closes after its request still gets the answer; bodies of any size stream with backpressure both ways
 * (a client that stops reading stops the upstream, an upstream that stops reading stops the client);
 * read-until-close bodies are re-framed as chunked and the connection kept; hop-by-hop fields stay on their hop.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, startProxy } from './support/mesh.ts';
import { exchange, headerOf, responsesIn, statusOf } from './support/raw.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

let up: Upstream;
let raw: http.Server;
let rawPort: number;
let proxy: TrellisProxy;
let port: number;
let rawProxyPort: number;
/** The upstream's streaming answers: bytes written so far, and whether it is waiting for 'drain'. */
const streamed = { written: 0, blocked: false, finished: false };
/** The upstream's reads of a big upload: bytes read, and a switch to stop reading. */
const upload = { read: 0, paused: false, resume: () => {} };

beforeAll(async () => {
  up = await startUpstream('up', (req, res, body) => {
    const url = req.url ?? '';
    if (url === '/head') {
      res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' });
      res.end();
    } else if (url === '/204') {
      res.writeHead(204);
      res.end();
    } else if (url === '/304') {
      res.writeHead(304, { etag: '"x"' });
      res.end();
    } else if (url === '/trailers') {
      res.writeHead(200, { trailer: 'x-checksum', 'x-seen-trailer': String(req.trailers['x-sum'] ?? '') });
      res.write('part one,');
      res.write('part two');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
    } else if (url.startsWith('/slow/')) {
      // Answered after a delay that makes later pipelined requests finish first if order were not kept.
      setTimeout(() => res.end(url), Number(url.slice(6)));
    } else if (url === '/echo-hops') {
      res.end(JSON.stringify(req.headers));
    } else res.end(`${req.method} ${url} ${body.length}`);
  });
  // The big streams, on a server of their own so that the test sees its writes and reads directly.
  raw = http.createServer((req, res) => {
    if (req.url === '/big-download') {
      res.writeHead(200, { 'content-length': String(64 * MB) });
      const write = () => {
        while (streamed.written < 64 * MB) {
          streamed.written += CHUNK.length;
          if (!res.write(CHUNK)) {
            streamed.blocked = true;
            res.once('drain', () => {
              streamed.blocked = false;
              write();
            });
            return;
          }
        }
        streamed.finished = true;
        res.end();
      };
      write();
      return;
    }
    if (req.url === '/big-upload') {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => {
        upload.read += c.length;
        hash.update(c);
        if (upload.paused) req.pause();
      });
      upload.resume = () => {
        upload.paused = false;
        req.resume();
      };
      req.on('end', () => res.end(hash.digest('hex')));
      return;
    }
    // A read-until-close answer: no Content-Length, no chunking, HTTP/1.0 style.
    res.socket?.write('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close');
    res.socket?.end();
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawPort = (raw.address() as net.AddressInfo).port;
  const started = await startProxy(
    meshConfig({
      services: [
        { name: 'svc', endpoints: [{ upstream: up }] },
        { name: 'raw', endpoints: [{ upstream: { port: rawPort } as Upstream }] },
      ],
      listeners: [
        { name: 'out', mode: 'outbound', port: 0, service: 'svc' },
        { name: 'rawout', mode: 'outbound', port: 0, service: 'raw' },
      ],
      routes: [{ name: 'long', service: 'raw', timeoutMs: 60_000 }],
      // Short, so that the upload test below holds its upstream paused for longer than this.
      limits: { requestBodyIdleTimeoutMs: 400 },
    }),
  );
  proxy = started.proxy;
  port = started.port('out');
  rawProxyPort = started.port('rawout');
});
afterAll(async () => {
  await closeAll(proxy, [up]);
  raw.closeAllConnections();
  await new Promise<void>((resolve) => raw.close(() => resolve()));
});

/** Waits until `check` holds, polling every 20 ms, at most `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the HTTP/1.1 engine', () => {
  it('answers pipelined requests in order, even when a later one is quicker', async () => {
    const text = await exchange(
      port,
      'GET /slow/150 HTTP/1.1\r\nhost: svc\r\n\r\n' +
        'GET /slow/1 HTTP/1.1\r\nhost: svc\r\n\r\n' +
        'POST /post HTTP/1.1\r\nhost: svc\r\ncontent-length: 3\r\n\r\nabc' +
        'GET /last HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
    );
    expect(responsesIn(text)).toBe(4);
    const bodies = text
      .split(/HTTP\/1\.1 200 OK\r\n/)
      .slice(1)
      .map((r) => r.slice(r.indexOf('\r\n\r\n') + 4));
    expect(bodies).toEqual(['/slow/150', '/slow/1', 'POST /post 3', 'GET /last 0']);
    expect(text).not.toContain('<still open>');
  });

  it('passes trailers both ways', async () => {
    const text = await exchange(
      port,
      'POST /trailers HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n' +
        '5\r\nhello\r\n0\r\nx-sum: 42\r\n\r\n',
    );
    expect(statusOf(text)).toBe(200);
    expect(headerOf(text, 'x-seen-trailer')).toBe('42');
    expect(headerOf(text, 'transfer-encoding')).toBe('chunked');
    expect(text).toMatch(/\r\n0\r\nx-checksum: abc123\r\n\r\n$/);
    expect(text).toContain('part one,');
  });

  it('HEAD keeps its Content-Length without a body; 204 and 304 have none', async () => {
    const text = await exchange(
      port,
      'HEAD /head HTTP/1.1\r\nhost: svc\r\n\r\nGET /204 HTTP/1.1\r\nhost: svc\r\n\r\n' +
        'GET /304 HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
    );
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => statusOf(a))).toEqual([200, 204, 304]);
    expect(headerOf(answers[0] as string, 'content-length')).toBe('1234');
    for (const a of answers) expect(a.endsWith('\r\n\r\n')).toBe(true);
    expect(headerOf(answers[2] as string, 'etag')).toBe('"x"');
  });

  it('a client that half-closes after its request still gets the answer', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end('GET /half HTTP/1.1\r\nhost: svc\r\n\r\n');
      });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    expect(statusOf(text)).toBe(200);
    expect(text.endsWith('GET /half 0')).toBe(true);
  });

  it('a client that half-closes after pipelined requests gets every answer, in order', async () => {
    // The FIN arrives while the first request (answered after 100 ms) holds the others unparsed.
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end(
          'GET /slow/100 HTTP/1.1\r\nhost: svc\r\n\r\n' +
            'POST /post HTTP/1.1\r\nhost: svc\r\ncontent-length: 3\r\n\r\nabc' +
            'GET /half HTTP/1.1\r\nhost: svc\r\n\r\n',
        );
      });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    expect(responsesIn(text)).toBe(3);
    expect(text.endsWith('GET /half 0')).toBe(true);
    expect(text).toContain('POST /post 3');
  });

  it('hop-by-hop fields, and those Connection names, stay on their hop', async () => {
    const text = await exchange(
      port,
      'GET /echo-hops HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive, x-private\r\nx-private: 1\r\n' +
        'keep-alive: timeout=5\r\nte: trailers\r\nproxy-authorization: secret\r\nx-kept: yes\r\n\r\n' +
        'GET /x HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
    );
    const first = text.split(/(?=HTTP\/1\.1 )/)[0] as string;
    const seen = JSON.parse(first.slice(first.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    expect(seen['x-kept']).toBe('yes');
    for (const hop of ['x-private', 'keep-alive', 'te', 'proxy-authorization'])
      expect(seen[hop], hop).toBeUndefined();
    expect(seen.connection ?? '').not.toContain('x-private');
  });

  it('a read-until-close answer reaches an HTTP/1.1 client chunked, on a connection kept open', async () => {
    const text = await exchange(
      rawProxyPort,
      'GET /close HTTP/1.1\r\nhost: raw\r\n\r\nGET /close HTTP/1.1\r\nhost: raw\r\nconnection: close\r\n\r\n',
    );
    expect(responsesIn(text)).toBe(2);
    expect(headerOf(text, 'transfer-encoding')).toBe('chunked');
    expect(text).toContain('b\r\nuntil close\r\n0\r\n\r\n');
  });

  it('a client that stops reading stops the upstream; the whole 64 MB arrives once it reads again', async () => {
    streamed.written = 0;
    streamed.finished = false;
    const socket = net.connect(rawProxyPort, '127.0.0.1');
    socket.pause();
    socket.write('GET /big-download HTTP/1.1\r\nhost: raw\r\n\r\n');
    // The upstream writes until the proxy stops taking bytes; with no backpressure it would write all 64 MB.
    await until(() => streamed.blocked || streamed.finished, 'the upstream to block');
    let last = -1;
    await until(() => {
      const steady = streamed.written === last && streamed.blocked;
      last = streamed.written;
      return steady;
    }, 'the upstream to stay blocked');
    expect(streamed.finished).toBe(false);
    expect(streamed.written).toBeLessThan(32 * MB);
    let received = 0;
    let headEnd = -1;
    const head: Buffer[] = [];
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        if (headEnd < 0) {
          head.push(c);
          const all = Buffer.concat(head);
          headEnd = all.indexOf('\r\n\r\n');
          if (headEnd >= 0) received += all.length - headEnd - 4;
        } else received += c.length;
        if (received >= 64 * MB) resolve();
      });
      socket.resume();
    });
    expect(received).toBe(64 * MB);
    expect(streamed.finished).toBe(true);
    socket.destroy();
  });

  it('an upstream that stops reading stops the client; the whole upload arrives once it reads again', async () => {
    upload.read = 0;
    upload.paused = true;
    const socket = net.connect(rawProxyPort, '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(
      'POST /big-upload HTTP/1.1\r\nhost: raw\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n',
    );
    const hash = createHash('sha256');
    let sent = 0;
    let blocked = false;
    // Write until the socket says stop, and go on writing only on 'drain': with no backpressure inside the proxy the
    // whole 64 MB would be taken while the upstream reads nothing.
    const pump = () => {
      while (sent < 64 * MB) {
        const piece = Buffer.alloc(CHUNK.length, sent / CHUNK.length);
        hash.update(piece);
        sent += piece.length;
        const more = socket.write(
          Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]),
        );
        if (!more) {
          blocked = true;
          socket.once('drain', () => {
            blocked = false;
            pump();
          });
          return;
        }
      }
      socket.write('0\r\n\r\n');
    };
    pump();
    let last = -1;
    await until(() => {
      const steady = sent === last && blocked;
      last = sent;
      return steady;
    }, 'the client to stay blocked');
    expect(sent).toBeLessThan(48 * MB);
    // Longer than requestBodyIdleTimeoutMs: the client is not idle while the proxy itself holds its body back
    // (regression: this was answered 408).
    await new Promise((resolve) => setTimeout(resolve, 1200));
    upload.resume();
    const text = await answer;
    expect(statusOf(text)).toBe(200);
    expect(text.endsWith(hash.digest('hex'))).toBe(true);
    expect(upload.read).toBe(64 * MB);
  });
});
