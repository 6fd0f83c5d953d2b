/**
 * Closing a proxy drains its HTTP listeners: it stops accepting at once, lets requests in flight finish, and closes
 * idle keep-alive connections only after a grace period. A caller that picked this proxy just before it learned the
 * proxy was leaving may be writing its request to a keep-alive connection from its pool: that request is answered,
 * not cut (Node's own server close drops every idle connection at once).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { closedAfterEach, meshConfig, startProxy } from './support/mesh.ts';
import { startUpstream } from './support/upstream.ts';

const started = closedAfterEach();

/** A proxy in front of one upstream, "app", with this drain timeout; returns its listener's port. */
async function proxyWithDrain(drainTimeoutMs: number) {
  const up = await startUpstream('app');
  started.upstreams.push(up);
  const { proxy, port } = await startProxy(
    meshConfig({ services: [{ name: 'svc', endpoints: [{ upstream: up }] }] }),
    { drainTimeoutMs },
  );
  started.proxy = proxy;
  return { proxy, up, port: port() };
}

/**
 * A raw keep-alive connection to `port` that has carried one request (`GET /first`) and holds its answer: what a
 * caller's pool keeps. `answer()` resolves with everything received once the proxy closed the connection.
 */
async function keptConnection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  let answered: () => void = () => {};
  const firstAnswer = new Promise<void>((resolve) => {
    answered = resolve;
  });
  socket.on('data', (chunk: string) => {
    received += chunk;
    if (received.includes('\r\n\r\n')) answered();
  });
  const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write('GET /first HTTP/1.1\r\nhost: svc\r\n\r\n');
  await firstAnswer;
  return { socket, answer: () => ended };
}

describe('closing a proxy', () => {
  it('answers a request written to an idle keep-alive connection just after close began, then closes it', async () => {
    const { proxy, up, port } = await proxyWithDrain(2000);
    const kept = await keptConnection(port);

    const closing = proxy.close();
    // The listener stops accepting at once.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve('connected'));
      s.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    kept.socket.write('GET /second HTTP/1.1\r\nhost: svc\r\n\r\n');
    const answer = await kept.answer();
    expect(answer.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
    await closing;
    started.proxy = undefined;
    expect(up.seen.map((r) => r.url)).toEqual(['/first', '/second']);
  });

  it('closes an idle keep-alive connection after the grace period, well before the drain deadline', async () => {
    const { proxy, port } = await proxyWithDrain(10_000);
    const kept = await keptConnection(port);

    const began = performance.now();
    await proxy.close();
    started.proxy = undefined;
    const tookMs = performance.now() - began;
    expect(await kept.answer()).toMatch(/^HTTP\/1\.1 200 /);
    // The grace is a second at most; the drain deadline (10 s) is not waited for.
    expect(tookMs).toBeLessThan(5000);
  });
});
