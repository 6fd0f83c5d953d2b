/** Active HTTP health checking against real node:http servers on 127.0.0.1. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthCheck } from '@trellis/schema';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ActiveHealthChecker, healthCheckUrl } from '../src/resilience/health-check.ts';
import type { EndpointState } from '../src/types.ts';

interface TestServer {
  server: http.Server;
  port: number;
  /** The paths requested, in order. */
  requests: string[];
  status: number;
}

const servers: http.Server[] = [];
const checkers: ActiveHealthChecker[] = [];

afterEach(async () => {
  for (const checker of checkers.splice(0)) checker.stop();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/** A server answering `status`, or never answering when status is 0. */
async function serve(status: number): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    handle.requests.push(`${req.method} ${req.url}`);
    if (handle.status === 0) return;
    res.writeHead(handle.status, { 'content-type': 'text/plain' }).end('ok');
  });
  const handle: TestServer = { server, port: 0, requests: [], status };
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  handle.port = (server.address() as AddressInfo).port;
  return handle;
}

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function endpoint(port: number, health: EndpointState['health'] = 'healthy'): EndpointState {
  return {
    key: `s/127.0.0.1:${port}`,
    service: 's',
    address: '127.0.0.1',
    port,
    weight: 1,
    labels: {},
    zone: '',
    health,
    ejectedUntil: 0,
    active: 0,
    mesh: false,
  };
}

function checker(input: Partial<HealthCheck>, endpoints: EndpointState[]) {
  const onChange = vi.fn();
  const config = HealthCheck.parse({
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    timeoutMs: 1_000,
    ...input,
  });
  const c = new ActiveHealthChecker(config, { onChange });
  c.setEndpoints(endpoints);
  checkers.push(c);
  return { checker: c, onChange };
}

