/**
 * Rule churn under load (issue M6, last fault): while steady load runs through the ingress, the canary route of
 * service-b is replaced RELIABILITY_ROUTE_CHANGES times (100 by default) through the REST API, alternating its
 * weights between 90/10 and 10/90, each change pushed to every proxy as a new snapshot.
 *
 * Proves: not one request fails while proxies swap their routing tables under traffic; every change is accepted
 * (200, no lost update), and at the end every proxy is SYNCED on the last change and serves it.
 */
import { type Mesh, TrafficGenerator } from '@trellis/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../apps/control/test/support/db.ts';
import { config } from './support/config.ts';
import { ChildControlPlane } from './support/control.ts';
import {
  describeFailure,
  getJson,
  nextResults,
  putRouteDestinations,
  startDemoMesh,
  warmUp,
} from './support/mesh.ts';
import { recordFigures } from './support/results.ts';

const CASE = 'route-weight-churn';
const RATE = config.rate;
const CHANGES = config.routeChanges;
const CANARY = 'service-b-canary';
const weights = (v1: number) => [
  { subset: { version: 'v1' }, weight: v1 },
  { subset: { version: 'v2' }, weight: 100 - v1 },
];

let control: ChildControlPlane;
let demo: Awaited<ReturnType<typeof startDemoMesh>>;
let mesh: Mesh;
let traffic: TrafficGenerator | undefined;

beforeAll(async () => {
  control = await ChildControlPlane.create(await createDatabase('rel_churn'));
  await control.start();
  demo = await startDemoMesh(control.url, 'churn');
  mesh = demo.mesh;
});

afterAll(async () => {
  await traffic?.stop();
  await demo?.stop();
  await control?.stop();
});

describe('route-weight changes during load', () => {
  it(`${CHANGES} changes of the canary's weights at ${RATE} req/s: zero failed requests`, async () => {
    const ramp = await warmUp(mesh.ingressUrl as string);
    const load = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
    traffic = load;
    load.start();
    await nextResults(load, RATE);

    const startedAt = performance.now();
    const statuses: Record<string, number> = {};
    let last = weights(90);
    for (let i = 0; i < CHANGES; i++) {
      last = weights(i % 2 === 0 ? 10 : 90);
      const { status } = await putRouteDestinations(control.url, CANARY, last);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    const changesS = (performance.now() - startedAt) / 1000;
    const synced = await mesh.waitForSync(30_000);
    const syncedAfterS = (performance.now() - startedAt) / 1000 - changesS;
    await nextResults(load, RATE);
    const stats = await load.stop();
    traffic = undefined;

    const a1 = await getJson(`${mesh.instance('a-1').adminUrl}config`);
    const served = a1.body.config.routes.find((r: { name: string }) => r.name === CANARY)?.destinations;
    recordFigures(CASE, {
      rateRps: RATE,
      warmUp: ramp,
      changes: CHANGES,
      changeAnswers: statuses,
      changesPerS: CHANGES / changesS,
      changesS,
      allSyncedAfterLastChangeS: syncedAfterS,
      requestsSent: stats.sent,
      requestsFailed: stats.failed,
      errorRate: stats.failed / stats.sent,
      answeredBy: { v1: stats.seen['service-b v1'] ?? 0, v2: stats.seen['service-b v2'] ?? 0 },
      failures: stats.failures.slice(-5).map(describeFailure),
    });

    expect(statuses).toEqual({ 200: CHANGES });
    expect(synced.every((p) => p.status === 'SYNCED')).toBe(true);
    expect(served).toEqual(last);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBe(stats.sent);
  }, 180_000);
});
