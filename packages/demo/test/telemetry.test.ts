import type { ControlPlane } from '@trellis/control';
import { MetricsSeries, Topology } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mesh, TrafficGenerator } from '../src/index.ts';
import { ADMIN_AUTH, demoOnInProcessControlPlane } from './support/control.ts';

const RATE = 25;
const SECONDS = 4;

let plane: ControlPlane;
let mesh: Mesh;
let demo: Awaited<ReturnType<typeof demoOnInProcessControlPlane>> | undefined;

beforeAll(async () => {
  demo = await demoOnInProcessControlPlane('telemetry');
  ({ plane, mesh } = demo);
});

afterAll(async () => {
  await demo?.stop();
});

async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { headers: ADMIN_AUTH });
  expect(res.status, url).toBe(200);
  return res.json();
}

/** Requests (attempts, retries included) on an edge from `from` on, summed over the metrics series. */
async function requestsOn(
  edge: string,
  from: number,
): Promise<{ requests: number; retries: number; errors: number }> {
  const series = MetricsSeries.parse(
    await getJson(`${plane.url}/api/v1/metrics?edge=${edge}&from=${from}&to=${Date.now() + 10_000}&step=10s`),
  );
  let requests = 0;
  let retries = 0;
  let errors = 0;
  for (const p of series.points) {
    requests += p.requests;
    retries += p.retries;
    errors += Math.round(p.requests * (p.errorRate ?? 0));
  }
  return { requests, retries, errors };
}

async function until<T>(check: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('telemetry through the demo mesh', () => {
  it('topology and metrics count what the traffic generator sent', async () => {
    // Read from a 10 s boundary (the stored buckets' own), so that nothing from before counts (the mesh's start-up
    // checks go through the ingress too), and send 2.5 s later: proxies date each window (nominally 1 s, longer
    // under load) by its start, so every window holding this traffic starts after the boundary.
    const from = Math.ceil((Date.now() + 1) / 10_000) * 10_000;
    await new Promise((r) => setTimeout(r, from - Date.now() + 2500));
    const traffic = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
    traffic.start();
    await until(
      async () => (traffic.stats.sent >= RATE * SECONDS ? true : undefined),
      'the traffic to be sent',
    );
    const sent = await traffic.stop();

    // The live topology shows the chain while the traffic is recent.
    const topology = Topology.parse(await getJson(`${plane.url}/api/v1/topology`));
    const edge = (s: string, d: string) => topology.edges.find((e) => e.source === s && e.destination === d);
    for (const [s, d] of [
      ['ingress', 'service-a'],
      ['service-a', 'service-b'],
      ['service-b', 'service-c'],
    ] as const) {
      expect(edge(s, d)?.rps, `${s} → ${d}`).toBeGreaterThan(0);
    }
    expect(topology.nodes.find((n) => n.service === 'service-a')?.rps).toBeGreaterThan(0);
    // Ejections (c-3 fails at random, so there may be none) name an endpoint and the proxies holding it ejected.
    for (const node of topology.nodes) {
      for (const e of node.ejectedEndpoints) {
        expect(e.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
        expect(e.proxies).toBeGreaterThanOrEqual(1);
      }
    }
    for (const e of topology.edges) expect(e.breakerOpen).toBe(e.overflows > 0);

    // The history counts every request exactly once on the first edge (attempts less retries), once telemetry has
    // caught up.
    const first = await until(async () => {
      const got = await requestsOn('ingress>service-a', from);
      return got.requests - got.retries === sent.sent ? got : undefined;
    }, `ingress → service-a to count ${sent.sent} requests`);
    // Failures the clients saw (none on a quiet machine) are the errors the ingress counted.
    expect(first.errors).toBe(sent.failed);
    for (const edge of ['service-a>service-b', 'service-b>service-c']) {
      await until(async () => {
        const got = await requestsOn(edge, from);
        return got.requests >= sent.sent ? got : undefined;
      }, `${edge} to count at least ${sent.sent} calls`);
    }
  });
});
