/**
 * The upstream connection pool (engine/upstream.ts) on real sockets. Its connector is wrapped so that the test decides when each new
 * connection is established (standing in for a TLS handshake that takes a while on a busy machine): a burst of
 * requests must wait for the connections already open rather than start one connection each, a waiting request
 * whose signal aborts must leave at once, and close/destroy must settle every waiting request.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { collect } from '../src/engine/body.ts';
import { type ConnectCallback, UpstreamPool } from '../src/engine/upstream.ts';
import { Fields } from '../src/http1/fields.ts';

type Connector = NonNullable<ConstructorParameters<typeof UpstreamPool>[0]['connector']>;

interface Upstream {
  port: number;
  server: http.Server;
  /** Requests being held, in arrival order: call one to answer it. */
  held: (() => void)[];
  close(): Promise<void>;
}

/** Answers at once, or holds requests to /hold until the test answers them. */
async function upstream(): Promise<Upstream> {
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const answer = () => res.end(req.url);
    if (req.url === '/hold') held.push(answer);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    held,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A connector whose connects wait until the test lets them through; counts how many ran at once. */
function gatedConnector() {
  const waiting: (() => void)[] = [];
  const counts = { started: 0, inProgress: 0, mostAtOnce: 0 };
  const onStart: (() => void)[] = [];
  const connect: Connector = (inner, callback: ConnectCallback) => {
    counts.started += 1;
    counts.inProgress += 1;
    counts.mostAtOnce = Math.max(counts.mostAtOnce, counts.inProgress);
    waiting.push(() =>
      inner((error, socket) => {
        counts.inProgress -= 1;
        callback(error, socket);
      }),
    );
    for (const fn of onStart.splice(0)) fn();
  };
  return {
    connect,
    counts,
    /** Lets every connect started so far through. */
    release: () => {
      for (const go of waiting.splice(0)) go();
    },
    /** Resolves once `n` connects have started in all. */
    started: async (n: number) => {
      while (counts.started < n) await new Promise<void>((resolve) => onStart.push(resolve));
    },
  };
}

function pool(port: number, connections: number, connector?: Connector, idleTimeoutMs = 30_000) {
  return new UpstreamPool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 5000,
    idleTimeoutMs,
    limits: { maxHeadBytes: 16_384, maxHeaders: 100, maxStartLineBytes: 8192 },
    connections,
    maxConnecting: 2,
    ...(connector ? { connector } : {}),
  });
}

async function get(
  p: UpstreamPool,
  path: string,
  signal?: AbortSignal,
  fields = Fields.of({}),
): Promise<string> {
  const res = await p.request({ method: 'GET', path, fields, body: null }, signal);
  if (res.body === null) return '';
  return (Buffer.isBuffer(res.body) ? res.body : await collect(res.body, 1 << 20)).toString();
}

/** Waits until `check` holds, one event-loop turn at a time (bounded). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(check()).toBe(true);
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** An upstream and a pool of `connections` to it, both closed after the test. */
async function started(connections: number, connect?: Connector) {
  const up = await upstream();
  const p = pool(up.port, connections, connect);
  cleanup.push(
    () => up.close(),
    () => p.destroy(),
  );
  return { up, p };
}

