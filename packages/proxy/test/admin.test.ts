import { request } from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type AdminServer, type AdminSource, startAdmin } from '../src/admin.ts';
import { createMetrics } from '../src/telemetry/metrics.ts';
import { TelemetryRecorder } from '../src/telemetry/recorder.ts';

function fakeSource(overrides: Partial<AdminSource> = {}) {
  const state = { ready: false };
  const source: AdminSource = {
    ready: () => state.ready,
    config: () => ({
      revision: 4,
      appliedAt: '2025-01-02T03:04:05.000Z',
      config: { node: { service: 'web' } },
    }),
    clusters: () => ({
      api: { endpoints: [{ key: '10.0.0.1:80', health: 'healthy', ejected: false, active: 2 }] },
    }),
    stats: () => ({ requests: 12 }),
    metrics: async () => '# TYPE x counter\nx 1\n',
    certificates: () => ({ identity: 'spiffe://t/ns/default/sa/web', certificate: null }),
    ...overrides,
  };
  return { state, source };
}

const servers: AdminServer[] = [];

async function start(source: AdminSource, port = 0): Promise<AdminServer> {
  const server = await startAdmin(source, { port });
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function getJson(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  return { status: response.status, body: (await response.json()) as any, headers: response.headers };
}

describe('startAdmin', () => {
  it('binds to 127.0.0.1 on the given port (0: any free one)', async () => {
    const admin = await start(fakeSource().source);
    expect(admin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(admin.url).port)).toBeGreaterThan(0);
  });

  it('answers /ready with 503 until ready, then 200', async () => {
    const { state, source } = fakeSource();
    const admin = await start(source);
    expect(await getJson(`${admin.url}/ready`)).toMatchObject({ status: 503, body: { ready: false } });
    state.ready = true;
    expect(await getJson(`${admin.url}/ready`)).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('serves /config, /clusters, /certs and /stats as JSON, as the source gives them', async () => {
    const { source } = fakeSource();
    const admin = await start(source);
    expect(await getJson(`${admin.url}/config`)).toMatchObject({ status: 200, body: source.config() });
    expect(await getJson(`${admin.url}/clusters`)).toMatchObject({ status: 200, body: source.clusters() });
    expect(await getJson(`${admin.url}/certs`)).toMatchObject({
      status: 200,
      body: { identity: 'spiffe://t/ns/default/sa/web', certificate: null },
    });
    expect(await getJson(`${admin.url}/stats?verbose=1`)).toMatchObject({
      status: 200,
      body: { requests: 12 },
    });
  });

  it('serves /metrics as Prometheus text', async () => {
    const admin = await start(fakeSource().source);
    const response = await fetch(`${admin.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await response.text()).toBe('# TYPE x counter\nx 1\n');
  });

  it('serves the metrics of a real recorder', async () => {
    const recorder = new TelemetryRecorder({ service: 'web', instance: 'web-1' });
    const { registry } = createMetrics(recorder, {
      service: () => 'web',
      revision: () => 9,
      reloads: () => ({ applied: 1, rejected: 0 }),
    });
    recorder.record('web', 'api', 'a', 200, 12, 0, 0);
    const admin = await start({ ...fakeSource().source, metrics: () => registry.metrics() });
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    expect(text).toContain(
      'trellis_requests_total{reporter="source",source_service="web",destination_service="api",destination_endpoint="a",response_code_class="2xx"} 1\n',
    );
    expect(text).toContain('trellis_config_revision 9\n');
  });

  it('answers unknown paths with 404 and other methods with 405, as JSON problems', async () => {
    const admin = await start(fakeSource().source);
    const missing = await getJson(`${admin.url}/nope`);
    expect(missing).toMatchObject({
      status: 404,
      body: { status: 404, code: 'TRELLIS_ERR_ROUTE_NOT_FOUND' },
    });
    expect(missing.body.detail).toContain('/ready');
    expect((await getJson(`${admin.url}/`)).status).toBe(404);
    expect((await getJson(`${admin.url}/ready/`)).status).toBe(404);
    expect((await getJson(`${admin.url}/toString`)).status).toBe(404);

    for (const method of ['POST', 'PUT', 'DELETE']) {
      const refused = await getJson(`${admin.url}/ready`, {
        method,
        body: method === 'DELETE' ? null : '{}',
      });
      expect(refused).toMatchObject({
        status: 405,
        body: { status: 405, code: 'TRELLIS_ERR_METHOD_NOT_ALLOWED' },
      });
      expect(refused.headers.get('allow')).toBe('GET, HEAD');
    }
    expect((await getJson(`${admin.url}/nope`, { method: 'POST', body: 'x' })).status).toBe(404);
  });

  it('answers HEAD like GET without a body', async () => {
    const { state, source } = fakeSource();
    state.ready = true;
    const admin = await start(source);
    const response = await fetch(`${admin.url}/ready`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String('{"ready":true}\n'.length));
    expect(await response.text()).toBe('');
  });

  it('turns a failing source into a 500 problem and keeps serving', async () => {
    const { source } = fakeSource({
      stats: () => {
        throw new Error('boom');
      },
      metrics: () => Promise.reject(new Error('scrape failed')),
      clusters: () => ({ big: 1n }),
    });
    const admin = await start(source);
    const stats = await getJson(`${admin.url}/stats`);
    expect(stats).toMatchObject({ status: 500, body: { code: 'TRELLIS_ERR_INTERNAL' } });
    expect(stats.body.detail).toContain('boom');
    expect((await getJson(`${admin.url}/metrics`)).body.detail).toContain('scrape failed');
    expect((await getJson(`${admin.url}/clusters`)).status).toBe(500);
    expect((await getJson(`${admin.url}/config`)).status).toBe(200);
  });

  it('rejects when the port is taken', async () => {
    const first = await start(fakeSource().source);
    const port = Number(new URL(first.url).port);
    await expect(startAdmin(fakeSource().source, { port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('closes promptly, even with a keep-alive connection open, and stops answering', async () => {
    const admin = await startAdmin(fakeSource().source, { port: 0 });
    const { port } = new URL(admin.url);
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/stats', headers: { connection: 'keep-alive' } },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    await admin.close();
    await expect(fetch(`${admin.url}/ready`)).rejects.toThrow();
  });

  it('answers requests one after another on one connection, a refused body read and dropped, then a malformed one with 400', async () => {
    const { state, source } = fakeSource();
    state.ready = true;
    const admin = await start(source);
    const socket = net.connect(Number(new URL(admin.url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      'POST /ready HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /ready HTTP/1.1\r\nHost: a\r\n\r\n' +
        'HEAD /stats HTTP/1.1\r\nHost: a\r\n\r\n' +
        'GET /ready HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    );
    await closed;
    const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
    expect(statuses).toEqual([405, 200, 200, 400]);
    expect(received).toContain('allow: GET, HEAD\r\n');
    expect(received).toContain('{"ready":true}\n');
    expect(received).toContain(`content-length: ${'{"requests":12}\n'.length}\r\n`);
    expect(received).not.toContain('{"requests":12}');
  });
});
