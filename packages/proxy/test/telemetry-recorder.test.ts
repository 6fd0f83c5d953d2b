import { type EdgeStats, MAX_EJECTED_NOW, TelemetryFrame } from '@trellis/schema';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  RECORD_DENIED,
  RECORD_DRY_RUN_DENIED,
  RECORD_MTLS,
  TelemetryRecorder,
} from '../src/telemetry/recorder.ts';
import type { Clock } from '../src/types.ts';

const T0 = 1_700_000_000_000;
const NODE = { service: 'web', instance: 'web-1' };

function fakeClock(start = T0): Clock & { advance(ms: number): number } {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
      return now;
    },
  };
}

function edge(frame: TelemetryFrame, source: string, destination: string, endpoint: string): EdgeStats {
  const found = frame.edges.find(
    (e) => e.source === source && e.destination === destination && e.endpoint === endpoint,
  );
  if (found === undefined)
    throw new Error(`no edge ${source} -> ${destination} @ ${JSON.stringify(endpoint)}`);
  return found;
}

function valid(frame: TelemetryFrame): TelemetryFrame {
  const result = TelemetryFrame.safeParse(frame);
  expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
  return frame;
}

const ZERO = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, error: 0 };

describe('TelemetryRecorder', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('counts requests per key and per response class', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    r.record('web', 'api', 'api-a', 200, 10, 100, 1000);
    r.record('web', 'api', 'api-a', 204, 20, 50, 0);
    r.record('web', 'api', 'api-a', 101, 1, 0, 0);
    r.record('web', 'api', 'api-a', 302, 1, 0, 0);
    r.record('web', 'api', 'api-a', 404, 1, 0, 10);
    r.record('web', 'api', 'api-a', 503, 1, 0, 10);
    r.record('web', 'api', 'api-a', 0, 30_000, 20, 0);
    r.record('web', 'api', 'api-b', 599, 5, 1, 2);
    r.record('web', 'db', 'db-a', 200, 2, 3, 4);
    r.record('batch', 'api', 'api-a', 200, 2, 5, 6);
    r.record('web', 'api', '', 0, 0.1, 7, 0);

    const frame = valid(r.flush(clock.advance(1000)));
    expect(frame.node).toEqual(NODE);
    expect(frame.windowStart).toBe(T0);
    expect(frame.windowMs).toBe(1000);
    expect(frame.edges).toHaveLength(5);

    const a = edge(frame, 'web', 'api', 'api-a');
    expect(a.requests).toBe(7);
    expect(a.byClass).toEqual({ '1xx': 1, '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 1, error: 1 });
    expect(a.bytesIn).toBe(170);
    expect(a.bytesOut).toBe(1020);
    expect(a.latency.max).toBe(30_000);
    expect(a.latency.p50).toBe(1);
    expect(a.latency.buckets.reduce((n, [, c]) => n + c, 0)).toBe(7);

    expect(edge(frame, 'web', 'api', 'api-b').byClass).toEqual({ ...ZERO, '5xx': 1 });
    expect(edge(frame, 'web', 'db', 'db-a').bytesOut).toBe(4);
    expect(edge(frame, 'batch', 'api', 'api-a').requests).toBe(1);
    expect(edge(frame, 'web', 'api', '').byClass).toEqual({ ...ZERO, error: 1 });
  });

  it('treats statuses outside 100..599 as errors', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    for (const status of [0, 99, 600, Number.NaN]) r.record('web', 'api', 'a', status, 1, 0, 0);
    r.record('web', 'api', 'a', 100, 1, 0, 0);
    r.record('web', 'api', 'a', 599, 1, 0, 0);
    const frame = valid(r.flush(clock.advance(1000)));
    expect(edge(frame, 'web', 'api', 'a').byClass).toEqual({ ...ZERO, '1xx': 1, '5xx': 1, error: 4 });
  });

  it('rotates windows: each flush returns its own window, totals keep growing', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    for (let i = 0; i < 3; i++) r.record('web', 'api', 'a', 200, 500, 10, 20);

    const first = valid(r.flush(clock.advance(1000)));
    expect(edge(first, 'web', 'api', 'a').requests).toBe(3);
    expect(edge(first, 'web', 'api', 'a').latency.p99).toBe(500);

    const empty = valid(r.flush(clock.advance(1000)));
    expect(empty.windowStart).toBe(T0 + 1000);
    expect(empty.windowMs).toBe(1000);
    expect(empty.edges).toEqual([]);

    r.record('web', 'api', 'a', 500, 2, 1, 1);
    r.record('web', 'api', 'a', 200, 2, 1, 1);
    const third = valid(r.flush(clock.advance(1500)));
    expect(third.windowStart).toBe(T0 + 2000);
    expect(third.windowMs).toBe(1500);
    const e = edge(third, 'web', 'api', 'a');
    expect(e.requests).toBe(2);
    expect(e.byClass).toEqual({ ...ZERO, '2xx': 1, '5xx': 1 });
    expect(e.bytesIn).toBe(2);
    expect(e.latency.max).toBe(2);
    expect(e.latency.p99).toBe(2);

    const totals = r.totals();
    expect(totals.edges).toEqual([
      {
        source: 'web',
        destination: 'api',
        endpoint: 'a',
        requests: 5,
        byClass: { ...ZERO, '2xx': 4, '5xx': 1 },
        bytesIn: 32,
        bytesOut: 62,
        mtls: 0,
        denied: 0,
        dryRunDenied: 0,
      },
    ]);
    expect(totals.pairs).toHaveLength(1);
    expect(totals.pairs[0]?.latency.count).toBe(5);
    expect(totals.pairs[0]?.latency.max).toBe(500);
    expect(totals.pairs[0]?.requests).toBe(5);
  });

  it('counts mTLS, denied and dry-run denied requests from their flags, and denials per policy', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    r.record('web', 'api', 'a', 200, 1, 0, 0, RECORD_MTLS);
    r.record('web', 'api', 'a', 200, 1, 0, 0, RECORD_MTLS | RECORD_DRY_RUN_DENIED);
    r.record('web', 'api', '', 403, 1, 0, 0, RECORD_MTLS | RECORD_DENIED);
    r.record('web', 'api', 'a', 200, 1, 0, 0);
    r.authorization('web', 'api', 'no-web', false);
    r.authorization('web', 'api', 'trial', true);
    r.authorization('web', 'api', 'trial', true);
    const frame = valid(r.flush(clock.advance(1000)));
    expect(edge(frame, 'web', 'api', 'a')).toMatchObject({
      requests: 3,
      mtls: 2,
      denied: 0,
      dryRunDenied: 1,
    });
    expect(edge(frame, 'web', 'api', '')).toMatchObject({ requests: 1, mtls: 1, denied: 1, dryRunDenied: 0 });
    expect(valid(r.flush(clock.advance(1000))).edges).toEqual([]);
    const totals = r.totals();
    expect(totals.edges.find((e) => e.endpoint === '')).toMatchObject({ mtls: 1, denied: 1 });
    expect(totals.authz).toEqual([
      { source: 'web', destination: 'api', policy: 'no-web', denied: 1, dryRunDenied: 0 },
      { source: 'web', destination: 'api', policy: 'trial', denied: 0, dryRunDenied: 2 },
    ]);
  });

  it('reports retries and overflows on the pair edge with endpoint ""', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    r.record('web', 'api', 'a', 503, 3, 0, 0);
    r.retry('web', 'api');
    r.retry('web', 'api');
    r.overflow('web', 'api');
    r.overflow('web', 'db');

    const frame = valid(r.flush(clock.advance(1000)));
    const local = edge(frame, 'web', 'api', '');
    expect(local).toMatchObject({ requests: 0, retries: 2, overflows: 1, byClass: ZERO });
    expect(local.latency).toEqual({ p50: 0, p90: 0, p95: 0, p99: 0, max: 0, buckets: [] });
    expect(edge(frame, 'web', 'api', 'a').retries).toBe(0);
    expect(edge(frame, 'web', 'db', '').overflows).toBe(1);

    r.retry('web', 'api');
    const next = valid(r.flush(clock.advance(1000)));
    expect(next.edges).toHaveLength(1);
    expect(edge(next, 'web', 'api', '')).toMatchObject({ retries: 1, overflows: 0 });

    const pairs = r.totals().pairs;
    expect(pairs.find((p) => p.destination === 'api')).toMatchObject({
      retries: 3,
      overflows: 1,
      requests: 1,
    });
    expect(pairs.find((p) => p.destination === 'db')).toMatchObject({
      retries: 0,
      overflows: 1,
      requests: 0,
    });
    expect(r.totals().edges.map((e) => e.endpoint)).toEqual(['a']);
  });

  it('counts ejections per window and in total', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    r.ejection('api', 'a');
    r.ejection('api', 'a');
    r.ejection('api', 'b');
    const frame = valid(r.flush(clock.advance(1000)));
    expect(frame.ejections).toBe(3);
    expect(frame.ejected).toEqual([
      { destination: 'api', endpoint: 'a', count: 2 },
      { destination: 'api', endpoint: 'b', count: 1 },
    ]);

    r.ejection('api', 'b');
    const next = valid(r.flush(clock.advance(1000)));
    expect(next.ejections).toBe(1);
    expect(next.ejected).toEqual([{ destination: 'api', endpoint: 'b', count: 1 }]);
    expect(r.totals().ejections).toEqual([
      { destination: 'api', endpoint: 'a', count: 2 },
      { destination: 'api', endpoint: 'b', count: 2 },
    ]);
  });

  it('lists the endpoints held ejected when each window closes, at most MAX_EJECTED_NOW', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    expect(valid(r.flush(clock.advance(1000))).ejectedNow).toEqual([]);

    let held = [{ service: 'api', endpoint: '10.0.0.1:80', remainingMs: 5000 }];
    let reads = 0;
    r.reportEjectedFrom(() => {
      reads++;
      return held;
    });
    r.record('web', 'api', '10.0.0.2:80', 200, 1, 0, 0);
    r.record('web', 'api', '10.0.0.2:80', 200, 1, 0, 0);
    expect(reads).toBe(0);
    expect(valid(r.flush(clock.advance(1000))).ejectedNow).toEqual(held);
    expect(reads).toBe(1);

    held = Array.from({ length: MAX_EJECTED_NOW + 5 }, (_, i) => ({
      service: 'api',
      endpoint: `10.0.${i >> 8}.${i & 255}:80`,
      remainingMs: 100,
    }));
    const many = valid(r.flush(clock.advance(1000)));
    expect(many.ejectedNow).toHaveLength(MAX_EJECTED_NOW);
    expect(many.ejectedNow[0]).toEqual(held[0]);

    held = [];
    expect(valid(r.flush(clock.advance(1000))).ejectedNow).toEqual([]);
  });

  it('reports requests in flight as a gauge', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock);
    r.activeChange(1);
    r.activeChange(1);
    r.activeChange(1);
    r.activeChange(-1);
    expect(valid(r.flush(clock.advance(1000))).activeRequests).toBe(2);
    expect(r.totals().activeRequests).toBe(2);
    r.activeChange(-5);
    expect(valid(r.flush(clock.advance(1000))).activeRequests).toBe(0);
  });

  it('keeps frames valid when given odd byte counts or a clock that goes back', () => {
    const clock = fakeClock(T0 + 0.7);
    const r = new TelemetryRecorder(NODE, clock);
    r.record('web', 'api', 'a', 200, 1, -3, 10.5);
    const frame = valid(r.flush(T0 - 50));
    expect(frame.windowMs).toBe(0);
    expect(edge(frame, 'web', 'api', 'a')).toMatchObject({ bytesIn: 0, bytesOut: 10 });
  });

  it('publishes a frame to the sink every interval, and the last partial window on stop', () => {
    vi.useFakeTimers({ now: T0 });
    const r = new TelemetryRecorder(NODE);
    const frames: TelemetryFrame[] = [];
    r.start({ publish: (frame) => frames.push(valid(frame)) });
    expect(() => r.start({ publish: () => {} })).toThrow(/already started/);

    r.record('web', 'api', 'a', 200, 4, 0, 0);
    vi.advanceTimersByTime(999);
    expect(frames).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ windowStart: T0, windowMs: 1000 });
    expect(frames[0]?.edges[0]?.requests).toBe(1);

    vi.advanceTimersByTime(2000);
    expect(frames.map((f) => f.windowStart)).toEqual([T0, T0 + 1000, T0 + 2000]);
    expect(frames[2]?.edges).toEqual([]);

    r.record('web', 'api', 'a', 200, 4, 0, 0);
    vi.advanceTimersByTime(300);
    r.stop();
    expect(frames).toHaveLength(4);
    expect(frames[3]).toMatchObject({ windowStart: T0 + 3000, windowMs: 300 });
    expect(frames[3]?.edges[0]?.requests).toBe(1);

    vi.advanceTimersByTime(5000);
    expect(frames).toHaveLength(4);
    r.stop();
    expect(frames).toHaveLength(4);
  });

  it('honours the interval and can be started again after stop', () => {
    vi.useFakeTimers({ now: T0 });
    const r = new TelemetryRecorder(NODE);
    const first: TelemetryFrame[] = [];
    r.start({ publish: (f) => first.push(f) }, 250);
    vi.advanceTimersByTime(1000);
    expect(first).toHaveLength(4);
    r.stop();

    const second: TelemetryFrame[] = [];
    r.start({ publish: (f) => second.push(f) }, 500);
    vi.advanceTimersByTime(1000);
    r.stop();
    expect(first).toHaveLength(5);
    expect(second.map((f) => f.windowMs)).toEqual([500, 500, 0]);
  });

  it('turns a throwing sink into a warning and keeps publishing', () => {
    vi.useFakeTimers({ now: T0 });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const r = new TelemetryRecorder(NODE);
    let calls = 0;
    r.start({
      publish: () => {
        calls++;
        throw new Error('stream closed');
      },
    });
    vi.advanceTimersByTime(2000);
    r.stop();
    expect(calls).toBe(3);
    expect(warn).toHaveBeenCalledTimes(3);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/stream closed/);
  });
});

