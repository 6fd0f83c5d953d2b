/**
 * The built proxy loads node:http only when an active health check makes its first request (scripts/build.mjs
 * puts a lazy stand-in where the source imports it): the built executable's health checks must still probe, and
 * its answers must still carry node's status phrases.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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

describe('the built proxy', () => {
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
});
