/**
 * The data plane does not need the control plane (issue M6, first fault): with the demo mesh under steady load
 * through the ingress, the control plane, a child process as the product runs it, is SIGKILLed and stays dead for
 * RELIABILITY_OUTAGE_S (20 s by default, 60 s in the full run), then is started again on the same port.
 *
 * Proves: not one data-plane request fails during the outage or after it; every proxy reconnects and is SYNCED
 * within the stated time (measured from the restarted control plane being ready); no configuration revision is lost,
 * and a route change made before the kill is still in force on the control plane and in the proxies.
 *
 * Proxy endpoints are kept for 10 minutes without a heartbeat (TRELLIS_PROXY_TTL_MS) so that a full-length outage
 * plus a reconnect backoff of up to 30 s never sweeps them: this case is about the control plane dying, not about
 * endpoint expiry.
 */
import { type Mesh, TrafficGenerator, waitForSynced } from '@trellis/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../apps/control/test/support/db.ts';
import { config } from './support/config.ts';
import { ADMIN_TOKEN, ChildControlPlane } from './support/control.ts';
import {
  configRevisions,
  describeFailure,
  getJson,
  nextResults,
  putRouteDestinations,
  startDemoMesh,
  warmUp,
} from './support/mesh.ts';
import { recordFigures } from './support/results.ts';

// Keyed by the outage length, so the short default run and the 60 s run keep their own figures.
const CASE = `control-plane-sigkill-${config.outageS}s`;
const RATE = config.rate;
const OUTAGE_S = config.outageS;
const CANARY = 'service-b-canary';
const CHANGED = [
  { subset: { version: 'v1' }, weight: 80 },
  { subset: { version: 'v2' }, weight: 20 },
];

let control: ChildControlPlane;
let demo: Awaited<ReturnType<typeof startDemoMesh>>;
let mesh: Mesh;
let traffic: TrafficGenerator | undefined;

beforeAll(async () => {
  control = await ChildControlPlane.create(await createDatabase('rel_kill'), {
    TRELLIS_PROXY_TTL_MS: '600000',
  });
  await control.start();
  demo = await startDemoMesh(control.url, 'kill');
  mesh = demo.mesh;
});

afterAll(async () => {
  await traffic?.stop();
  await demo?.stop();
  await control?.stop();
});

describe('control plane SIGKILLed under steady load', () => {
  it(
    `zero failed requests at ${RATE} req/s through a ${OUTAGE_S} s outage; every proxy resyncs; no revision lost`,
    async () => {
      const ramp = await warmUp(mesh.ingressUrl as string);
      const load = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
      traffic = load;
      load.start();
      const warmup = await nextResults(load, 2 * RATE);
      expect(warmup.filter((r) => !r.ok)).toEqual([]);

      // A change made before the kill, acknowledged by every proxy.
      const changed = await putRouteDestinations(control.url, CANARY, CHANGED);
      expect(changed.status).toBe(200);
      await mesh.waitForSync(30_000);
      const revisionsBefore = await configRevisions(control.url);
      expect(revisionsBefore.length).toBeGreaterThan(0);

      // The outage: SIGKILL, as a crash. Load goes on; the wait is on requests answered, RATE per second.
      const duringOutage = nextResults(load, OUTAGE_S * RATE);
      await control.kill();
      const killedAt = performance.now();
      const killedAtWall = Date.now();
      const outage = await duringOutage;
      const outageMs = performance.now() - killedAt;
      expect(control.running).toBe(false);
      const outageFailures = outage
        .filter((r) => !r.ok)
        .map(
          (r) =>
            `sent ${Math.round(r.at - r.durationMs - killedAtWall)} ms after the kill: ${describeFailure(r)}`,
        );
      if (outageFailures.length > 0) {
        recordFigures(CASE, {
          rateRps: RATE,
          warmUp: ramp,
          requestsDuringOutage: outage.length,
          outageFailures: outageFailures.slice(0, 20),
          outageFailed: outageFailures.length,
        });
      }
      expect(outageFailures).toEqual([]);

      // Back on the same port: time from ready to every proxy SYNCED (reconnect backoff included).
      await control.start();
      const readyAt = performance.now();
      const synced = await waitForSynced(
        control.url,
        mesh.proxyKeys(),
        config.resyncBarS * 1000 + 30_000,
        ADMIN_TOKEN,
      );
      const resyncS = (performance.now() - readyAt) / 1000;
      expect(synced.every((p) => p.status === 'SYNCED')).toBe(true);

      const revisionsAfter = await configRevisions(control.url);
      const route = await getJson(`${control.url}/api/v1/routes/${CANARY}`);
      const a1 = await getJson(`${mesh.instance('a-1').adminUrl}config`);
      const inProxy = a1.body.config.routes.find((r: { name: string }) => r.name === CANARY)?.destinations;

      const after = await nextResults(load, 2 * RATE);
      expect(after.filter((r) => !r.ok)).toEqual([]);
      const stats = await load.stop();
      traffic = undefined;

      recordFigures(CASE, {
        rateRps: RATE,
        warmUp: ramp,
        outageS: Math.round(outageMs) / 1000,
        requestsSent: stats.sent,
        requestsFailed: stats.failed,
        errorRate: stats.sent === 0 ? 0 : stats.failed / stats.sent,
        requestsDuringOutage: outage.length,
        resyncS,
        resyncBarS: config.resyncBarS,
        proxies: synced.length,
        configRevisionsBefore: revisionsBefore.length,
        configRevisionsAfter: revisionsAfter.length,
        changeBeforeKillInForce: JSON.stringify(inProxy) === JSON.stringify(CHANGED),
        failures: stats.failures.slice(-5).map(describeFailure),
      });

      expect(stats.failed).toBe(0);
      expect(stats.ok).toBe(stats.sent);
      expect(resyncS).toBeLessThanOrEqual(config.resyncBarS);
      expect(revisionsAfter).toEqual(revisionsBefore);
      expect(route.body.destinations).toEqual(CHANGED);
      expect(inProxy).toEqual(CHANGED);
    },
    config.outageS * 1000 + config.resyncBarS * 1000 + 120_000,
  );
});
