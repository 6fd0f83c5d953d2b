/**
 * What the built proxy loads only when first used (scripts/build.mjs): node:http at an active health check's first
 * probe (the status phrases are in the bundle), re2js (dist/lib-re2js.cjs) at the first route regex, prom-client
 * (dist/lib-prom-client.cjs) at the first scrape, zod and the schemas (dist/lib-schema.cjs) at a validation,
 * dropped again once the proxy has had neither a validation nor a request for a while. The built executable must
 * still do each of them.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningCli, startCli } from './support/cli.ts';

const running: RunningCli[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
  for (const s of servers.splice(0)) s.close();
});

async function app(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A proxy with one outbound listener and one service, api, at `endpointPort`. */
const apiConfig = (endpointPort: number) => ({
  node: { service: 'web', instance: 'web-1' },
  listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
  services: [{ name: 'api', port: 80 }],
  endpoints: [{ service: 'api', address: '127.0.0.1', port: endpointPort }],
});

/** GET `path` of api through the proxy's outbound listener at `port`: the answer's body. */
function through(port: number, path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host: 'api' } }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const SCHEMA_PROBE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'support/schema-probe.cjs');

/**
 * The built proxy for api at `endpointPort`, with the probe: a GET through it, and how often the probe said
 * `what` ("loaded", "collected").
 */
async function probed(endpointPort: number) {
  const cli = await startCli(apiConfig(endpointPort), '.json', [], {
    NODE_OPTIONS: `--require ${SCHEMA_PROBE}`,
  });
  running.push(cli);
  const up = JSON.parse(await cli.waitFor(/trellis-proxy is up/)) as { listeners: string[] };
  const listener = Number(/:(\d+)$/.exec(up.listeners[0] ?? '')?.[1]);
  const get = () => through(listener, '/');
  const count = (what: string) => cli.logs.filter((l) => l === `schema-probe: ${what}`).length;
  return { cli, get, count };
}

describe('the built proxy', () => {
  it('validates with the schemas from their own file, and lets them go when no config has come for a while', async () => {
    const port = await app((_req, res) => res.end('up'));
    const { cli, get, count } = await probed(port);
    expect(count('loaded')).toBe(1);
    // Dropped a few seconds after the last validation, and nothing keeps them: the probe's WeakRef is cleared.
    await expect.poll(() => count('collected'), { timeout: 15_000, interval: 100 }).toBe(1);
    expect(await get()).toBe('up');

    // A new config file: validated by a fresh load, its fault reported by field, then dropped again.
    await fs.writeFile(cli.configPath, JSON.stringify(apiConfig(70_000)));
    const refused = await cli.waitFor(/kept the previous config/);
    expect(refused).toContain('endpoints[0].port');
    expect(count('loaded')).toBe(2);
    expect(await get()).toBe('up');
    await expect.poll(() => count('collected'), { timeout: 15_000, interval: 100 }).toBe(2);
  });

  it('keeps the schemas while it carries requests, so that a config change then loads nothing; lets them go once quiet', async () => {
    // Loading them takes the proxy about 100 ms, during which it answers nothing: a busy proxy would stall its
    // traffic at each config change that came after a quiet spell.
    const v1 = await app((_req, res) => res.end('v1'));
    const v2 = await app((_req, res) => res.end('v2'));
    const { cli, get, count } = await probed(v1);
    expect(count('loaded')).toBe(1);

    // Requests for longer than the schemas stay after a validation (3 s): they stay.
    const until = Date.now() + 4500;
    while (Date.now() < until) {
      expect(await get()).toBe('v1');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(count('collected')).toBe(0);

    // A config change while requests go on: validated with the schemas already loaded.
    await fs.writeFile(cli.configPath, JSON.stringify(apiConfig(v2)));
    await expect.poll(get, { timeout: 10_000, interval: 100 }).toBe('v2');
    expect(count('loaded')).toBe(1);

    // Quiet: they go.
    await expect.poll(() => count('collected'), { timeout: 15_000, interval: 100 }).toBe(1);
  });

  it('probes endpoints with active health checks and writes status phrases', async () => {
    let healthy = true;
    const probes: string[] = [];
    const port = await app((req, res) => {
      if (req.url === '/healthz') {
        probes.push(req.url);
        res.statusCode = healthy ? 200 : 503;
      }
      res.end('ok');
    });
    const cli = await startCli({
      node: { service: 'web', instance: 'web-1' },
      listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
      services: [{ name: 'api', port: 80 }],
      endpoints: [{ service: 'api', address: '127.0.0.1', port }],
      policies: [
        {
          name: 'api-health',
          service: 'api',
          healthCheck: { intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 },
        },
      ],
    });
    running.push(cli);
    const admin = `http://127.0.0.1:${await cli.adminPort()}`;
    const health = async () => {
      const clusters = (await (await fetch(`${admin}/clusters`)).json()) as {
        endpoints: { health: string }[];
      }[];
      return clusters[0]?.endpoints[0]?.health;
    };
    await expect.poll(() => probes.length, { timeout: 5000 }).toBeGreaterThan(0);
    healthy = false;
    await expect.poll(health, { timeout: 5000 }).toBe('unhealthy');
    healthy = true;
    await expect.poll(health, { timeout: 5000 }).toBe('healthy');

    const missing = await new Promise<string>((resolve, reject) => {
      http
        .get(`${admin}/nope`, (res) => {
          res.resume();
          resolve(`${res.statusCode} ${res.statusMessage}`);
        })
        .on('error', reject);
    });
    expect(missing).toBe('404 Not Found');
  });

  it('routes by a regex (RE2, from its own file), refuses one RE2 cannot run, and serves /metrics', async () => {
    const v1 = await app((_req, res) => res.end('v1'));
    const v2 = await app((_req, res) => res.end('v2'));
    const config = (regex: string) => ({
      node: { service: 'web', instance: 'web-1' },
      listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
      services: [{ name: 'api', port: 80 }],
      endpoints: [
        { service: 'api', address: '127.0.0.1', port: v1, labels: { version: 'v1' } },
        { service: 'api', address: '127.0.0.1', port: v2, labels: { version: 'v2' } },
      ],
      routes: [
        {
          name: 'items',
          service: 'api',
          priority: 1,
          match: [{ path: { regex } }],
          destinations: [{ subset: { version: 'v2' }, weight: 100 }],
        },
        {
          name: 'rest',
          service: 'api',
          priority: 10,
          destinations: [{ subset: { version: 'v1' }, weight: 100 }],
        },
      ],
    });
    const cli = await startCli(config('/items/[0-9]+'));
    running.push(cli);
    const up = JSON.parse(await cli.waitFor(/trellis-proxy is up/)) as { admin: string; listeners: string[] };
    const port = Number(/:(\d+)$/.exec(up.listeners[0] ?? '')?.[1]);
    const get = (path: string) => through(port, path);
    expect(await get('/items/42')).toBe('v2');
    expect(await get('/items/x')).toBe('v1');

    // A backreference: JavaScript could run it, RE2 cannot; the file is refused and the proxy keeps the first.
    await fs.writeFile(cli.configPath, JSON.stringify(config('/(a)\\1')));
    await cli.waitFor(/kept the previous config|invalid proxy config/);
    expect(await get('/items/7')).toBe('v2');

    const metrics = await fetch(`${up.admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('trellis_requests_total{');
  });
});