/** A raw upstream that answers each request with `parts`, written one at a time, each after `gate` resolves. */
async function rawUpstream(parts: string[], gate: (index: number) => Promise<void>) {
  const server = net.createServer((socket) => {
    socket.once('data', async () => {
      for (let i = 0; i < parts.length; i++) {
        await gate(i);
        socket.write(parts[i] as string);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe('upstream connection pool', () => {
  it('hands over a small body that came with its head as one Buffer', async () => {
    const port = await rawUpstream(
      ['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhelloworld'],
      async () => {},
    );
    const p = pool(port, 1);
    cleanup.push(() => p.destroy());
    const res = await p.request({ method: 'GET', path: '/', fields: Fields.of({}), body: null });
    expect(Buffer.isBuffer(res.body)).toBe(true);
    expect(String(res.body)).toBe('helloworld');
    expect(res.declaredLength).toBe(10);
  });

  it("does not hold a small body's head back until the rest of the body comes: it streams", async () => {
    let sendRest: () => void = () => {};
    const rest = new Promise<void>((resolve) => {
      sendRest = resolve;
    });
    const port = await rawUpstream(['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello', 'world'], (i) =>
      i === 1 ? rest : Promise.resolve(),
    );
    const p = pool(port, 1);
    cleanup.push(() => p.destroy());
    const res = await p.request({ method: 'GET', path: '/', fields: Fields.of({}), body: null });
    expect(res.status).toBe(200);
    expect(Buffer.isBuffer(res.body)).toBe(false);
    sendRest();
    expect(String(await collect(res.body as Exclude<typeof res.body, Buffer | null>, 100))).toBe(
      'helloworld',
    );
  });

  it('closes a connection left idle for idleTimeoutMs, and opens a new one for the next request', async () => {
    const up = await upstream();
    const p = pool(up.port, 10, undefined, 50);
    cleanup.push(
      () => up.close(),
      () => p.destroy(),
    );
    const closed = new Promise<void>((resolve) =>
      up.server.once('connection', (socket) => socket.once('close', () => resolve())),
    );
    expect(await get(p, '/first')).toBe('/first');
    expect(p.stats).toMatchObject({ connections: 1, free: 1 });
    await closed;
    await until(() => p.stats.connections === 0);
    expect(await get(p, '/again')).toBe('/again');
    expect(p.stats).toMatchObject({ connections: 1, free: 1 });
  });

  it('keeps a connection that carries a request within every idleTimeoutMs', async () => {
    const up = await upstream();
    const p = pool(up.port, 10, undefined, 1000);
    cleanup.push(
      () => up.close(),
      () => p.destroy(),
    );
    let connections = 0;
    up.server.on('connection', () => {
      connections += 1;
    });
    for (let i = 0; i < 6; i++) {
      expect(await get(p, `/r${i}`)).toBe(`/r${i}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(connections).toBe(1);
  });

  it('serves a burst on the connections it has, opening at most two more at a time', async () => {
    const gate = gatedConnector();
    const { p } = await started(100, gate.connect);

    const answers = Array.from({ length: 50 }, (_, i) => get(p, `/r${i}`));
    await gate.started(2);
    expect(p.stats).toMatchObject({ connections: 2, connecting: 2, queued: 48 });

    // The two connections come up: they serve the queue while the next two are being opened.
    gate.release();
    const done: string[] = [];
    for (const a of answers) void a.then((text) => done.push(text));
    await until(() => done.length === 48);
    expect(gate.counts.started).toBe(4);
    expect(gate.counts.mostAtOnce).toBe(2);

    gate.release();
    expect((await Promise.all(answers)).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `/r${i}`).sort(),
    );
    expect(gate.counts.started).toBe(4);
    await until(() => p.stats.free === 4);
    expect(p.stats).toMatchObject({ connections: 4, connecting: 0, queued: 0 });
  });

  it('a waiting request whose signal aborts fails at once and leaves the queue', async () => {
    const { up, p } = await started(1);

    const first = get(p, '/hold');
    await until(() => up.held.length === 1);
    const controller = new AbortController();
    const second = get(p, '/second', controller.signal);
    await until(() => p.stats.queued === 1);
    const reason = new Error('per-try timeout');
    controller.abort(reason);
    await expect(second).rejects.toBe(reason);
    expect(p.stats.queued).toBe(0);

    up.held[0]?.();
    expect(await first).toBe('/hold');
    expect(await get(p, '/third')).toBe('/third');
  });

  it('requests to an endpoint that refuses connections all fail, none left waiting', async () => {
    const up = await upstream();
    const port = up.port;
    await up.close();
    const p = pool(port, 100);
    cleanup.push(() => p.destroy());

    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => get(p, `/r${i}`)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason.code).toBe('ECONNREFUSED');
    }
    expect(p.stats).toMatchObject({ connections: 0, connecting: 0, queued: 0 });
  });

  it('a request whose head cannot be written fails at once without holding a connection or an opening slot', async () => {
    const { p } = await started(10);
    // A value with a CR LF in it would write a header of its own (splitting): refused before any byte is sent.
    const splitting = () => {
      const fields = Fields.of({});
      try {
        fields.set('x-note', 'a\r\nx-injected: 1');
      } catch (error) {
        return Promise.reject(error);
      }
      return get(p, '/split', undefined, fields);
    };
    await expect(splitting()).rejects.toThrow();
    expect(await get(p, '/one')).toBe('/one');
    await until(() => p.stats.free === 1);
    await expect(
      p.request({ method: 'GET', path: '/bad target', fields: Fields.of({}), body: null }),
    ).rejects.toThrow();
    expect(p.stats).toMatchObject({ connections: 1, free: 1, queued: 0 });
    expect(await get(p, '/two')).toBe('/two');
  });

  it('an idle connection the upstream closes leaves the pool, and the next request opens another', async () => {
    const { up, p } = await started(10);
    const sockets: import('node:net').Socket[] = [];
    up.server.on('connection', (s) => sockets.push(s));

    expect(await get(p, '/one')).toBe('/one');
    await until(() => p.stats.free === 1);
    expect(p.stats.connections).toBe(1);
    sockets[0]?.destroy();
    await until(() => p.stats.connections === 0);
    expect(await get(p, '/two')).toBe('/two');
    expect(sockets).toHaveLength(2);
  });

  it('close answers the waiting requests first and refuses new ones; destroy fails them', async () => {
    const up = await upstream();
    const p = pool(up.port, 1);
    cleanup.push(() => up.close());

    const first = get(p, '/hold');
    await until(() => up.held.length === 1);
    const waiting = get(p, '/waiting');
    await until(() => p.stats.queued === 1);
    const closed = p.close();
    await expect(get(p, '/late')).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    const closedAgain = p.close();
    up.held[0]?.();
    expect(await first).toBe('/hold');
    expect(await waiting).toBe('/waiting');
    await closed;
    await closedAgain;

    const q = pool(up.port, 1);
    const settled = (a: Promise<string>) =>
      a.then(
        (text) => `answered ${text}`,
        (error: Error) => error,
      );
    const held = settled(get(q, '/hold'));
    await until(() => up.held.length === 2);
    const queued = settled(get(q, '/queued'));
    await until(() => q.stats.queued === 1);
    await q.destroy();
    expect(await queued).toMatchObject({ code: 'POOL_CLOSED' });
    expect(await held).toBeInstanceOf(Error);
  });
});
