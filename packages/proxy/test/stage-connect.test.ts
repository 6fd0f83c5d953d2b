/** The connect stage: sends through the endpoint's pool, reports outcomes, maps transport errors. */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamPool } from '../src/engine/upstream.ts';
import { ProxyError } from '../src/errors.ts';
import { classifyError, connect } from '../src/stages/connect.ts';
import { type EndpointState, newEndpointState, type Outcome } from '../src/types.ts';
import { drain, promised, request } from './support/dispatch.ts';

let server: http.Server;
let port: number;
/** Answers held open by /hold: each ends when its function is called. */
const held: (() => void)[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/reset') {
      req.socket.destroy();
      return;
    }
    if (req.url === '/hold') {
      res.writeHead(500);
      res.write('o');
      held.push(() => res.end('k'));
      return;
    }
    res.writeHead(req.url === '/fail' ? 500 : 200, { 'x-path': req.url ?? '' });
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function target(endpointPort: number, connections?: number) {
  const pool = new UpstreamPool({
    host: '127.0.0.1',
    port: endpointPort,
    connectTimeoutMs: 5000,
    idleTimeoutMs: 30_000,
    limits: { maxHeadBytes: 16_384, maxHeaders: 100, maxStartLineBytes: 8192 },
    connections: connections ?? 16,
    maxConnecting: 2,
  });
  const reports: Outcome[] = [];
  const endpoint = newEndpointState('svc', '127.0.0.1', endpointPort);
  return {
    endpoint,
    reports,
    pool,
    dispatch: promised(
      connect({ dispatcher: () => pool, report: (_e: EndpointState, o: Outcome) => reports.push(o) }),
    ),
  };
}

describe('connect stage', () => {
  it('sends the request, reports the status and counts the endpoint active until the body ends', async () => {
    const t = target(port);
    const req = request({ path: '/hold' });
    req.context.endpoint = t.endpoint;
    const res = await t.dispatch(req);
    expect(res.status).toBe(500);
    expect(res.endpoint).toBe(t.endpoint);
    expect(t.reports).toEqual([{ kind: 'response', status: 500 }]);
    expect(t.endpoint.active).toBe(1);
    const ended = drain(res.body);
    expect(t.endpoint.active).toBe(1);
    held.shift()?.();
    await ended;
    expect(t.endpoint.active).toBe(0);
    await t.pool.close();
  });

  it('maps a refused connection to 502 upstream_connect_failure and reports it', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const t = target(deadPort);
    const req = request();
    req.context.endpoint = t.endpoint;
    const error = (await t.dispatch(req).catch((e) => e)) as ProxyError;
    expect(error.code).toBe('TRELLIS_ERR_UPSTREAM_CONNECT');
    expect(t.reports).toEqual([{ kind: 'connect-failure' }]);
    expect(t.endpoint.active).toBe(0);
    await t.pool.close();
  });

  it('maps a dropped connection to 502 upstream_reset', async () => {
    const t = target(port);
    const req = request({ path: '/reset' });
    req.context.endpoint = t.endpoint;
    const error = (await t.dispatch(req).catch((e) => e)) as ProxyError;
    expect(error.code).toBe('TRELLIS_ERR_UPSTREAM_RESET');
    expect(t.reports).toEqual([{ kind: 'reset' }]);
    await t.pool.close();
  });

  describe('a keep-alive connection the upstream closes as a request is written to it', () => {
    /**
     * An upstream that answers the first request of each connection with keep-alive and cuts the connection at the
     * second, as a server closing an idle connection at that very moment does. Counts connections and requests.
     */
    async function closingUpstream(how: 'close' | 'reset' = 'close') {
      const seen = { connections: 0, requests: [] as string[] };
      const upstream = net.createServer((socket) => {
        seen.connections += 1;
        let served = 0;
        socket.on('data', (chunk) => {
          const method = /^([A-Z]+) \//.exec(chunk.toString('latin1'))?.[1];
          if (method === undefined) return; // the rest of a request body
          seen.requests.push(method);
          served += 1;
          if (served === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
          else if (how === 'close') socket.destroy();
          else socket.resetAndDestroy();
        });
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      return { upstream, seen, port: (upstream.address() as AddressInfo).port };
    }

    it.each(['close', 'reset'] as const)(
      '(%s) sends an idempotent request once more on another connection, and reports only its answer',
      async (how) => {
        const { upstream, seen, port: upstreamPort } = await closingUpstream(how);
        // One connection at a time, so that each request after the first is written to the kept one.
        const t = target(upstreamPort, 1);
        for (const method of ['GET', 'PUT']) {
          const req = request({ method, body: method === 'PUT' ? Buffer.from('x') : null });
          req.context.endpoint = t.endpoint;
          const res = await t.dispatch(req);
          expect(res.status).toBe(200);
          await drain(res.body);
        }
        // GET on a new connection; PUT on the kept one (cut), then on a new one.
        expect(seen.connections).toBe(2);
        expect(seen.requests).toEqual(['GET', 'PUT', 'PUT']);
        expect(t.reports).toEqual([
          { kind: 'response', status: 200 },
          { kind: 'response', status: 200 },
        ]);
        await t.pool.close();
        upstream.close();
      },
    );

    it.each(['close', 'reset'] as const)(
      '(%s) does not send a POST twice: it fails as a reset',
      async (how) => {
        const { upstream, seen, port: upstreamPort } = await closingUpstream(how);
        // One connection at a time, so that each request after the first is written to the kept one.
        const t = target(upstreamPort, 1);
        const first = request();
        first.context.endpoint = t.endpoint;
        const firstRes = await t.dispatch(first);
        await drain(firstRes.body);
        const post = request({ method: 'POST', body: Buffer.from('order') });
        post.context.endpoint = t.endpoint;
        const error = (await t.dispatch(post).catch((e) => e)) as ProxyError;
        expect(error.code).toBe('TRELLIS_ERR_UPSTREAM_RESET');
        expect(seen.requests).toEqual(['GET', 'POST']);
        expect(t.reports.at(-1)).toEqual({ kind: 'reset' });
        await t.pool.close();
        upstream.close();
      },
    );
  });

  it('an abort with a timeout reason becomes that timeout, reported as such', () => {
    const controller = new AbortController();
    controller.abort(new ProxyError('TRELLIS_ERR_UPSTREAM_TIMEOUT'));
    const { error, outcome } = classifyError(new Error('aborted'), controller.signal);
    expect((error as ProxyError).code).toBe('TRELLIS_ERR_UPSTREAM_TIMEOUT');
    expect(outcome).toEqual({ kind: 'timeout' });
  });
});
