/**
 * GET /api/v1/topology and GET /api/v1/metrics over a real Postgres, fed with crafted frames from several proxies
 * (both reporters, a caller without a proxy, an unknown caller, a service without a proxy): the numbers must be
 * exactly what was sent, read from the right side, and bad queries must be 400s naming the parameter.
 */
import {
  latencyBucketHighest,
  latencyBucketLowest,
  latencyBucketOf,
  MetricsSeries,
  Topology,
} from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './support/api.ts';
import {
  DAY_MS,
  edge,
  frame,
  ManualClock,
  type TelemetryControl,
  telemetryControl,
} from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const clock = new ManualClock(T0 + 12_000);
let control: TelemetryControl;

const FAST = Array.from({ length: 100 }, (_, i) => i + 1);
const SLOW = Array.from({ length: 100 }, (_, i) => 101 + i);

/** Everything the proxies of the mesh report about seconds T0+2s … T0+5s. */
function firstHalf() {
  return [
    frame('ingress', T0 + 2000, [edge('ingress', 'service-a', { ok: 100 })]),
    frame(
      'service-a',
      T0 + 2000,
      [edge('service-a', 'service-b', { ok: 100, latencyMs: FAST, bytesIn: 1000 })],
      'a-1',
    ),
    frame(
      'service-a',
      T0 + 2000,
      [edge('ingress', 'service-a', { ok: 100 }), edge('unknown', 'service-a', { ok: 10 })],
      'a-1',
    ),
    frame('service-b', T0 + 2000, [edge('service-a', 'service-b', { ok: 100, latencyMs: FAST })]),
  ];
}

function secondHalf() {
  return [
    frame('ingress', T0 + 3000, [edge('ingress', 'service-a', { ok: 100 })]),
    frame(
      'service-a',
      T0 + 3000,
      [
        edge('service-a', 'service-b', {
          ok: 80,
          c5xx: 20,
          latencyMs: SLOW,
          bytesIn: 500,
          endpoint: '10.0.0.2:80',
        }),
      ],
      'a-2',
    ),
    frame('service-a', T0 + 3000, [edge('ingress', 'service-a', { ok: 100 })], 'a-2'),
    frame('service-b', T0 + 4000, [edge('service-a', 'service-b', { ok: 80, c5xx: 20, latencyMs: SLOW })]),
    frame('service-b', T0 + 4000, [edge('legacy', 'service-b', { ok: 30 })], 'b-2'),
    frame('service-b', T0 + 5000, [edge('service-b', 'service-c', { ok: 50, c4xx: 10 })]),
  ];
}

