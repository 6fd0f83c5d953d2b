/** Reconnect storms: stream connections beyond the accept rate wait in a queue and all get in, in order. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { AdmissionQueue } from '../src/stream/admission.ts';
import { createDatabase } from './support/db.ts';
import { deadline, FakeProxy, startPlane, streamUrl } from './support/proxy-client.ts';

describe('admission queue', () => {
  it('admits a burst of one second at once, then the rest at the rate, in order, refusing none', async () => {
    let t = 0;
    const q = new AdmissionQueue(10, 100, () => t);
    const admitted: number[] = [];
    for (let i = 0; i < 25; i++) expect(q.admit(() => admitted.push(i))).toBe(true);
    expect(admitted).toHaveLength(10);
    expect(q.queued).toBe(15);
    const until = async (n: number) => {
      const end = Date.now() + 5000;
      while (admitted.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    };
    t = 1000;
    await until(20);
    expect(admitted).toHaveLength(20);
    t = 1500;
    await until(25);
    expect(admitted).toEqual(Array.from({ length: 25 }, (_, i) => i));
    q.close();
  });

  it('refuses only when the queue is full', () => {
    const q = new AdmissionQueue(1, 2, () => 0);
    expect(q.admit(() => {})).toBe(true);
    expect(q.admit(() => {})).toBe(true);
    expect(q.admit(() => {})).toBe(true);
    expect(q.admit(() => {})).toBe(false);
    q.close();
  });
});

describe('reconnect storm against a control plane', () => {
  let plane: ControlPlane;
  beforeAll(async () => {
    plane = await startPlane(await createDatabase('storm'), { proxyAcceptPerSecond: 10 });
  });
  afterAll(() => plane.stop());

  it('30 proxies connecting at once are all served; admission spreads them over about two seconds', async () => {
    const started = Date.now();
    const proxies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        FakeProxy.join(streamUrl(plane), {
          service: 'service-a',
          instance: `storm-${i}`,
          address: `10.8.0.${i + 1}`,
        }),
      ),
    );
    await deadline(Promise.all(proxies.map((p) => p.snapshot())), 20_000, 'every proxy to get its snapshot');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
    for (const p of proxies) p.ws.close();
  });
});
