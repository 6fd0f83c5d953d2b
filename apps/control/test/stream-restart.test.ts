/**
 * A control plane that starts after an outage gives proxies time to come back before sweeping their endpoints:
 * while no control plane was up, no proxy could show it was alive, so marking every endpoint unhealthy at once
 * would turn a control-plane outage into a data-plane one. Real control planes over one Postgres database.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { eventually, FakeProxy, getJson, startPlane, streamUrl } from './support/proxy-client.ts';

const GRACE_MS = 300;
const WINDOW_MS = 1200;
const planes: ControlPlane[] = [];

afterAll(async () => {
  for (const p of planes) await p.stop().catch(() => undefined);
});

async function healthOf(plane: ControlPlane, address: string): Promise<string | undefined> {
  const { body } = await getJson(`${plane.url}/api/v1/services/service-b/endpoints?limit=500`);
  return body.items.find((e: { address: string }) => e.address === address)?.health;
}

describe('after a control-plane restart', () => {
  it('endpoints of proxies not yet back are swept only after the grace period plus the reconnect window', async () => {
    const db = await createDatabase('restart');
    const first = await startPlane(db, {
      proxyGraceMs: GRACE_MS,
      proxyTtlMs: 60_000,
      proxyReconnectWindowMs: 0,
    });
    const proxy = await FakeProxy.join(streamUrl(first), {
      service: 'service-b',
      instance: 'r-1',
      address: '10.6.0.1',
    });
    await proxy.snapshot();
    await proxy.close();
    await first.stop();
    // The outage: longer than the grace period.
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));

    const started = Date.now();
    const second = await startPlane(db, {
      proxyGraceMs: GRACE_MS,
      proxyTtlMs: 60_000,
      proxyReconnectWindowMs: WINDOW_MS,
    });
    planes.push(second);
    expect(await healthOf(second, '10.6.0.1')).toBe('healthy');
    await eventually(
      async () => ((await healthOf(second, '10.6.0.1')) === 'unhealthy' ? true : undefined),
      'the endpoint of the proxy that never came back to turn unhealthy',
      10_000,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS + WINDOW_MS - 50);
  });

  it('when another replica goes away, its proxies get the same time to come back before a survivor sweeps them', async () => {
    const db = await createDatabase('peers');
    const options = { proxyGraceMs: GRACE_MS, proxyTtlMs: 60_000, proxyReconnectWindowMs: WINDOW_MS };
    const survivor = await startPlane(db, options);
    planes.push(survivor);
    const leaving = await startPlane(db, options);
    const proxy = await FakeProxy.join(streamUrl(leaving), {
      service: 'service-b',
      instance: 'p-1',
      address: '10.6.1.1',
    });
    await proxy.snapshot();
    // Let the survivor's own start-up window pass, so that only the departure can hold its sweeps back.
    await new Promise((r) => setTimeout(r, GRACE_MS + WINDOW_MS + 200));
    await proxy.close();
    const left = Date.now();
    await leaving.stop();
    await eventually(
      async () => ((await healthOf(survivor, '10.6.1.1')) === 'unhealthy' ? true : undefined),
      "the departed replica's proxy endpoint to turn unhealthy",
      10_000,
    );
    expect(Date.now() - left).toBeGreaterThanOrEqual(GRACE_MS + WINDOW_MS - 50);
  });
});
