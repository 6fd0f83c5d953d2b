/**
 * The live view in isolation (no database): frames from several proxies merged per second, the sliding window on
 * an injected clock, which reporter each edge and service is read from, percentiles from merged histograms, and
 * bounded memory.
 */
import { latencyBucketHighest, latencyBucketLowest, latencyBucketOf } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { LiveView } from '../src/telemetry/live.ts';
import { edge, frame, ManualClock } from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

function view(clock: ManualClock, options: Partial<ConstructorParameters<typeof LiveView>[0]> = {}) {
  return new LiveView({ clock: clock.now, ...options });
}

function edgeOf(live: LiveView, source: string, destination: string) {
  return live.snapshot().edges.find((e) => e.source === source && e.destination === destination);
}

describe('live view', () => {
  it('reads the 10 complete seconds that ended a second before now', () => {
    const clock = new ManualClock(T0 + 12_300);
    const live = view(clock);
    expect(live.window()).toEqual({ start: T0 + 1000, end: T0 + 11_000 });
    live.ingest([
      frame('service-a', T0 + 500, [edge('service-a', 'service-b', { ok: 7 })]),
      frame('service-a', T0 + 1000, [edge('service-a', 'service-b', { ok: 10 })]),
      frame('service-a', T0 + 10_999, [edge('service-a', 'service-b', { ok: 20 })]),
      frame('service-a', T0 + 11_000, [edge('service-a', 'service-b', { ok: 40 })]),
    ]);
    // T0+500 is before the window and was never kept; T0+11000 is still settling.
    expect(edgeOf(live, 'service-a', 'service-b')?.counts.requests).toBe(30);
    clock.advance(1000);
    // The window slid by a second: T0+1000 left it, T0+11000 entered.
    expect(edgeOf(live, 'service-a', 'service-b')?.counts.requests).toBe(60);
    clock.advance(10_000);
    expect(edgeOf(live, 'service-a', 'service-b')?.counts.requests).toBe(0);
  });

  it('adds up frames of several proxies about the same second, per edge and per service', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock);
    live.ingest([
      frame('service-a', T0 + 2000, [edge('service-a', 'service-b', { ok: 90, c5xx: 10 })], 'a-1'),
    ]);
    live.ingest([
      frame(
        'service-a',
        T0 + 2400,
        [edge('service-a', 'service-b', { ok: 50, endpoint: '10.0.0.2:80' })],
        'a-2',
      ),
      frame('service-b', T0 + 2100, [edge('service-a', 'service-b', { ok: 140, c5xx: 10 })], 'b-1'),
    ]);
    const snapshot = live.snapshot();
    const ab = snapshot.edges.find((e) => e.source === 'service-a' && e.destination === 'service-b');
    expect(ab?.reporter).toBe('source');
    expect(ab?.counts.stats(10)).toMatchObject({
      requests: 150,
      rps: 15,
      successRate: 0.9333,
      errorRate: 0.0667,
    });
    const b = snapshot.services.get('service-b');
    expect(b?.reporter).toBe('destination');
    expect(b?.counts.requests).toBe(150);
  });

  it('reads callers without a proxy from the callee, and services without inbound reports from their callers', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock);
    live.ingest([
      frame('service-b', T0 + 3000, [
        edge('', 'service-b', { ok: 4 }),
        edge('unknown', 'service-b', { ok: 6 }),
        edge('legacy', 'service-b', { ok: 5, c4xx: 5 }),
      ]),
      frame('service-b', T0 + 3000, [edge('service-b', 'service-c', { ok: 30 })], 'b-2'),
    ]);
    const { edges, services } = live.snapshot();
    expect(edges.map((e) => [e.source, e.destination, e.reporter, e.counts.requests])).toEqual([
      ['legacy', 'service-b', 'destination', 10],
      ['service-b', 'service-c', 'source', 30],
      ['unknown', 'service-b', 'destination', 10],
    ]);
    // A 4xx is a success: the service answered.
    expect(edges[0]?.counts.stats(10).successRate).toBe(1);
    expect(services.get('service-b')).toMatchObject({ reporter: 'destination' });
    expect(services.get('service-b')?.counts.requests).toBe(20);
    expect(services.get('service-c')).toMatchObject({ reporter: 'source' });
    expect(services.get('service-c')?.counts.requests).toBe(30);
  });

  it('reads a service nobody in the mesh calls (an ingress gateway) from the calls it passes on', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock);
    live.ingest([
      frame('ingress', T0 + 3000, [edge('ingress', 'service-a', { ok: 18, c5xx: 2 })]),
      frame('service-a', T0 + 3000, [edge('ingress', 'service-a', { ok: 18, c5xx: 2 })]),
    ]);
    const { services } = live.snapshot();
    expect(services.get('ingress')).toMatchObject({ reporter: 'source' });
    expect(services.get('ingress')?.counts.requests).toBe(20);
    expect(services.get('ingress')?.counts.stats(10).successRate).toBe(0.9);
    expect(services.get('service-a')).toMatchObject({ reporter: 'destination' });
  });

  it('keeps reading an edge from its caller while the caller reports, even in a second it reported nothing', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock);
    live.ingest([
      frame('service-a', T0 + 1000, [edge('service-a', 'service-b', { ok: 1 })]),
      frame('service-b', T0 + 9000, [edge('service-a', 'service-b', { ok: 3 })]),
    ]);
    clock.advance(1000);
    const ab = edgeOf(live, 'service-a', 'service-b');
    expect(ab?.reporter).toBe('source');
    expect(ab?.counts.requests).toBe(0);
  });

  it('computes percentiles from histograms merged across proxies, within a bucket width', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock);
    const fast = Array.from({ length: 100 }, (_, i) => i + 1);
    const slow = Array.from({ length: 100 }, (_, i) => 101 + i);
    live.ingest([
      frame('service-a', T0 + 5000, [edge('service-a', 'service-b', { ok: 100, latencyMs: fast })], 'a-1'),
      frame('service-a', T0 + 6000, [edge('service-a', 'service-b', { ok: 100, latencyMs: slow })], 'a-2'),
    ]);
    const stats = edgeOf(live, 'service-a', 'service-b')?.counts.stats(10);
    const within = (actual: number | null | undefined, exactMs: number) => {
      const index = latencyBucketOf(exactMs * 1000);
      const width = (latencyBucketHighest(index) - latencyBucketLowest(index)) / 1000;
      expect(Math.abs((actual ?? Number.NaN) - exactMs)).toBeLessThanOrEqual(width);
    };
    within(stats?.p50, 100);
    within(stats?.p95, 190);
    within(stats?.p99, 198);
  });

  it('forgets idle series and never holds more than maxSeries', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = view(clock, { idleMs: 60_000, maxSeries: 4 });
    live.ingest([frame('service-a', T0 + 5000, [edge('service-a', 'service-b', { ok: 1 })])]);
    expect(live.seriesCount).toBe(2);
    live.ingest([
      frame('service-a', T0 + 5000, [
        edge('service-a', 'service-c', { ok: 1 }),
        edge('service-a', 'service-d', { ok: 1 }),
      ]),
    ]);
    expect(live.seriesCount).toBe(4);
    expect(live.dropped).toBe(1);
    clock.advance(60_001);
    live.prune();
    expect(live.seriesCount).toBe(0);
    expect(live.snapshot().edges).toEqual([]);
  });
});
