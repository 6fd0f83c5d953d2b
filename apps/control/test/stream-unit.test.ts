/**
 * The stream's pure parts: what a slice contains, one serialisation per revision and slice, latest-wins
 * coalescing of revision bursts, close reasons that fit a close frame.
 */
import { MeshSlice, type MeshSnapshot, RouteRuleSpec, SnapshotMessage } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { LatestOnly } from '../src/stream/coalesce.ts';
import { closeReason } from '../src/stream/hub.ts';
import { SliceCache, sliceFor } from '../src/stream/slice.ts';

const meta = (n: number) => ({
  id: `00000000-0000-4000-8000-00000000000${n}`,
  version: 3,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-02T00:00:00.000Z',
});

function mesh(revision: number): MeshSnapshot {
  return {
    revision,
    services: [
      { name: 'api', protocol: 'http', port: 8080, labels: {}, description: '', ...meta(1) },
      { name: 'db', protocol: 'tcp', port: 5432, labels: { tier: 'data' }, description: 'store', ...meta(2) },
    ],
    endpoints: [
      {
        service: 'db',
        address: '10.0.0.1',
        port: 5432,
        labels: {},
        zone: 'z1',
        weight: 1,
        health: 'unhealthy',
        source: 'proxy',
        ttlSeconds: 30,
        lastSeen: '2026-01-02T00:00:00.000Z',
        expiresAt: null,
        ...meta(3),
      },
    ],
    routes: [
      {
        ...RouteRuleSpec.parse({ name: 'api-main', service: 'api', destinations: [{ weight: 100 }] }),
        ...meta(4),
      },
    ],
    policies: [],
  };
}

describe('sliceFor', () => {
  it('strips control-plane metadata, keeps unhealthy endpoints, and validates as a MeshSlice', () => {
    const slice = sliceFor(mesh(7), 'api');
    expect(MeshSlice.safeParse(slice).success).toBe(true);
    expect(slice.services.map((s) => s.name)).toEqual(['api', 'db']);
    expect(slice.endpoints).toEqual([
      {
        service: 'db',
        address: '10.0.0.1',
        port: 5432,
        labels: {},
        zone: 'z1',
        weight: 1,
        health: 'unhealthy',
        source: 'proxy',
        ttlSeconds: 30,
      },
    ]);
    const text = JSON.stringify(slice);
    for (const field of ['"id"', '"version"', '"createdAt"', '"updatedAt"', '"lastSeen"', '"expiresAt"']) {
      expect(text).not.toContain(field);
    }
  });
});

describe('SliceCache', () => {
  it('serialises once per revision for proxies with the same slice, and again for a new revision', () => {
    const cache = new SliceCache();
    const first = cache.get(mesh(7), 'api');
    expect(cache.get(mesh(7), 'api')).toBe(first);
    expect(cache.get(mesh(7), 'db')).toBe(first); // same scope today: the whole mesh
    expect(cache.serialisationsFor(7)).toBe(1);
    const message = SnapshotMessage.parse(JSON.parse(first.bytes.toString('utf8')));
    expect(message).toMatchObject({ type: 'snapshot', revision: 7, nonce: first.nonce });
    expect(MeshSlice.parse(message.slice)).toEqual(sliceFor(mesh(7), 'api'));

    const next = cache.get(mesh(8), 'api');
    expect(next.revision).toBe(8);
    expect(next.nonce).not.toBe(first.nonce);
    expect(cache.serialisationsFor(8)).toBe(1);
    expect(cache.serialisations).toBe(2);
  });
});

describe('LatestOnly', () => {
  function harness() {
    const runs: number[] = [];
    const gates: (() => void)[] = [];
    const latest = new LatestOnly(
      (target) => {
        runs.push(target);
        return new Promise<number>((resolve) => gates.push(() => resolve(target)));
      },
      () => undefined,
    );
    const release = async () => {
      while (gates.length === 0) await Promise.resolve();
      gates.shift()?.();
    };
    return { latest, runs, release };
  }

  it('collapses offers made while a run is in flight into one run for the highest', async () => {
    const { latest, runs, release } = harness();
    latest.offer(5);
    await Promise.resolve();
    latest.offer(6);
    latest.offer(7);
    await release();
    await release();
    await latest.idle();
    expect(runs).toEqual([5, 7]);
    expect(latest.reached).toBe(7);
  });

  it('offers made in the same tick share one run; old offers do nothing', async () => {
    const { latest, runs, release } = harness();
    latest.offer(5);
    latest.offer(6);
    latest.offer(7);
    await release();
    await latest.idle();
    latest.offer(6);
    await latest.idle();
    expect(runs).toEqual([7]);
  });

  it('reach() waits for the target; refresh() runs again even when nothing new was offered', async () => {
    const { latest, runs, release } = harness();
    let reached = false;
    const waiting = latest.reach(3).then(() => {
      reached = true;
    });
    await Promise.resolve();
    expect(reached).toBe(false);
    await release();
    await waiting;
    expect(reached).toBe(true);
    latest.refresh();
    await release();
    await latest.idle();
    expect(runs).toEqual([3, 3]);
  });

  it('after a failed run, retry() runs again for what is pending', async () => {
    let fail = true;
    const errors: unknown[] = [];
    const runs: number[] = [];
    const latest = new LatestOnly(
      async (target) => {
        runs.push(target);
        if (fail) throw new Error('database away');
        return target;
      },
      (e) => errors.push(e),
    );
    latest.offer(4);
    await latest.idle();
    expect(errors).toHaveLength(1);
    expect(latest.reached).toBe(-1);
    fail = false;
    latest.retry();
    await latest.idle();
    expect(runs).toEqual([4, 4]);
    expect(latest.reached).toBe(4);
  });
});

describe('closeReason', () => {
  it('keeps short reasons and cuts long ones at a character boundary within 123 bytes', () => {
    expect(closeReason('invalid join token')).toBe('invalid join token');
    const long = closeReason(`bad: ${'ü'.repeat(100)}`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.endsWith('…')).toBe(true);
    expect(long).not.toContain('\ufffd');
    expect(closeReason('x'.repeat(123))).toBe('x'.repeat(123));
  });
});
