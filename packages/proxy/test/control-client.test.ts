/**
 * The proxy's control-plane client against a scripted control plane (a real ws server on 127.0.0.1): hello,
 * snapshot → applied → ACK, invalid snapshot → NACK and the old config stays, endpoint deltas, reconnect after
 * an outage without failing traffic, a connection cut in the middle of a snapshot (the old one stays), and a
 * restart that serves from the on-disk snapshot.
 */
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HelloMessage, type MeshSlice, type TelemetryFrame } from '@trellis/schema';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Bootstrap, ControlClient } from '../src/control-client.ts';
import { createProxy, type TrellisProxy } from '../src/proxy.ts';
import { send } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let v1: Upstream;
let v2: Upstream;
beforeAll(async () => {
  [v1, v2] = await Promise.all([startUpstream('v1'), startUpstream('v2')]);
});
afterAll(async () => {
  await Promise.all([v1.close(), v2.close()]);
});

interface FakeControl {
  server: WebSocketServer;
  url: string;
  sockets: WebSocket[];
  received: unknown[];
  next(predicate: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function fakeControl(port = 0): Promise<FakeControl> {
  const server = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const fake: FakeControl = {
    server,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stream/proxy`,
    sockets: [],
    received: [],
    next(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          const hit = fake.received.find((m) => predicate(m as Record<string, unknown>));
          if (hit) {
            fake.received.splice(fake.received.indexOf(hit), 1);
            resolve(hit as Record<string, unknown>);
            return true;
          }
          return false;
        };
        if (check()) return;
        const timer = setInterval(() => check() && clearInterval(timer), 5);
      });
    },
    async close() {
      for (const s of fake.sockets) s.terminate();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('connection', (socket) => {
    fake.sockets.push(socket);
    socket.on('message', (data) => fake.received.push(JSON.parse(data.toString())));
  });
  return fake;
}

const slice = (endpoints: Upstream[]): MeshSlice => ({
  services: [{ name: 'svc', port: 80, protocol: 'http', labels: {}, description: '' }],
  endpoints: endpoints.map((u) => ({
    service: 'svc',
    address: '127.0.0.1',
    port: u.port,
    labels: {},
    zone: '',
    weight: 1,
    health: 'healthy' as const,
    source: 'proxy' as const,
    ttlSeconds: 30,
  })),
  routes: [],
  policies: [],
});

const bootstrap: Bootstrap = {
  node: { service: 'client' },
  listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
};
const identity = {
  service: 'client',
  instance: 'c-1',
  address: '127.0.0.1',
  port: 15006,
  zone: '',
  labels: {},
};
const silent = pino({ level: 'silent' });

let proxy: TrellisProxy | undefined;
let client: ControlClient | undefined;
let control: FakeControl | undefined;
let stateDir: string;

afterEach(async () => {
  await client?.stop();
  await proxy?.close();
  await control?.close();
  client = undefined;
  proxy = undefined;
  control = undefined;
});

async function startClient(url: string) {
  stateDir = stateDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-lkg-')));
  proxy = await createProxy({ ...bootstrap, services: [] }, { drainTimeoutMs: 500 });
  client = new ControlClient({
    url,
    token: 'secret',
    identity,
    bootstrap,
    proxy,
    stateDir,
    logger: silent,
    backoff: { baseIntervalMs: 20, maxIntervalMs: 100 },
  });
  await client.start();
  return { proxy, client, port: proxy.address('out')?.port ?? 0 };
}

describe('control client', () => {
  it('says hello, applies a snapshot, ACKs it, and routes by it', async () => {
    control = await fakeControl();
    const { port } = await startClient(control.url);
    const hello = await control.next((m) => m.type === 'hello');
    expect(HelloMessage.safeParse(hello).success).toBe(true);
    expect(hello).toMatchObject({ token: 'secret', node: identity });
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 5, nonce: 'n5', slice: slice([v1]) }),
    );
    expect(await control.next((m) => m.type === 'ack')).toEqual({ type: 'ack', revision: 5, nonce: 'n5' });
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');
    expect(proxy?.snapshot.config.revision).toBe(5);
  });

  it('NACKs an invalid snapshot with the field at fault and keeps serving the previous one', async () => {
    control = await fakeControl();
    const { port } = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    const socket = control.sockets[0];
    socket?.send(JSON.stringify({ type: 'snapshot', revision: 6, nonce: 'a', slice: slice([v1]) }));
    await control.next((m) => m.type === 'ack');
    const bad = slice([v2]);
    (bad.endpoints[0] as { port: number }).port = 70_000;
    socket?.send(JSON.stringify({ type: 'snapshot', revision: 7, nonce: 'b', slice: bad }));
    const nack = await control.next((m) => m.type === 'nack');
    expect(nack).toMatchObject({ revision: 7, nonce: 'b' });
    expect(nack.errors).toContainEqual({ path: 'endpoints[0].port', message: 'must be between 1 and 65535' });
    expect(proxy?.snapshot.config.revision).toBe(6);
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');
  });

  it('applies an endpoints delta on top of the snapshot', async () => {
    control = await fakeControl();
    const { port } = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 8, nonce: 'a', slice: slice([v1]) }),
    );
    await control.next((m) => m.type === 'ack');
    control.sockets[0]?.send(
      JSON.stringify({
        type: 'endpoints',
        revision: 9,
        nonce: 'c',
        services: { svc: slice([v2]).endpoints },
      }),
    );
    expect(await control.next((m) => m.type === 'ack')).toMatchObject({ revision: 9 });
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
    // Endpoint by endpoint: add v1 back, then remove v2.
    const [v1Endpoint] = slice([v1]).endpoints;
    control.sockets[0]?.send(
      JSON.stringify({
        type: 'endpoints',
        revision: 10,
        nonce: 'd',
        changes: { svc: { set: [v1Endpoint] } },
      }),
    );
    expect(await control.next((m) => m.type === 'ack')).toMatchObject({ revision: 10 });
    expect(proxy?.snapshot.config.endpoints.map((e) => e.port).sort()).toEqual([v1.port, v2.port].sort());
    control.sockets[0]?.send(
      JSON.stringify({
        type: 'endpoints',
        revision: 11,
        nonce: 'e',
        changes: { svc: { remove: [{ address: '127.0.0.1', port: v2.port }] } },
      }),
    );
    expect(await control.next((m) => m.type === 'ack')).toMatchObject({ revision: 11 });
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');
  });

  it('applies updates that arrive together one after the other, each on the state the one before left', async () => {
    control = await fakeControl();
    await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    const [first, second] = slice([v1, v2]).endpoints;
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 20, nonce: 'a', slice: slice([]) }),
    );
    // Both deltas go out at once, so that they arrive in one read while the snapshot may still be applying.
    control.sockets[0]?.send(
      JSON.stringify({ type: 'endpoints', revision: 21, nonce: 'b', changes: { svc: { set: [first] } } }),
    );
    control.sockets[0]?.send(
      JSON.stringify({ type: 'endpoints', revision: 22, nonce: 'c', changes: { svc: { set: [second] } } }),
    );
    await control.next((m) => m.type === 'ack' && m.revision === 22);
    expect(client?.revision).toBe(22);
    expect(proxy?.snapshot.config.endpoints.map((e) => e.port).sort()).toEqual([v1.port, v2.port].sort());
  });

  it('applies a config update keeping the endpoints it holds; refuses one before any snapshot', async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-lkg-')); // nothing on disk to start from
    control = await fakeControl();
    const { port } = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    const { endpoints: _e, ...config } = slice([v1]);
    control.sockets[0]?.send(JSON.stringify({ type: 'config', revision: 11, nonce: 'early', config }));
    const nack = await control.next((m) => m.type === 'nack');
    expect(nack).toMatchObject({ revision: 11, nonce: 'early' });
    expect(nack.error).toContain('before any snapshot');

    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 12, nonce: 'a', slice: slice([v1, v2]) }),
    );
    await control.next((m) => m.type === 'ack');
    const routed = {
      ...config,
      routes: [
        { name: 'tagged', service: 'svc', headers: { response: { set: { 'x-config-revision': '13' } } } },
      ],
    };
    control.sockets[0]?.send(JSON.stringify({ type: 'config', revision: 13, nonce: 'b', config: routed }));
    expect(await control.next((m) => m.type === 'ack' && m.revision === 13)).toMatchObject({ nonce: 'b' });
    expect(client?.revision).toBe(13);
    expect(proxy?.snapshot.config.endpoints.map((e) => e.port).sort()).toEqual([v1.port, v2.port].sort());
    // The balancer picks at random: 6 tries missed one endpoint about 3 % of the time; 60 miss it with odds of 1e-18.
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) {
      const answer = await send(port, 'svc', '/');
      expect(answer.headers['x-config-revision']).toBe('13');
      seen.add(JSON.parse(answer.text).upstream);
    }
    expect(seen).toEqual(new Set(['v1', 'v2']));
  });

  it('keeps serving through a control-plane outage and resyncs when it returns', async () => {
    control = await fakeControl();
    const controlPort = Number(new URL(control.url).port);
    const { port } = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 10, nonce: 'a', mesh: 'mesh-1', slice: slice([v1]) }),
    );
    await control.next((m) => m.type === 'ack');
    await control.close();
    let failed = 0;
    for (let i = 0; i < 50; i++) if ((await send(port, 'svc', '/')).status !== 200) failed += 1;
    expect(failed).toBe(0);
    control = await fakeControl(controlPort);
    const hello = await control.next((m) => m.type === 'hello');
    // It says which revision of which mesh it has, so the control plane can tell whether that means anything.
    expect(hello).toMatchObject({ revision: 10, mesh: 'mesh-1' });
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 11, nonce: 'b', slice: slice([v2]) }),
    );
    await control.next((m) => m.type === 'ack');
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
  });

  it('a connection cut in the middle of a snapshot leaves the old one in force; the resync brings the new one', async () => {
    control = await fakeControl();
    const controlPort = Number(new URL(control.url).port);
    const { port } = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 20, nonce: 'a', mesh: 'mesh-1', slice: slice([v1]) }),
    );
    await control.next((m) => m.type === 'ack');
    // Half of a WebSocket text frame carrying revision 21, then the TCP connection dies.
    const payload = Buffer.from(
      JSON.stringify({ type: 'snapshot', revision: 21, nonce: 'b', mesh: 'mesh-1', slice: slice([v2]) }),
    );
    const header = Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
    const tcp = (control.sockets[0] as unknown as { _socket: import('node:net').Socket })._socket;
    tcp.write(Buffer.concat([header, payload.subarray(0, payload.length >> 1)]));
    await new Promise<void>((resolve) => tcp.end(resolve));
    tcp.destroy();
    await control.close();

    expect(proxy?.snapshot.config.revision).toBe(20);
    for (let i = 0; i < 20; i++) expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');

    control = await fakeControl(controlPort);
    expect(await control.next((m) => m.type === 'hello')).toMatchObject({ revision: 20, mesh: 'mesh-1' });
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 21, nonce: 'c', mesh: 'mesh-1', slice: slice([v2]) }),
    );
    expect(await control.next((m) => m.type === 'ack')).toEqual({ type: 'ack', revision: 21, nonce: 'c' });
    expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
  });

  it('a proxy restarted while the control plane is down serves from its on-disk snapshot', async () => {
    control = await fakeControl();
    await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    control.sockets[0]?.send(
      JSON.stringify({ type: 'snapshot', revision: 12, nonce: 'a', slice: slice([v2]) }),
    );
    await control.next((m) => m.type === 'ack');
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const saved = await fs.readFile(path.join(stateDir, 'last-known-good.json'), 'utf8').catch(() => '');
      if (saved.includes('"revision":12')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await client?.stop();
    await proxy?.close();
    const unreachable = `ws://127.0.0.1:1/api/v1/stream/proxy`;
    const restarted = await startClient(unreachable);
    expect(restarted.proxy.snapshot.config.revision).toBe(12);
    expect(JSON.parse((await send(restarted.port, 'svc', '/')).text).upstream).toBe('v2');
  });

  it('sends frames holding ejected endpoints even without traffic, and one more when none are held', async () => {
    control = await fakeControl();
    const started = await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    const frame = (windowStart: number, ejectedNow: TelemetryFrame['ejectedNow'] = []): TelemetryFrame => ({
      node: { service: 'client', instance: 'c-1' },
      windowStart,
      windowMs: 1000,
      edges: [],
      ejections: 0,
      ejected: [],
      ejectedNow,
      activeRequests: 0,
    });
    const held = [{ service: 'svc', endpoint: '127.0.0.1:9', remainingMs: 5000 }];
    for (const f of [frame(1000), frame(2000, held), frame(3000, held), frame(4000), frame(5000)]) {
      started.client.publish(f);
    }
    const message = await control.next((m) => m.type === 'telemetry');
    const frames = message.frames as TelemetryFrame[];
    expect(frames.map((f) => [f.windowStart, f.ejectedNow.length])).toEqual([
      [2000, 1],
      [3000, 1],
      [4000, 0],
    ]);
  });

  it('closes on a malformed control message', async () => {
    control = await fakeControl();
    await startClient(control.url);
    await control.next((m) => m.type === 'hello');
    const closed = new Promise<number>((r) => control?.sockets[0]?.once('close', (code) => r(code)));
    control.sockets[0]?.send('{"type":"mystery"}');
    expect(await closed).toBe(4002);
  });
});