beforeAll(async () => {
  control = await telemetryControl(clock);
  const { app } = control;
  const post = async (url: string, body: unknown) => {
    const res = await call(app, 'POST', url, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  };
  await post('/api/v1/services', { name: 'service-c', port: 8080 });
  await post('/api/v1/services', { name: 'service-d', port: 8080 });
  await post('/api/v1/services', { name: 'service-b', port: 8080 });
  await post('/api/v1/services', { name: 'service-a', port: 8080, dependencies: ['service-b', 'service-c'] });
  await post('/api/v1/services', { name: 'ingress', port: 8000, dependencies: ['service-a'] });
  await post('/api/v1/services/service-a/endpoints', { address: '10.0.1.1', port: 8080 });
  await post('/api/v1/services/service-b/endpoints', { address: '10.0.2.1', port: 8080 });
  await post('/api/v1/services/service-b/endpoints', { address: '10.0.2.2', port: 8080 });
  await post('/api/v1/services/service-c/endpoints', { address: '10.0.3.1', port: 8080 });
  await post('/api/v1/services/service-c/endpoints', {
    address: '10.0.3.2',
    port: 8080,
    health: 'unhealthy',
  });

  control.telemetry.ingest(firstHalf());
  await control.telemetry.flush();
  control.telemetry.ingest(secondHalf());
});

afterAll(async () => {
  await control?.close();
});

function withinBucket(actual: number | null | undefined, exactMs: number) {
  const index = latencyBucketOf(exactMs * 1000);
  const width = (latencyBucketHighest(index) - latencyBucketLowest(index)) / 1000;
  expect(Math.abs((actual ?? Number.NaN) - exactMs)).toBeLessThanOrEqual(width);
}

describe('GET /api/v1/topology', () => {
  it('shows every service with its health, traffic and endpoints, read from the right reporter', async () => {
    const res = await call(control.app, 'GET', '/api/v1/topology');
    expect(res.status).toBe(200);
    const topology = Topology.parse(res.body);
    expect(topology.at).toBe(new Date(T0 + 12_000).toISOString());
    expect(topology.windowSeconds).toBe(10);
    const nodes = Object.fromEntries(
      topology.nodes.map((n) => [
        n.service,
        [
          n.registered,
          n.health,
          n.reporter,
          n.requests,
          n.rps,
          n.successRate,
          n.endpoints.total,
          n.endpoints.healthy,
        ],
      ]),
    );
    expect(nodes).toEqual({
      // Nothing in the mesh calls the gateway: its traffic is what it passes on.
      ingress: [true, 'healthy', 'source', 200, 20, 1, 0, 0],
      legacy: [false, 'idle', null, 0, 0, null, 0, 0],
      'service-a': [true, 'healthy', 'destination', 210, 21, 1, 1, 1],
      'service-b': [true, 'degraded', 'destination', 230, 23, 0.913, 2, 2],
      'service-c': [true, 'degraded', 'source', 60, 6, 1, 2, 1],
      'service-d': [true, 'idle', null, 0, 0, null, 0, 0],
      unknown: [false, 'idle', null, 0, 0, null, 0, 0],
    });
  });

  it('shows observed calls with rate, errors and latency, and declared dependencies nobody calls as idle', async () => {
    const topology = Topology.parse((await call(control.app, 'GET', '/api/v1/topology')).body);
    expect(
      topology.edges.map((e) => [
        e.source,
        e.destination,
        e.reporter,
        e.idle,
        e.declared,
        e.requests,
        e.rps,
        e.errorRate,
      ]),
    ).toEqual([
      ['ingress', 'service-a', 'source', false, true, 200, 20, 0],
      ['legacy', 'service-b', 'destination', false, false, 30, 3, 0],
      ['service-a', 'service-b', 'source', false, true, 200, 20, 0.1],
      ['service-a', 'service-c', 'source', true, true, 0, 0, null],
      ['service-b', 'service-c', 'source', false, false, 60, 6, 0],
      ['unknown', 'service-a', 'destination', false, false, 10, 1, 0],
    ]);
    const ab = topology.edges.find((e) => e.source === 'service-a' && e.destination === 'service-b');
    withinBucket(ab?.p50, 100);
    withinBucket(ab?.p99, 198);
    expect(ab?.bytesIn).toBe(1500);
  });
});

describe('GET /api/v1/metrics', () => {
  it('sums stored buckets and not yet written ones into points, for a service', async () => {
    const res = await call(
      control.app,
      'GET',
      `/api/v1/metrics?service=service-b&from=${T0 - 10_000}&to=${new Date(T0 + 20_000).toISOString()}&step=10s`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const series = MetricsSeries.parse(res.body);
    expect(series).toMatchObject({
      target: { service: 'service-b' },
      from: new Date(T0 - 10_000).toISOString(),
      stepSeconds: 10,
      resolutionSeconds: 10,
    });
    expect(
      series.points.map((p) => [p.t, p.reporter, p.requests, p.rps, p.successRate, p.errorRate]),
    ).toEqual([
      [new Date(T0 - 10_000).toISOString(), null, 0, 0, null, null],
      [new Date(T0).toISOString(), 'destination', 230, 23, 0.913, 0.087],
      [new Date(T0 + 10_000).toISOString(), null, 0, 0, null, null],
    ]);
    // 230 latencies: 30 × 10 ms (legacy), 1…100 ms and 101…200 ms; the 115th is 85 ms.
    withinBucket(series.points[1]?.p50, 85);
  });

  it('reads minute buckets for whole-minute steps, with the same totals', async () => {
    const res = await call(
      control.app,
      'GET',
      `/api/v1/metrics?edge=service-a>service-b&from=${T0}&to=${T0 + 60_000}&step=1m`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const series = MetricsSeries.parse(res.body);
    expect(series.resolutionSeconds).toBe(60);
    expect(series.target).toEqual({ source: 'service-a', destination: 'service-b' });
    expect(series.points).toHaveLength(1);
    expect(series.points[0]).toMatchObject({
      reporter: 'source',
      requests: 200,
      rps: 3.333,
      successRate: 0.9,
      errorRate: 0.1,
      bytesIn: 1500,
    });
    withinBucket(series.points[0]?.p99, 198);
  });

  it('reads an edge whose caller has no proxy from the callee', async () => {
    const res = await call(
      control.app,
      'GET',
      `/api/v1/metrics?edge=legacy>service-b&from=${T0}&to=${T0 + 10_000}`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.points).toMatchObject([{ reporter: 'destination', requests: 30 }]);
  });

  it('gives the same totals after everything is written', async () => {
    await control.telemetry.flush();
    expect(control.telemetry.store.pendingBuckets).toBe(0);
    const res = await call(
      control.app,
      'GET',
      `/api/v1/metrics?service=service-a&from=${T0}&to=${T0 + 60_000}&step=1m`,
    );
    expect(res.body.points).toMatchObject([{ reporter: 'destination', requests: 210, successRate: 1 }]);
  });

  it('answers bad queries with 400 and the parameter at fault', async () => {
    const old = T0 + 12_000 - 2 * DAY_MS;
    const cases: [string, string][] = [
      ['', 'service'],
      ['?service=service-a&edge=service-a>service-b', 'edge'],
      ['?edge=service-a', 'edge'],
      ['?edge=a>b>c', 'edge'],
      ['?service=service-a&step=7s', 'step'],
      ['?service=service-a&step=fast', 'step'],
      ['?service=service-a&from=yesterday', 'from'],
      [`?service=service-a&from=${T0}&to=${T0 - 1000}`, 'to'],
      [`?service=service-a&from=${T0 + DAY_MS}`, 'from'],
      ['?service=service-a&colour=blue', 'colour'],
      ['?service=no%20spaces', 'service'],
      [`?service=service-a&from=${old}&step=10s`, 'step'],
      [`?service=service-a&from=0&step=1m`, 'step'],
    ];
    for (const [query, path] of cases) {
      const res = await call(control.app, 'GET', `/api/v1/metrics${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers['content-type'], query).toMatch(/^application\/problem\+json/);
      expect(res.body.code, query).toBe('TRELLIS_ERR_VALIDATION');
      expect(
        res.body.errors.map((e: { path: string }) => e.path),
        query,
      ).toEqual([path]);
    }
  });

  it('picks a step that keeps about 360 points when none is given, whole minutes past the 10 s retention', async () => {
    const recent = await call(control.app, 'GET', '/api/v1/metrics?service=service-a');
    expect(recent.status).toBe(200);
    expect(recent.body).toMatchObject({ stepSeconds: 10, resolutionSeconds: 10 });
    // The last 15 minutes, the first point aligned down to the step: 91 steps of 10 s.
    expect(recent.body.points).toHaveLength(91);
    const week = await call(control.app, 'GET', `/api/v1/metrics?service=service-a&from=${T0 - 7 * DAY_MS}`);
    expect(week.status).toBe(200);
    expect(week.body).toMatchObject({ stepSeconds: 1740, resolutionSeconds: 60 });
  });
});
