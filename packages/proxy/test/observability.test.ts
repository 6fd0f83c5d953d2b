/** What a proxy tells about itself: admin pages, Prometheus metrics, telemetry frames, access log. */

import { Writable } from 'node:stream';
import { TelemetryFrame } from '@trellis/schema';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let ok: Upstream;
let failing: Upstream;
let proxy: TrellisProxy;
let port: number;
const frames: TelemetryFrame[] = [];
const logLines: string[] = [];

beforeAll(async () => {
  [ok, failing] = await Promise.all([startUpstream('ok'), startUpstream('failing')]);
  failing.handler = (_req, res) => {
    res.writeHead(500);
    res.end('no');
  };
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  const started = await startProxy(
    meshConfig({
      revision: 12,
      services: [
        { name: 'good', endpoints: [{ upstream: ok }] },
        { name: 'bad', endpoints: [{ upstream: failing }] },
      ],
      routes: [{ name: 'bad-r', service: 'bad', retries: { attempts: 0 } }],
    }),
    { admin: { port: 0 }, sink: { publish: (f) => frames.push(f) }, logger, accessLog: true },
  );
  proxy = started.proxy;
  port = started.port();
  for (let i = 0; i < 7; i++) await send(port, 'good', `/g${i}`, { method: 'POST', body: 'abc' });
  for (let i = 0; i < 3; i++) await send(port, 'bad', '/b');
});
afterAll(() => closeAll(proxy, [ok, failing]));

const admin = async (path: string) => {
  const res = await fetch(`${proxy.adminUrl}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

describe('admin listener', () => {
  it('/ready and /config show the applied revision', async () => {
    expect(JSON.parse((await admin('/ready')).text)).toEqual({ ready: true });
    const config = JSON.parse((await admin('/config')).text);
    expect(config.revision).toBe(12);
    expect(config.config.services.map((s: { name: string }) => s.name)).toEqual(['good', 'bad']);
  });

  it('/clusters lists endpoints with health, ejection and breaker state', async () => {
    const clusters = JSON.parse((await admin('/clusters')).text);
    const good = clusters.find((c: { service: string }) => c.service === 'good');
    expect(good.endpoints[0]).toMatchObject({ port: ok.port, health: 'healthy', ejected: false, active: 0 });
    expect(good.loadBalancer).toBe('least_request');
    expect(good.breakers[0]).toMatchObject({ active: 0, limits: { maxRequests: 1024 } });
  });

  it('/metrics exposes Istio-like request counters and duration histograms', async () => {
    const m = await admin('/metrics');
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.text).toMatch(
      new RegExp(
        `trellis_requests_total\\{reporter="source",source_service="client",destination_service="good",destination_endpoint="127.0.0.1:${ok.port}",response_code_class="2xx"\\} 7`,
      ),
    );
    expect(m.text).toMatch(
      /trellis_requests_total\{[^}]*destination_service="bad"[^}]*response_code_class="5xx"\} 3/,
    );
    expect(m.text).toMatch(
      /trellis_request_duration_seconds_count\{reporter="source",source_service="client",destination_service="good"\} 7/,
    );
    expect(m.text).toMatch(/trellis_request_bytes_total\{[^}]*destination_service="good"[^}]*\} 21/);
    expect(m.text).toContain('trellis_config_revision 12');
  });

  it('/stats has cumulative edges', async () => {
    const stats = JSON.parse((await admin('/stats')).text);
    expect(stats.revision).toBe(12);
    expect(JSON.stringify(stats.edges)).toContain('"destination":"good"');
  });
});

describe('telemetry frames and access log', () => {
  it('publishes 1 s windows through the sink that validate against the wire schema', async () => {
    const good = () =>
      frames
        .flatMap((f) => f.edges)
        .filter((e) => e.destination === 'good')
        .reduce((n, e) => n + e.requests, 0);
    const deadline = Date.now() + 5000;
    while (good() < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const withEdges = frames.filter((f) => f.edges.length > 0);
    expect(withEdges.length).toBeGreaterThan(0);
    for (const f of frames) expect(TelemetryFrame.safeParse(f).success).toBe(true);
    expect(good()).toBe(7);
    expect(frames[0]?.windowMs).toBeGreaterThan(900);
    expect(frames[0]?.windowMs).toBeLessThan(2000);
    expect(Math.abs((frames[0]?.windowStart ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it('writes one access-log line per request', () => {
    const access = logLines.map((l) => JSON.parse(l)).filter((l) => l.access);
    expect(access).toHaveLength(10);
    expect(access[0]).toMatchObject({
      method: 'POST',
      path: '/g0',
      status: 200,
      destination: 'good',
      bytesIn: 3,
    });
    expect(access.at(-1)).toMatchObject({ status: 500, destination: 'bad' });
    expect(typeof access[0].requestId).toBe('string');
  });
});
