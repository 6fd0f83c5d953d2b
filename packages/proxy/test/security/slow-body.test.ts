/**
 * Security issue M8 §5: slow request bodies time out by default (200 slow-POST connections were still open after
 * 15 s). Each attack is run against a real proxy with small limits injected, and must end with every connection
 * answered 408 request_timeout and closed by the proxy: bodies that stop after their head, bodies trickled a byte
 * at a time (never idle, never finished), a large streamed body that stalls, and the body of a refused request
 * drained slowly. The defaults are on: 30 s without progress, 5 minutes for a whole request.
 */
import net from 'node:net';
import { ProxyConfig } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from '../support/mesh.ts';
import { headerOf, responsesIn, statusOf } from '../support/raw.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const IDLE_MS = 300;
const TOTAL_MS = 1000;

let up: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  up = await startUpstream('up');
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      routes: [{ name: 'only-api', service: 'svc', match: [{ path: { prefix: '/api' } }] }],
      limits: { requestBodyIdleTimeoutMs: IDLE_MS, requestTimeoutMs: TOTAL_MS, retryBufferBytes: 1024 },
    }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

interface SlowPost {
  /** Everything the proxy sent back. */
  text: string;
  /** Body bytes the client had written when the proxy closed the connection. */
  sent: number;
}

/**
 * One slow-POST connection: the head, then a byte every `everyMs` (never, if undefined) until the proxy closes the
 * connection, or until 10 s pass, which only a proxy that never closes lets happen.
 */
function slowPost(head: string, everyMs?: number): Promise<SlowPost> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let text = '';
    let trickle: NodeJS.Timeout | undefined;
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`${head}x`);
      sent = 1;
      if (everyMs !== undefined) {
        trickle = setInterval(() => {
          if (socket.writable) {
            socket.write('x');
            sent += 1;
          }
        }, everyMs);
      }
    });
    const giveUp = setTimeout(() => {
      text += '<still open>';
      socket.destroy();
    }, 10_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      clearInterval(trickle);
      clearTimeout(giveUp);
      resolve({ text, sent });
    });
  });
}

const post = (path: string, length: number) =>
  `POST ${path} HTTP/1.1\r\nhost: svc\r\ncontent-type: text/plain\r\ncontent-length: ${length}\r\n\r\n`;

function expectTimedOut(result: SlowPost) {
  expect(result.text).not.toContain('<still open>');
  expect(statusOf(result.text)).toBe(408);
  expect(headerOf(result.text, 'x-trellis-error')).toBe('request_timeout');
  expect(headerOf(result.text, 'connection')).toBe('close');
  expect(responsesIn(result.text)).toBe(1);
}

describe('slow request bodies', () => {
  it('the limits are on by default: 30 s without progress, 5 minutes for the whole request', () => {
    const { limits } = ProxyConfig.parse({ node: { service: 'a' } });
    expect(limits.requestBodyIdleTimeoutMs).toBe(30_000);
    expect(limits.requestTimeoutMs).toBe(300_000);
  });

  it('200 connections that send a head and one byte of a 100-byte body: each 408 and closed', async () => {
    const before = up.seen.length;
    const results = await Promise.all(Array.from({ length: 200 }, () => slowPost(post('/api/upload', 100))));
    for (const r of results) expectTimedOut(r);
    expect(up.seen.length).toBe(before);
  });

  it('50 connections trickling a byte every 50 ms (never idle): each 408 and closed at the whole-request limit', async () => {
    const before = up.seen.length;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => slowPost(post('/api/upload', 100_000), 50)),
    );
    for (const r of results) {
      expectTimedOut(r);
      // It kept sending all along: the idle limit was never what closed it.
      expect(r.sent).toBeGreaterThan(2);
    }
    expect(up.seen.length).toBe(before);
  });

  it('a streamed body (larger than the retry buffer) that stalls: 408 and closed', async () => {
    const result = await slowPost(post('/api/big', 1_000_000));
    expectTimedOut(result);
  });

  it('the body of a refused request drained a byte at a time: the connection is closed', async () => {
    const result = await slowPost(post('/elsewhere', 100_000), 50);
    expect(statusOf(result.text)).toBe(404);
    expect(result.text).not.toContain('<still open>');
    expect(responsesIn(result.text)).toBe(1);
  });

  it('a body that arrives in time is forwarded as before', async () => {
    const answer = await send(port, 'svc', '/api/upload', { method: 'POST', body: 'y'.repeat(5000) });
    expect(answer.status).toBe(200);
    expect(up.seen.at(-1)?.body.length).toBe(5000);
  });
});
