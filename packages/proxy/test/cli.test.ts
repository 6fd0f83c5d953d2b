/**
 * The trellis-proxy executable: starts from a JSON or YAML file, re-applies it when the file changes, refuses
 * an invalid new version (keeping the old one), streams a 1 GiB body with bounded memory, drains on SIGTERM.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentRss, peakRss, startCli } from './support/cli.ts';
import { meshConfig, send } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let v1: Upstream;
let v2: Upstream;
let sink: http.Server;
let sinkPort: number;

beforeAll(async () => {
  [v1, v2] = await Promise.all([startUpstream('v1'), startUpstream('v2')]);
  sink = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes }));
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkPort = (sink.address() as AddressInfo).port;
});
afterAll(async () => {
  await Promise.all([v1.close(), v2.close()]);
  sink.closeAllConnections();
  await new Promise((r) => sink.close(r));
});

function config(target: Upstream, revision: number, port: number) {
  return meshConfig({
    revision,
    services: [
      { name: 'svc', endpoints: [{ upstream: target }] },
      { name: 'sink', endpoints: [{ upstream: { port: sinkPort } as Upstream }] },
    ],
    listeners: [{ name: 'out', mode: 'outbound', port }],
    // The 1 GiB upload's answer comes only once the whole body is in: on a loaded machine that takes longer than the
    // default route timeout (15 s), and this file tests memory, not time.
    routes: [{ name: 'sink-slow', service: 'sink', timeoutMs: 300_000 }],
  });
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('trellis-proxy executable', () => {
  it('re-applies a changed file, refuses an invalid one and keeps the previous config', async () => {
    const port = await freePort();
    const cli = await startCli(config(v1, 1, port));
    try {
      const admin = await cli.adminPort();
      expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');
      await fs.writeFile(cli.configPath, JSON.stringify(config(v2, 2, port)));
      await cli.waitFor(/"revision":2.*config applied|config applied.*"revision":2/);
      expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');

      await fs.writeFile(cli.configPath, '{"revision": 3, "node": {');
      await cli.waitFor(/kept the previous config/);
      await fs.writeFile(
        cli.configPath,
        JSON.stringify({ ...config(v1, 4, port), listeners: [{ name: 'x', mode: 'nope' }] }),
      );
      await cli.waitFor(/kept the previous config.*listeners\[0\]/);
      expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
      const cfg = (await (await fetch(`http://127.0.0.1:${admin}/config`)).json()) as { revision: number };
      expect(cfg.revision).toBe(2);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('starts from YAML', async () => {
    const port = await freePort();
    const yaml = `revision: 7
node: { service: client }
listeners:
  - { name: out, mode: outbound, port: ${port} }
services:
  - { name: svc, port: 80 }
endpoints:
  - { service: svc, address: 127.0.0.1, port: ${v1.port} }
`;
    const cli = await startCli(yaml, '.yaml');
    try {
      await cli.waitFor(/trellis-proxy is up/);
      expect((await send(port, 'svc', '/')).status).toBe(200);
    } finally {
      await cli.stop();
    }
  });

  it('refuses to start on an invalid file, naming the field', async () => {
    const cli = await startCli({ node: { service: 'Bad Name' } });
    const line = await cli.waitFor(/invalid proxy config/);
    expect(line).toContain('node.service');
    expect(await cli.exited).toBe(1);
    await cli.stop();
  });

  it('streams a 1 GiB upload through with the proxy RSS growing less than 96 MiB', async () => {
    const port = await freePort();
    const cli = await startCli(config(v1, 1, port));
    try {
      await cli.waitFor(/trellis-proxy is up/);
      await send(port, 'sink', '/warm', { method: 'POST', body: 'x' });
      const baseline = await currentRss(cli.child.pid ?? 0);
      const GiB = 1024 * 1024 * 1024;
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent >= GiB) return this.push(null);
          sent += chunk.length;
          this.push(chunk);
        },
      });
      const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/upload',
            headers: { host: 'sink', 'content-length': String(GiB) },
          },
          (r) => {
            let text = '';
            r.on('data', (c) => {
              text += c;
            });
            r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        body.pipe(req);
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).bytes).toBe(GiB);
      const peak = await peakRss(cli.child.pid ?? 0);
      const growth = peak - baseline;
      process.stdout.write(
        `1 GiB upload: proxy RSS baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, peak ${(peak / 2 ** 20).toFixed(1)} MiB\n`,
      );
      expect(growth).toBeLessThan(96 * 1024 * 1024);
    } finally {
      await cli.stop();
    }
  });

  it('drains in-flight requests on SIGTERM before exiting', async () => {
    const port = await freePort();
    const slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end('{"upstream":"slow"}');
      }, 300);
    });
    const cli = await startCli(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: slow }] }],
        listeners: [{ name: 'out', mode: 'outbound', port }],
      }),
    );
    try {
      await cli.waitFor(/trellis-proxy is up/);
      const inFlight = send(port, 'svc', '/');
      await new Promise<void>((r) => {
        const check = () => (slow.seen.length > 0 ? r() : setTimeout(check, 5));
        slow.server.once('request', () => r());
        check();
      });
      cli.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(await cli.stop()).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('restarted while the control plane is away, it comes up already serving its snapshot on disk', async () => {
    // Regression: the proxy used to listen and answer /ready with only the bootstrap, applying the saved snapshot
    // a moment later; a caller (or a supervisor's readiness probe) in that window saw revision 0 and no routes.
    const port = await freePort();
    const saved = config(v2, 9, port);
    const { services, endpoints, routes, policies } = saved;
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-proxy-state-'));
    await fs.writeFile(
      path.join(stateDir, 'last-known-good.json'),
      JSON.stringify({ revision: 9, mesh: 'mesh-1', slice: { services, endpoints, routes, policies } }),
    );
    const bootstrap = { node: saved.node, listeners: saved.listeners };
    const cli = await startCli(
      bootstrap,
      '.json',
      ['--control-plane', 'ws://127.0.0.1:1/api/v1/stream/proxy', '--state-dir', stateDir],
      { TRELLIS_JOIN_TOKEN: 'test-token' },
    );
    try {
      const admin = await cli.adminPort();
      const applied = cli.logs.filter((l) => l.includes('config applied'));
      expect(applied.map((l) => (JSON.parse(l) as { revision: number }).revision)).toEqual([9]);
      const ready = await fetch(`http://127.0.0.1:${admin}/ready`);
      expect(ready.status).toBe(200);
      const live = (await (await fetch(`http://127.0.0.1:${admin}/config`)).json()) as { revision: number };
      expect(live.revision).toBe(9);
      expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
      await cli.waitFor(/started from the last-known-good snapshot on disk/);
    } finally {
      await cli.stop();
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });
});
