/**
 * The data plane does not depend on the control plane being up (issue M3): with the demo mesh under steady load
 * through the ingress, the control plane (a child process, as `npm start` runs it) is SIGKILLed for OUTAGE_MS
 * (30 s unless TRELLIS_TEST_OUTAGE_MS says otherwise). While it is down, the canary route is changed to send all
 * of service-b's traffic to v2, directly in the database through the store, and one sidecar is restarted: it
 * starts from its on-disk snapshot and serves. The control plane is then started again on the same port.
 *
 * Expected: not one failed request over the whole run; every proxy reconnects and is SYNCED; the change made while
 * they were away arrives, so service-b's traffic goes to v2 only.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { RouteRuleSpec } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../../apps/control/src/db/client.ts';
import { getRoute, replaceRoute } from '../../../apps/control/src/store/routes.ts';
import {
  DEMO_INSTANCES,
  type Mesh,
  startMesh,
  TrafficGenerator,
  type TrafficResult,
  waitForSynced,
} from '../src/index.ts';
import { ADMIN_TOKEN, ChildControlPlane, createDatabase, JOIN_TOKEN } from './support/control.ts';

const OUTAGE_MS = Number(process.env.TRELLIS_TEST_OUTAGE_MS ?? 30_000);
const RATE = 20;

let control: ChildControlPlane;
let mesh: Mesh;
let traffic: TrafficGenerator;
let stateDir: string;

beforeAll(async () => {
  stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-demo-outage-'));
  // A long TTL: proxies reconnect with a backoff that reaches 30 s, and their endpoints must outlive the outage
  // plus that wait (they turn unhealthy after the grace period, which the balancers' panic mode rides out).
  control = await ChildControlPlane.create(await createDatabase('demo'), { TRELLIS_PROXY_TTL_MS: '600000' });
  await control.start();
  mesh = await startMesh({
    controlUrl: control.url,
    joinTokens: () => JOIN_TOKEN,
    controlToken: ADMIN_TOKEN,
    services: DEMO_INSTANCES,
    stateDir,
  });
  traffic = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
});

afterAll(async () => {
  await traffic?.stop();
  await mesh?.stop();
  await control?.stop();
  await fs.rm(stateDir, { recursive: true, force: true });
});

/** Resolves with the next `count` results for which `accept` holds. */
function nextResults(
  count: number,
  accept: (r: TrafficResult) => boolean = () => true,
): Promise<TrafficResult[]> {
  return new Promise((resolve) => {
    const got: TrafficResult[] = [];
    const stop = traffic.observe((r) => {
      if (!accept(r)) return;
      got.push(r);
      if (got.length === count) {
        stop();
        resolve(got);
      }
    });
  });
}

/** The failed results, each as one line a CI log shows in full: when, what, how long, through which hops. */
function failures(results: TrafficResult[]): string[] {
  return results
    .filter((r) => !r.ok)
    .map(
      (r) =>
        `${new Date(r.at).toISOString()} status ${r.status} ${r.error ?? ''} after ${Math.round(r.durationMs)} ms` +
        ` via ${r.chain.map((l) => (l.error ? `${l.instance} (${l.error})` : l.instance)).join(' > ') || '-'}` +
        `${tail(r.chain)}`,
    );
}

/** What the last app of a chain got from downstream when that was not another app: a proxy's error answer. */
function tail(chain: TrafficResult['chain']): string {
  const down = chain.at(-1)?.downstream as unknown;
  return down === undefined ? '' : `: ${JSON.stringify(down).slice(0, 300)}`;
}

async function adminConfig(adminUrl: string): Promise<{ revision: number; config: any }> {
  return (await (await fetch(`${adminUrl}config`)).json()) as { revision: number; config: any };
}

/** A GET through a sidecar's outbound listener, as its app calls (fetch cannot set Host). */
function throughOutbound(port: number, host: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

describe('control plane outage under load', () => {
  it(
    `zero failed requests through a ${OUTAGE_MS / 1000} s outage; on return every proxy resyncs and gets the change made meanwhile`,
    async () => {
      traffic.start();
      const warmup = await nextResults(2 * RATE);
      expect(failures(warmup)).toEqual([]);
      const c2 = mesh.instance('c-2');
      const before = await adminConfig(c2.adminUrl);
      expect(before.revision).toBeGreaterThan(0);

      // The outage: SIGKILL, as a crash. Load goes on (the wait below is on requests answered, RATE per second).
      const duringOutage = nextResults((OUTAGE_MS / 1000) * RATE);
      await control.kill();
      const killedAt = Date.now();

      // A change while the control plane is away, straight into its database.
      const db = createDb(control.databaseUrl);
      let changedAt: number;
      try {
        const store = { db, clock: () => new Date(), newId: () => crypto.randomUUID() };
        const {
          id: _i,
          version,
          createdAt: _c,
          updatedAt: _u,
          ...spec
        } = await getRoute(store, 'service-b-canary');
        const changed = await replaceRoute(store, 'test:outage', 'service-b-canary', {
          ...RouteRuleSpec.parse({ ...spec, destinations: [{ subset: { version: 'v2' }, weight: 100 }] }),
          version,
        });
        changedAt = changed.revision as number;
        expect(changedAt).toBeGreaterThan(before.revision);
      } finally {
        await db.$disconnect();
      }

      // A sidecar restarted meanwhile starts from its last-known-good snapshot on disk, and serves.
      await c2.sidecar.restart();
      const restarted = await adminConfig(c2.adminUrl);
      expect(restarted.revision).toBe(before.revision);
      const viaRestarted = await throughOutbound(c2.ports.outbound, 'service-c');
      expect(viaRestarted.status).toBe(200);
      expect(viaRestarted.body.service).toBe('service-c');

      const outage = await duringOutage;
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(OUTAGE_MS - 2000);
      expect(failures(outage)).toEqual([]);

      // Back on the same port: every proxy reconnects (its backoff may have grown to 30 s) and acknowledges.
      await control.start();
      const synced = await waitForSynced(control.url, mesh.proxyKeys(), 90_000, ADMIN_TOKEN);
      for (const p of synced) {
        expect(p.status).toBe('SYNCED');
        expect(p.currentRevision).toBeGreaterThanOrEqual(changedAt);
      }
      const a1 = await adminConfig(mesh.instance('a-1').adminUrl);
      expect(a1.revision).toBeGreaterThanOrEqual(changedAt);
      expect(a1.config.routes.find((r: any) => r.name === 'service-b-canary').destinations).toEqual([
        { subset: { version: 'v2' }, weight: 100 },
      ]);

      // Requests sent from now on see the change: service-b answers from v2 only.
      const sentAfterSync = Date.now();
      const after = await nextResults(3 * RATE, (r) => r.at - r.durationMs >= sentAfterSync);
      expect(failures(after)).toEqual([]);
      expect(new Set(after.map((r) => r.chain[1]?.version))).toEqual(new Set(['v2']));

      const stats = await traffic.stop();
      expect(failures(stats.failures)).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBe(stats.sent);
      expect(stats.sent).toBeGreaterThanOrEqual(((OUTAGE_MS + 5000) / 1000) * RATE);
    },
    OUTAGE_MS + 180_000,
  );
});
