/**
 * A proxy's endpoint outlives its stream for a while: unhealthy after the grace period, removed after the TTL,
 * unless the proxy comes back first. Small injected durations; every wait is on an event (an observer proxy sees
 * each health change as an endpoints delta), with a deadline. Also: stop() closes streams and the LISTEN session.
 */
import { CLOSE_CODES, type MeshSlice } from '@trellis/schema';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { LIVENESS_ACTOR } from '../src/stream/registry.ts';
import { createDatabase } from './support/db.ts';
import {
  deadline,
  eventually,
  FakeProxy,
  getJson,
  proxyStatus,
  startPlane,
  streamUrl,
} from './support/proxy-client.ts';

const GRACE_MS = 400;
const TTL_MS = 1200;
/** Timer and clock granularity: how much earlier than due an effect may be observed. */
const SLACK_MS = 30;

let databaseUrl: string;
let plane: ControlPlane;
let observer: FakeProxy;
let stopped = false;

type Ep = MeshSlice['endpoints'][number];
const at = (address: string) => (e: Ep) => e.address === address;

/**
 * The first update the observer receives from now on (or from message `from`) in which `predicate` holds of the
 * endpoint list.
 */
async function observe(
  predicate: (endpoints: Ep[]) => boolean,
  what: string,
  from = observer.received.length,
  ms = 5000,
) {
  const seen = await observer.waitForView((view) => predicate(view.endpoints), what, ms, from);
  return { endpoints: seen.view?.endpoints ?? [], at: seen.at };
}

async function joinAndWait(instance: string, address: string, service = 'service-b') {
  const proxy = await FakeProxy.join(streamUrl(plane), { service, instance, address, port: 9500 });
  await proxy.snapshot();
  return proxy;
}

beforeAll(async () => {
  databaseUrl = await createDatabase('streamlive');
  plane = await startPlane(databaseUrl, {
    proxyGraceMs: GRACE_MS,
    proxyTtlMs: TTL_MS,
    proxyReconnectWindowMs: 0,
  });
  observer = await FakeProxy.join(streamUrl(plane), { service: 'service-a', instance: 'observer' });
  await observer.snapshot();
});

afterAll(async () => {
  if (!stopped) {
    await observer?.close().catch(() => undefined);
    await plane?.stop();
  }
});

describe('proxy endpoint liveness', () => {
  it('after a disconnect: unhealthy after the grace period, removed after the TTL, both audited', async () => {
    const proxy = await joinAndWait('gone', '10.5.0.1');
    await proxy.close();
    const left = Date.now();
    expect((await proxyStatus(plane, 'service-b', 'gone')).status).toBe('DISCONNECTED');

    const unhealthy = await observe(
      (eps) => eps.find(at('10.5.0.1'))?.health === 'unhealthy',
      'the endpoint to turn unhealthy',
    );
    expect(unhealthy.at - left).toBeGreaterThanOrEqual(GRACE_MS - SLACK_MS);
    const removed = await observe((eps) => !eps.some(at('10.5.0.1')), 'the endpoint to be removed');
    expect(removed.at - left).toBeGreaterThanOrEqual(TTL_MS - SLACK_MS);

    const audit = await getJson(
      `${plane.url}/api/v1/audit?kind=endpoint&resourceName=service-b/10.5.0.1:9500`,
    );
    expect(audit.body.items.map((e: any) => [e.action, e.actor])).toEqual([
      ['delete', LIVENESS_ACTOR],
      ['update', LIVENESS_ACTOR],
      ['create', 'proxy:service-b/gone'],
    ]);
    await eventually(
      async () => ((await proxyStatus(plane, 'service-b', 'gone')) === undefined ? true : undefined),
      'the departed proxy to leave the list',
    );
  });

  it('a proxy that reconnects within the grace period keeps its endpoint healthy', async () => {
    const quick = await joinAndWait('quick', '10.5.0.2');
    const slow = await joinAndWait('slow', '10.5.0.3');
    await Promise.all([quick.close(), slow.close()]);
    const closed = observer.received.length;
    const back = await joinAndWait('quick', '10.5.0.2');
    // `slow` did not come back: when its endpoint turns unhealthy, the grace period is over for both (on a loaded
    // machine that may be before `quick` has its snapshot again, so look from the close on).
    const graceOver = await observe(
      (eps) => eps.find(at('10.5.0.3'))?.health === 'unhealthy',
      'the other endpoint to turn unhealthy',
      closed,
    );
    expect(graceOver.endpoints.find(at('10.5.0.2'))?.health).toBe('healthy');
    const ttlOver = await observe((eps) => !eps.some(at('10.5.0.3')), 'the other endpoint to be removed');
    expect(ttlOver.endpoints.find(at('10.5.0.2'))?.health).toBe('healthy');
    expect((await proxyStatus(plane, 'service-b', 'quick')).status).not.toBe('DISCONNECTED');
    await back.close();
  });

  it('a proxy that reconnects after turning unhealthy, before the TTL, is healthy again and kept', async () => {
    const first = await joinAndWait('late', '10.5.0.4');
    const before = (await getJson(`${plane.url}/api/v1/services/service-b/endpoints`)).body.items.find(
      (e: any) => e.address === '10.5.0.4',
    );
    await first.close();
    await observe(
      (eps) => eps.find(at('10.5.0.4'))?.health === 'unhealthy',
      'the endpoint to turn unhealthy',
    );
    // The observer may hear of the endpoint's recovery before the rejoining proxy has its snapshot: look from here.
    const rejoin = observer.received.length;
    const again = await joinAndWait('late', '10.5.0.4');
    await observe(
      (eps) => eps.find(at('10.5.0.4'))?.health === 'healthy',
      'the endpoint to be healthy again',
      rejoin,
    );
    const other = await joinAndWait('marker', '10.5.0.5');
    await other.close();
    // The marker left after `late` came back; once the marker's endpoint is removed, `late` is past its TTL too.
    const ttlOver = await observe((eps) => !eps.some(at('10.5.0.5')), 'the marker endpoint to be removed');
    expect(ttlOver.endpoints.find(at('10.5.0.4'))?.health).toBe('healthy');
    const after = (await getJson(`${plane.url}/api/v1/services/service-b/endpoints`)).body.items.find(
      (e: any) => e.address === '10.5.0.4',
    );
    expect(after.id).toBe(before.id);
    await again.close();
  });

  it('stop() closes every stream with "shutting down" and ends the LISTEN session', async () => {
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const sessions = async () =>
      (
        await admin.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE application_name = 'trellis-control-listen' AND datname = current_database()`,
        )
      ).rows[0].n as number;
    try {
      expect(await sessions()).toBe(1);
      stopped = true;
      await plane.stop();
      const closed = await deadline(observer.closed, 5000, 'the observer to be closed');
      expect(closed).toEqual({ code: CLOSE_CODES.shuttingDown, reason: 'control plane shutting down' });
      await eventually(
        async () => ((await sessions()) === 0 ? true : undefined),
        'the LISTEN session to end',
      );
    } finally {
      await admin.end();
    }
  });
});
