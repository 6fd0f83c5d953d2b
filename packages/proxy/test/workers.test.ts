/**
 * `trellis-proxy --workers N`, the built executable with real worker processes and sockets: a gateway's workers
 * all accept on the one port the primary chose (the kernel balances connections between them), a killed worker
 * is started again while the others serve, SIGTERM stops them all, a new config reaches every worker, and to the
 * control plane the workers are one proxy: one stream, one hello, their telemetry merged. A sidecar refuses to
 * run as several. Which worker served is read from the primary's /stats, which lists each worker's requests.
 * Nothing waits on time: every wait is for evidence, bounded by the test's timeout.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spiffeId, type TelemetryFrame } from '@trellis/schema';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { issuedFiles, makeRoot } from './support/ca.ts';
import { type RunningCli, startCli } from './support/cli.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

interface WorkerStats {
  index: number;
  pid: number;
  restarts: number;
  revision: number;
  requests: number;
}

let app: Upstream;
let cli: RunningCli | undefined;
let plane: WebSocketServer | undefined;

beforeAll(async () => {
  app = await startUpstream('app');
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await cli?.stop();
  cli = undefined;
  for (const socket of plane?.clients ?? []) socket.terminate();
  await new Promise<void>((resolve) => (plane ? plane.close(() => resolve()) : resolve()));
  plane = undefined;
});

function gateway(revision = 1, extra: { host: string; service: string }[] = []) {
  return {
    revision,
    node: { service: 'ingress', instance: 'gw-1' },
    listeners: [
      {
        name: 'edge',
        mode: 'ingress',
        port: 0,
        routes: [
          { host: 'app.test', service: 'app' },
          ...extra.map((e) => ({ host: e.host, service: e.service })),
        ],
      },
    ],
    services: [{ name: 'app', port: 80 }, ...extra.map((e) => ({ name: e.service, port: 80 }))],
    endpoints: [
      { service: 'app', address: '127.0.0.1', port: app.port },
      ...extra.map((e) => ({ service: e.service, address: '127.0.0.1', port: app.port })),
    ],
  };
}

/** Starts the gateway; resolves with its listener port and admin URL once it says it is up. */
async function startGateway(config: unknown, args: string[] = []): Promise<{ port: number; admin: string }> {
  cli = await startCli(config, '.json', ['--workers', '2', ...args]);
  const up = JSON.parse(await cli.waitFor(/trellis-proxy is up/, 30_000)) as {
    listeners: string[];
    admin: string;
  };
  return { port: Number(up.listeners[0]?.split(':').at(-1)), admin: up.admin };
}