function connections(s: TestServer): Promise<number> {
  return new Promise((resolve, reject) =>
    s.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

async function until(condition: () => boolean | Promise<boolean>, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ActiveHealthChecker', () => {
  it('GETs the configured path and keeps a 200 endpoint healthy', async () => {
    const s = await serve(200);
    const e = endpoint(s.port);
    const { checker: c, onChange } = checker({ path: '/ready' }, [e]);
    for (let i = 0; i < 4; i++) await c.probeOnce();
    expect(s.requests).toEqual(['GET /ready', 'GET /ready', 'GET /ready', 'GET /ready']);
    expect(e.health).toBe('healthy');
    expect(onChange).not.toHaveBeenCalled();
  });

  it('marks a 503 endpoint unhealthy after unhealthyThreshold failures, and back after healthyThreshold', async () => {
    const s = await serve(503);
    const e = endpoint(s.port);
    const { checker: c, onChange } = checker({}, [e]);
    await c.probeOnce();
    await c.probeOnce();
    expect(e.health).toBe('healthy');
    expect(onChange).not.toHaveBeenCalled();
    await c.probeOnce();
    expect(e.health).toBe('unhealthy');
    expect(onChange).toHaveBeenCalledTimes(1);

    s.status = 204;
    await c.probeOnce();
    expect(e.health).toBe('unhealthy');
    await c.probeOnce();
    expect(e.health).toBe('healthy');
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it('needs consecutive results: a success in between starts the count over', async () => {
    const s = await serve(500);
    const e = endpoint(s.port);
    const { checker: c } = checker({}, [e]);
    await c.probeOnce();
    await c.probeOnce();
    s.status = 200;
    await c.probeOnce();
    s.status = 302;
    await c.probeOnce();
    await c.probeOnce();
    expect(e.health).toBe('healthy');
    await c.probeOnce();
    expect(e.health).toBe('unhealthy');
  });

  it('counts a closed port as a failure', async () => {
    const e = endpoint(await closedPort());
    const { checker: c, onChange } = checker({ unhealthyThreshold: 2 }, [e]);
    await c.probeOnce();
    expect(e.health).toBe('healthy');
    await c.probeOnce();
    expect(e.health).toBe('unhealthy');
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('fails an endpoint that never answers by timeout', async () => {
    const s = await serve(0);
    const e = endpoint(s.port);
    const { checker: c } = checker({ unhealthyThreshold: 1, timeoutMs: 100 }, [e]);
    const started = Date.now();
    await c.probeOnce();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(s.requests).toHaveLength(1);
    expect(e.health).toBe('unhealthy');
    await until(async () => (await connections(s)) === 0);
  });

  it('probes every endpoint independently', async () => {
    const [good, bad] = [await serve(200), await serve(503)];
    const [g, b] = [endpoint(good.port), endpoint(bad.port)];
    const { checker: c } = checker({ unhealthyThreshold: 1 }, [g, b]);
    await c.probeOnce();
    expect(g.health).toBe('healthy');
    expect(b.health).toBe('unhealthy');
  });

  it('leaves draining endpoints alone', async () => {
    const s = await serve(503);
    const e = endpoint(s.port, 'draining');
    const { checker: c, onChange } = checker({ unhealthyThreshold: 1, healthyThreshold: 1 }, [e]);
    for (let i = 0; i < 3; i++) await c.probeOnce();
    expect(e.health).toBe('draining');
    expect(s.requests).toEqual([]);
    expect(onChange).not.toHaveBeenCalled();
  });

  it('stops probing endpoints that were removed', async () => {
    const s = await serve(503);
    const e = endpoint(s.port);
    const { checker: c } = checker({ unhealthyThreshold: 2 }, [e]);
    await c.probeOnce();
    c.setEndpoints([]);
    await c.probeOnce();
    expect(s.requests).toHaveLength(1);
    c.setEndpoints([e]);
    await c.probeOnce();
    expect(e.health).toBe('healthy');
  });

  it('start() probes at once and then every intervalMs, until stop()', async () => {
    const s = await serve(503);
    const e = endpoint(s.port);
    const { checker: c, onChange } = checker({ intervalMs: 100, timeoutMs: 100, unhealthyThreshold: 3 }, [e]);
    c.start();
    await until(() => s.requests.length >= 1, 1_000);
    await until(() => e.health === 'unhealthy');
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    expect(onChange).toHaveBeenCalledTimes(1);
    c.stop();
    await until(async () => (await connections(s)) === 0);
    const after = s.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(s.requests.length).toBe(after);
  });

  it('stop() aborts the probes in flight, closes their connections and drops their results', async () => {
    const s = await serve(0);
    const e = endpoint(s.port);
    const { checker: c, onChange } = checker({ intervalMs: 5_000, timeoutMs: 5_000, unhealthyThreshold: 1 }, [
      e,
    ]);
    c.start();
    await until(() => s.requests.length === 1);
    const started = Date.now();
    c.stop();
    await until(async () => (await connections(s)) === 0, 2_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(e.health).toBe('healthy');
    expect(onChange).not.toHaveBeenCalled();
  });

  it('stop() during a round schedules no further round', async () => {
    const s = await serve(0);
    const e = endpoint(s.port);
    const { checker: c } = checker({ intervalMs: 200, timeoutMs: 200 }, [e]);
    c.start();
    await until(() => s.requests.length === 1);
    c.stop();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(s.requests).toHaveLength(1);
  });

  it('counts an address that cannot even form a request as a failure', async () => {
    const e = { ...endpoint(80), address: 'not a host' };
    const { checker: c } = checker({ unhealthyThreshold: 1 }, [e]);
    await c.probeOnce();
    expect(e.health).toBe('unhealthy');
  });

  it('brackets IPv6 addresses', () => {
    expect(healthCheckUrl({ address: '::1', port: 8080 }, '/healthz')).toBe('http://[::1]:8080/healthz');
    expect(healthCheckUrl({ address: '10.0.0.1', port: 80 }, '/h')).toBe('http://10.0.0.1:80/h');
  });
});
