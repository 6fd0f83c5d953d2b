/**
 * Ejected endpoints and open circuit breakers in the live view and the topology, on an injected clock (no
 * database): which endpoints the reporting proxies hold ejected now and how many of them, forgotten when the
 * proxies stop saying so or stop reporting; and requests refused by breakers counted on their edge.
 */
import { Topology } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { LiveView } from '../src/telemetry/live.ts';
import { buildTopology, type RegisteredService } from '../src/telemetry/topology.ts';
import { edge, frame, ManualClock } from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

const REGISTRY: RegisteredService[] = [
  {
    name: 'service-b',
    endpoints: { total: 2, healthy: 2, unhealthy: 0, draining: 0 },
    dependencies: ['service-c'],
  },
  {
    name: 'service-c',
    endpoints: { total: 3, healthy: 3, unhealthy: 0, draining: 0 },
    dependencies: [],
  },
];

const C1 = '10.0.3.1:8080';
const C3 = '10.0.3.3:8080';

function held(endpoint: string, remainingMs = 30_000, service = 'service-c') {
  return { service, endpoint, remainingMs };
}

function topologyOf(live: LiveView) {
  return Topology.parse(JSON.parse(JSON.stringify(buildTopology(live.snapshot(), REGISTRY))));
}

function nodeOf(live: LiveView, service: string) {
  return topologyOf(live).nodes.find((n) => n.service === service);
}

function edgeOf(live: LiveView, source: string, destination: string) {
  return topologyOf(live).edges.find((e) => e.source === source && e.destination === destination);
}

describe('ejected endpoints', () => {
  it('lists the endpoints the reporting proxies hold ejected, with how many proxies hold each', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([]);

    const calls = [edge('service-b', 'service-c', { ok: 20, endpoint: C1 })];
    live.ingest([
      frame('service-b', T0 + 10_000, calls, 'b-v1-1', [held(C3)]),
      frame('service-b', T0 + 10_000, calls, 'b-v2-1', [held(C3), held(C1)]),
    ]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([
      { endpoint: C1, proxies: 1 },
      { endpoint: C3, proxies: 2 },
    ]);
    expect(nodeOf(live, 'service-b')?.ejectedEndpoints).toEqual([]);

    // A proxy's newest frame is what it holds now: b-v2-1 took c-1 back.
    live.ingest([frame('service-b', T0 + 11_000, calls, 'b-v2-1', [held(C3)])]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 2 }]);

    // An older frame arriving late changes nothing.
    live.ingest([frame('service-b', T0 + 10_500, calls, 'b-v2-1', [held(C3), held(C1)])]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 2 }]);

    // A frame holding none ends that proxy's ejections.
    live.ingest([frame('service-b', T0 + 11_000, [], 'b-v1-1')]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 1 }]);
  });

  it('forgets them once the window passes without reports from the proxies holding them', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    live.ingest([frame('service-b', T0 + 10_000, [], 'b-v1-1', [held(C3, 600_000)])]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 1 }]);

    // Still in the window ([T0+10s, T0+20s) at T0+21s).
    clock.advance(9000);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 1 }]);

    clock.advance(1000);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([]);
    // A name seen only in ejections does not linger as a node either.
    live.ingest([frame('service-b', T0 + 21_000, [], 'b-v1-1', [held(C3, 600_000, 'egress-x')])]);
    expect(nodeOf(live, 'egress-x')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 1 }]);
    clock.advance(11_000);
    expect(nodeOf(live, 'egress-x')).toBeUndefined();
  });

  it('ends an ejection when its time runs out, even while its proxy still reports', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    live.ingest([frame('service-b', T0 + 10_000, [], 'b-v1-1', [held(C3, 2000), held(C1, 5000)])]);
    clock.advance(1999);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([
      { endpoint: C1, proxies: 1 },
      { endpoint: C3, proxies: 1 },
    ]);
    clock.advance(1);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C1, proxies: 1 }]);
  });

  it('keeps the ejections of at most maxProxies proxies', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now, maxProxies: 1 });
    live.ingest([
      frame('service-b', T0 + 10_000, [], 'b-v1-1', [held(C3)]),
      frame('service-b', T0 + 10_000, [], 'b-v2-1', [held(C1)]),
    ]);
    expect(nodeOf(live, 'service-c')?.ejectedEndpoints).toEqual([{ endpoint: C3, proxies: 1 }]);
    expect(live.droppedEjections).toBe(1);
  });
});

describe('circuit breakers on edges', () => {
  it('counts requests refused by breakers on the edge and marks the breaker open while it refuses', () => {
    const clock = new ManualClock(T0 + 12_000);
    const live = new LiveView({ clock: clock.now });
    expect(edgeOf(live, 'service-b', 'service-c')).toMatchObject({
      idle: true,
      overflows: 0,
      breakerOpen: false,
    });

    live.ingest([
      frame('service-b', T0 + 9000, [
        edge('service-b', 'service-c', { ok: 40, endpoint: C1 }),
        edge('service-b', 'service-c', { errors: 6, overflows: 6, endpoint: '' }),
      ]),
      frame('service-b', T0 + 10_000, [
        edge('service-b', 'service-c', { errors: 1, overflows: 1, endpoint: '' }),
        edge('service-b', 'service-d', { ok: 5 }),
      ]),
    ]);
    expect(edgeOf(live, 'service-b', 'service-c')).toMatchObject({
      requests: 47,
      overflows: 7,
      breakerOpen: true,
    });
    expect(edgeOf(live, 'service-b', 'service-d')).toMatchObject({ overflows: 0, breakerOpen: false });

    // At T0+21s the window is [T0+10s, T0+20s): T0+9s left it, T0+10s is still in it.
    clock.advance(9000);
    expect(edgeOf(live, 'service-b', 'service-c')).toMatchObject({ overflows: 1, breakerOpen: true });
    clock.advance(1000);
    expect(edgeOf(live, 'service-b', 'service-c')).toMatchObject({ overflows: 0, breakerOpen: false });
  });
});