/** One request on a connection of its own, so that every request is a new connection for the kernel to hand out. */
function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/', headers: { host }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function workers(admin: string): Promise<WorkerStats[]> {
  const stats = (await (await fetch(`${admin}/stats`)).json()) as { workers: WorkerStats[] };
  return stats.workers;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls `check` until it holds (the test's timeout bounds it). */
async function eventually<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('trellis-proxy --workers', () => {
  it('runs two workers that both accept on the port the primary chose, and serve', async () => {
    const { port, admin } = await startGateway(gateway());
    const list = await workers(admin);
    expect(list).toHaveLength(2);
    expect(new Set(list.map((w) => w.pid)).size).toBe(2);
    expect(list.every((w) => w.pid !== cli?.child.pid)).toBe(true);
    // New connections until each worker has served one: the kernel decides who accepts, so keep asking.
    let served: WorkerStats[] = list;
    for (let sent = 0; served.some((w) => w.requests === 0); sent++) {
      expect(sent).toBeLessThan(2000);
      expect(await get(port, 'app.test')).toBe(200);
      if (sent % 10 === 9) served = await workers(admin);
    }
    expect(new Set(served.filter((w) => w.requests > 0).map((w) => w.pid)).size).toBe(2);
  });

  it('starts a killed worker again while the other keeps serving; SIGTERM stops the primary and every worker', async () => {
    const { port, admin } = await startGateway(gateway());
    const [victim, survivor] = await workers(admin);
    if (!victim || !survivor) throw new Error('two workers expected');
    process.kill(victim.pid, 'SIGKILL');
    await eventually(async () => (alive(victim.pid) ? undefined : true));
    for (let i = 0; i < 20; i++) expect(await get(port, 'app.test')).toBe(200);
    const again = await eventually(async () => {
      const list = await workers(admin);
      const restarted = list.find((w) => w.index === victim.index);
      return list.length === 2 && restarted && restarted.pid !== victim.pid ? list : undefined;
    });
    expect(again.find((w) => w.index === victim.index)?.restarts).toBe(1);
    expect(again.find((w) => w.index === survivor.index)?.pid).toBe(survivor.pid);
    expect(await get(port, 'app.test')).toBe(200);

    const running = cli as RunningCli;
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    for (const w of again) expect(alive(w.pid)).toBe(false);
  });

  it('applies a changed config file to every worker', async () => {
    const { port, admin } = await startGateway(gateway(1));
    expect(await get(port, 'other.test')).toBe(404);
    const running = cli as RunningCli;
    await fs.writeFile(
      running.configPath,
      JSON.stringify(gateway(2, [{ host: 'other.test', service: 'other' }])),
    );
    const list = await eventually(async () => {
      const now = await workers(admin);
      return now.length === 2 && now.every((w) => w.revision === 2) ? now : undefined;
    });
    expect(list).toHaveLength(2);
    for (let i = 0; i < 10; i++) expect(await get(port, 'other.test')).toBe(200);
  });

  it('is one proxy to the control plane: one stream, a snapshot applied by every worker, one telemetry stream', async () => {
    plane = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => plane?.once('listening', () => resolve()));
    const hellos: unknown[] = [];
    const acks: number[] = [];
    const frames: TelemetryFrame[] = [];
    plane.on('connection', (socket) => {
      socket.on('message', (data) => {
        const message = JSON.parse(`${data}`) as {
          type: string;
          revision?: number;
          frames?: TelemetryFrame[];
        };
        if (message.type === 'hello') {
          hellos.push(message);
          const { services, endpoints } = gateway(1);
          socket.send(
            JSON.stringify({
              type: 'snapshot',
              revision: 5,
              nonce: 'n5',
              slice: { services, endpoints, routes: [], policies: [] },
            }),
          );
        } else if (message.type === 'ack') acks.push(message.revision ?? -1);
        else if (message.type === 'telemetry') frames.push(...(message.frames ?? []));
      });
    });
    const url = `ws://127.0.0.1:${(plane.address() as AddressInfo).port}/api/v1/stream/proxy`;
    const { port, admin } = await startGateway(gateway(1), [
      '--control-plane',
      url,
      '--join-token',
      'secret',
    ]);
    await eventually(async () => (acks.includes(5) ? true : undefined));
    const list = await eventually(async () => {
      const now = await workers(admin);
      return now.every((w) => w.revision === 5) ? now : undefined;
    });
    expect(list).toHaveLength(2);
    expect(hellos).toHaveLength(1);
    expect(plane.clients.size).toBe(1);

    const requests = 40;
    for (let i = 0; i < requests; i++) expect(await get(port, 'app.test')).toBe(200);
    const counted = () =>
      frames
        .flatMap((f) => f.edges)
        .filter((e) => e.destination === 'app')
        .reduce((n, e) => n + e.requests, 0);
    await eventually(async () => (counted() >= requests ? true : undefined));
    expect(counted()).toBe(requests);
    expect(new Set(frames.map((f) => JSON.stringify(f.node))).size).toBe(1);
  });

  it("gives every worker the primary's certificate: each one calls a strict mTLS sidecar as the gateway", async () => {
    const trustDomain = 'workers.test';
    const root = await makeRoot();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-workers-'));
    const identity = async (service: string) => {
      const folder = path.join(dir, service);
      await fs.mkdir(folder);
      const { keyPem, certPem } = await issuedFiles(root, spiffeId(trustDomain, service));
      await fs.writeFile(path.join(folder, 'key.pem'), keyPem, { mode: 0o600 });
      await fs.writeFile(path.join(folder, 'cert.pem'), certPem);
      await fs.writeFile(path.join(folder, 'roots.pem'), root.pem);
      return ['--identity-dir', folder, '--trust-domain', trustDomain];
    };
    const peerApp = await startUpstream('peer', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ peer: req.headers['x-trellis-peer-identity'] ?? null }));
    });
    const sidecar = await startCli(
      {
        node: { service: 'svc', instance: 'svc-1' },
        listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { port: peerApp.port } }],
        mtls: { mode: 'strict' },
      },
      '.json',
      await identity('svc'),
    );
    try {
      const up = JSON.parse(await sidecar.waitFor(/trellis-proxy is up/)) as { listeners: string[] };
      const inbound = Number(up.listeners[0]?.split(':').at(-1));
      await sidecar.waitFor(/obtained a certificate/);
      const config = {
        node: { service: 'ingress', instance: 'gw-1' },
        listeners: [{ name: 'edge', mode: 'ingress', port: 0, routes: [{ service: 'svc' }] }],
        services: [{ name: 'svc', port: 80 }],
        endpoints: [{ service: 'svc', address: '127.0.0.1', port: inbound, source: 'proxy' }],
        mtls: { mode: 'strict' },
      };
      const { port, admin } = await startGateway(config, await identity('ingress'));
      // The primary's certificate, then each worker's copy of it.
      await eventually(async () =>
        (cli?.logs.filter((l) => l.includes('obtained a certificate')).length ?? 0) >= 3 ? true : undefined,
      );
      const ask = () =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
      let served = await workers(admin);
      for (let sent = 0; served.some((w) => w.requests === 0); sent++) {
        expect(sent).toBeLessThan(2000);
        const res = await ask();
        expect(res.status, res.body).toBe(200);
        expect(JSON.parse(res.body)).toEqual({ peer: spiffeId(trustDomain, 'ingress') });
        if (sent % 10 === 9) served = await workers(admin);
      }
      const certs = (await (await fetch(`${admin}/certs`)).json()) as { identity: string };
      expect(certs.identity).toBe(spiffeId(trustDomain, 'ingress'));
    } finally {
      await sidecar.stop();
      await peerApp.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run a sidecar as several workers, saying why', async () => {
    cli = await startCli(
      {
        node: { service: 'svc', instance: 'svc-1' },
        listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { port: app.port } }],
      },
      '.json',
      ['--workers', '2'],
    );
    const line = await cli.waitFor(/--workers 2 is for gateways/);
    expect(line).toContain('listener \\"in\\" is inbound');
    expect(await cli.exited).toBe(1);
  });
});
