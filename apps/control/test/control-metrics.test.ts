/**
 * The control plane's own Prometheus endpoint, against a real control plane on a real port: a proxy that joins
 * and acknowledges a change shows as pushes, ACKs, a convergence observation and the connected gauge; a NACK is
 * counted; telemetry frames are counted; API calls land in the HTTP histogram under their route template, never
 * the raw URL; without credentials the endpoint answers 401.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_METRIC_NAMES as N } from '../src/metrics.ts';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { eventually, FakeProxy, shiftCanary, startPlane, streamUrl } from './support/proxy-client.ts';
import { edge, frame } from './support/telemetry.ts';

let plane: ControlPlane;
const open: FakeProxy[] = [];

beforeAll(async () => {
  plane = await startPlane(await createDatabase('metrics'));
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await plane?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${plane.url}/metrics`, { headers: bearer() });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

/** The value of one sample, matched by name and a subset of its labels; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]] as const),
    );
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

async function join(service: string, instance: string): Promise<FakeProxy> {
  const proxy = await FakeProxy.join(streamUrl(plane), { service, instance, address: '10.7.0.1' });
  open.push(proxy);
  return proxy;
}

describe('GET /metrics on the control plane', () => {
  it('refuses a scrape without credentials', async () => {
    const res = await fetch(`${plane.url}/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('counts pushes, ACKs and convergence, and gauges the connected proxies', async () => {
    const before = await scrape();
    expect(sample(before, N.connectedProxies)).toBe(0);
    expect(sample(before, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);

    const proxy = await join('service-a', 'a-metrics');
    const snapshot = (await proxy.snapshot()).data;
    proxy.ack(snapshot);
    await proxy.flush();
    const revision = await shiftCanary(plane, 30);
    const update = (await proxy.update(revision)).data;
    proxy.ack(update);
    await proxy.flush();

    const text = await eventually(async () => {
      const t = await scrape();
      return (sample(t, N.acks, { kind: 'config' }) ?? 0) >= 1 ? t : undefined;
    }, 'the ACK of the config update to be counted');
    expect(sample(text, N.pushes, { kind: 'snapshot' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, N.pushes, { kind: 'config' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, N.acks, { kind: 'snapshot' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, `${N.convergence}_count`)).toBeGreaterThanOrEqual(2);
    expect(sample(text, `${N.convergence}_bucket`, { le: '+Inf' })).toBe(
      sample(text, `${N.convergence}_count`),
    );
    expect(sample(text, N.connectedProxies)).toBe(1);
    expect(sample(text, N.revisions, { kind: 'config' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, N.nacks, { kind: 'snapshot' }) ?? 0).toBe(0);

    await proxy.close();
    await eventually(
      async () => (sample(await scrape(), N.connectedProxies) === 0 ? true : undefined),
      'the gauge to drop when the proxy leaves',
    );
  });

  it('counts a NACK by the kind of message refused', async () => {
    const proxy = await join('service-c', 'c-metrics');
    const snapshot = (await proxy.snapshot()).data;
    proxy.send({
      type: 'nack',
      revision: snapshot.revision,
      nonce: snapshot.nonce,
      error: 'refused for the test',
      errors: [],
    });
    await proxy.flush();
    const text = await eventually(async () => {
      const t = await scrape();
      return sample(t, N.nacks, { kind: 'snapshot' }) === 1 ? t : undefined;
    }, 'the NACK to be counted');
    expect(sample(text, N.nacks, { kind: 'snapshot' })).toBe(1);
  });

  it('counts telemetry frames taken in', async () => {
    const proxy = await join('service-b', 'b-metrics');
    await proxy.snapshot();
    const second = Math.floor(Date.now() / 1000) * 1000 - 2000;
    const frames = [0, 1, 2].map((i) =>
      frame('service-b', second - i * 1000, [edge('service-b', 'service-c', { ok: 5 })], 'b-metrics'),
    );
    proxy.send({ type: 'telemetry', frames });
    await proxy.flush();
    await eventually(
      async () => ((sample(await scrape(), N.telemetryFrames) ?? 0) >= 3 ? true : undefined),
      'three telemetry frames to be counted',
    );
  });

  it('times API calls under their route template, not the raw URL', async () => {
    const res = await fetch(`${plane.url}/api/v1/services/service-a`, { headers: bearer() });
    expect(res.status).toBe(200);
    const missing = await fetch(`${plane.url}/api/v1/services/no-such-service`, { headers: bearer() });
    expect(missing.status).toBe(404);
    const text = await scrape();
    const route = '/api/v1/services/:name';
    expect(
      sample(text, `${N.httpDuration}_count`, { method: 'GET', route, status_code: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, `${N.httpDuration}_count`, { method: 'GET', route, status_code: '404' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, `${N.httpDuration}_bucket`, { method: 'GET', route, status_code: '200', le: '+Inf' }),
    ).toBeGreaterThanOrEqual(1);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    expect([...routes].filter((r) => r?.includes('service-a') || r?.includes('no-such-service'))).toEqual([]);
  });
});
