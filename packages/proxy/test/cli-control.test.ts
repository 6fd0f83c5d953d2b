/**
 * The trellis-proxy executable joining a control plane: the hello it sends carries the node's labels from the
 * config file (routes select instances by them, e.g. a canary on version: v2) and the port other proxies reach it
 * on: its inbound listener's, or, for an ingress gateway without one, its ingress listener's. The control plane
 * here is a plain ws server on 127.0.0.1 that records the hello; the proxy is the built executable. On SIGTERM
 * the proxy leaves first (its stream closes with "going away", which makes the control plane take its endpoint
 * out of every caller's cluster) and keeps serving for --deregister-delay-ms before it stops accepting.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HelloMessage } from '@trellis/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { type RunningCli, startCli } from './support/cli.ts';

let server: WebSocketServer | undefined;
let cli: RunningCli | undefined;

afterEach(async () => {
  await cli?.stop();
  cli = undefined;
  for (const client of server?.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Starts the proxy against a recording control plane and resolves with its parsed hello and listener ports. */
async function helloOf(
  config: unknown,
  args: string[] = [],
): Promise<{ hello: ReturnType<typeof HelloMessage.parse>; ports: Record<string, number> }> {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server?.once('listening', () => resolve()));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stream/proxy`;
  const first = new Promise<unknown>((resolve) =>
    server?.once('connection', (socket) => socket.once('message', (data) => resolve(JSON.parse(`${data}`)))),
  );
  cli = await startCli(config, '.json', ['--control-plane', url, '--join-token', 'secret', ...args]);
  const up = JSON.parse(await cli.waitFor(/trellis-proxy is up/)) as { listeners: string[] };
  const ports = Object.fromEntries(
    up.listeners.map((l) => [l.split(' ')[0] ?? '', Number(l.split(':').at(-1))] as const),
  );
  return { hello: HelloMessage.parse(await first), ports };
}

describe('trellis-proxy with --control-plane', () => {
  it('registers the node labels from its config file and the port of its inbound listener', async () => {
    const { hello, ports } = await helloOf({
      node: { service: 'service-b', instance: 'b-v2-1', zone: 'zone-2', labels: { version: 'v2' } },
      listeners: [
        { name: 'out', mode: 'outbound', port: 0 },
        { name: 'in', mode: 'inbound', port: 0, upstream: { port: 9 } },
      ],
    });
    expect(hello.token).toBe('secret');
    expect(hello.node).toEqual({
      service: 'service-b',
      instance: 'b-v2-1',
      address: '127.0.0.1',
      port: ports.in,
      zone: 'zone-2',
      labels: { version: 'v2' },
    });
  });

  it('an ingress gateway registers the port of its ingress listener; labels default to none', async () => {
    const { hello, ports } = await helloOf({
      node: { service: 'ingress', instance: 'gw-1' },
      listeners: [{ name: 'edge', mode: 'ingress', port: 0, routes: [{ service: 'service-a' }] }],
      services: [{ name: 'service-a', port: 8080 }],
    });
    expect(ports.edge).toBeGreaterThan(0);
    expect(hello.node).toMatchObject({ service: 'ingress', instance: 'gw-1', port: ports.edge, labels: {} });
  });

  it('on SIGTERM it leaves the control plane first, keeps serving for the deregister delay, then exits 0', async () => {
    const app = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      const { ports } = await helloOf(
        {
          node: { service: 'service-b', instance: 'b-1' },
          listeners: [
            { name: 'in', mode: 'inbound', port: 0, upstream: { port: (app.address() as AddressInfo).port } },
          ],
        },
        ['--deregister-delay-ms', '2000'],
      );
      const [socket] = [...(server?.clients ?? [])];
      const left = new Promise<number>((resolve) => socket?.once('close', (code) => resolve(code)));
      const running = cli as RunningCli;
      running.child.kill('SIGTERM');
      expect(await left).toBe(1001);
      // Left, and still serving: callers that have not heard yet lose nothing.
      const res = await fetch(`http://127.0.0.1:${ports.in}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('ok');
      expect(running.child.exitCode).toBeNull();
      expect(await running.exited).toBe(0);
    } finally {
      app.close();
    }
  });
});