describe('TelemetryFrame schema', () => {
  function frameWith(r: TelemetryRecorder, clock: ReturnType<typeof fakeClock>) {
    r.record('web', 'api', 'a', 200, 3, 1, 1);
    r.record('web', 'api', 'a', 0, 7, 1, 1);
    r.ejection('api', 'a');
    return valid(r.flush(clock.advance(1000)));
  }

  function issues(frame: unknown): string[] {
    const result = TelemetryFrame.safeParse(frame);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  }

  it('accepts what the recorder produces and survives a JSON round trip', () => {
    const clock = fakeClock();
    const frame = frameWith(new TelemetryRecorder(NODE, clock), clock);
    expect(TelemetryFrame.parse(JSON.parse(JSON.stringify(frame)))).toEqual(frame);
  });

  it('refuses frames whose counts disagree, duplicate edges and buckets outside the layout', () => {
    const clock = fakeClock();
    const frame = frameWith(new TelemetryRecorder(NODE, clock), clock);
    const e = frame.edges[0] as EdgeStats;

    expect(issues({ ...frame, edges: [{ ...e, requests: 3 }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^edges\.0\.byClass: must add up to requests \(3\)/)]),
    );
    expect(issues({ ...frame, edges: [e, e] })).toEqual([
      'edges.1: the same source, destination and endpoint appear twice',
    ]);
    expect(issues({ ...frame, ejections: 2 })).toEqual([
      'ejections: must equal the sum of ejected counts (1)',
    ]);
    const latency = { ...e.latency, buckets: [[896, 2]] };
    expect(issues({ ...frame, edges: [{ ...e, latency }] })).toEqual([
      'edges.0.latency.buckets.0.0: must be below 896',
    ]);
    const unordered = {
      ...e.latency,
      buckets: [
        [9, 1],
        [3, 1],
      ],
    };
    expect(issues({ ...frame, edges: [{ ...e, latency: unordered }] })).toEqual([
      'edges.0.latency.buckets.1.0: bucket indexes must be strictly ascending',
    ]);
    expect(issues({ ...frame, windowMs: 1.5, extra: true })).toHaveLength(2);
  });

  it('forgets series idle for the retention time, and only once their window was sent', () => {
    const clock = fakeClock();
    const r = new TelemetryRecorder(NODE, clock, 60_000);
    r.record('web', 'api', 'api-old', 200, 1, 0, 0);
    r.record('web', 'api', 'api-live', 200, 1, 0, 0);
    r.ejection('api', 'api-old');
    r.flush(clock.advance(1000));
    expect(r.seriesCount).toBe(4); // the pair, two endpoints, one ejection counter

    for (let t = 0; t < 70; t++) {
      r.record('web', 'api', 'api-live', 200, 1, 0, 0);
      r.flush(clock.advance(1000));
    }
    const totals = r.totals();
    expect(totals.edges.map((e) => e.endpoint)).toEqual(['api-live']);
    expect(totals.ejections).toEqual([]);
    expect(totals.pairs[0]?.requests).toBe(72); // pair totals keep everything counted
    expect(r.seriesCount).toBe(2);

    // A series with unsent counts is kept even when its retention has run out.
    r.record('batch', 'db', 'db-1', 200, 1, 0, 0);
    clock.advance(120_000);
    r.prune();
    expect(r.totals().edges.map((e) => e.endpoint)).toContain('db-1');
    const frame = r.flush(clock.advance(1000));
    expect(frame.edges.map((e) => e.endpoint)).toContain('db-1');
    clock.advance(61_000);
    r.prune();
    expect(r.totals().pairs.map((p) => p.source)).toEqual([]);
    expect(r.seriesCount).toBe(0);
  });
});
