/**
 * One upstream instance dies under load (issue M6, third fault): service-c runs three instances (c-3 of them flaky
 * by design), and the app behind c-1 is SIGKILLed (the app, not its sidecar, so c-1's endpoint still accepts
 * connections and answers 5xx, the harder case for the callers) while RELIABILITY_KILL_RATE req/s (100 by default;
 * the issue asks 1,000, far more than a shared two-core machine runs the dozen-process mesh at) go through the ingress.
 * Its supervisor is told not to restart it within the case, so c-1 stays dead. With RELIABILITY_KILL_TOPOLOGY=direct
 * the ingress gateway calls service-c's three (steady) instances itself, and it is the caller whose retries and
 * ejections are measured: two proxies and one app per request, so the machine can carry the issue's 1,000 req/s.
 *
 * Proves: the client-visible error rate after the kill stays within RELIABILITY_MAX_ERROR_RATE (0.1 %): service-b's
 * sidecars retry the failed calls on another instance and outlier detection ejects c-1. Measures the time from the
 * kill until every service-b sidecar shows c-1 ejected on its admin /clusters, against the issue's bar of 1 s
 * (RELIABILITY_EJECTION_BAR_MS).
 */
import { DEMO_INSTANCES, type Mesh, TrafficGenerator, type TrafficResult } from '@trellis/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../apps/control/test/support/db.ts';
import { config } from './support/config.ts';
import { ADMIN_AUTH, ChildControlPlane } from './support/control.ts';
import { describeFailure, getJson, nextResults, startDemoMesh, warmUp } from './support/mesh.ts';
import { recordFigures } from './support/results.ts';

const DIRECT = config.killTopology === 'direct';
const CASE = DIRECT ? 'upstream-instance-sigkill-direct' : 'upstream-instance-sigkill';
const RATE = config.killRate;

/** A proxy calling service-c: its name and admin URL. */
interface Caller {
  name: string;
  adminUrl: string;
}

let control: ChildControlPlane;
let demo: Awaited<ReturnType<typeof startDemoMesh>>;
let mesh: Mesh;
let traffic: TrafficGenerator | undefined;

beforeAll(async () => {
  control = await ChildControlPlane.create(await createDatabase('rel_upstream'));
  await control.start();
  if (DIRECT) {
    // A gateway of its own, whose slice holds service-c (the seeded ingress's holds only service-a).
    const res = await fetch(`${control.url}/api/v1/services`, {
      method: 'POST',
      headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'gateway', port: 8080, dependencies: ['service-c'] }),
    });
    expect(res.status).toBe(201);
  }
  // No restart of a crashed process within the case: the killed app must stay dead while it is measured.
  demo = await startDemoMesh(control.url, 'upstream', {
    backoff: { initialMs: 600_000, maxMs: 600_000, resetAfterMs: 600_000 },
    ...(DIRECT
      ? {
          services: DEMO_INSTANCES.filter((i) => i.service === 'service-c').map(({ flaky: _f, ...i }) => i),
          ingress: { service: 'gateway', instance: 'gateway-1', target: 'service-c' },
        }
      : {}),
  });
  mesh = demo.mesh;
});

afterAll(async () => {
  await traffic?.stop();
  await demo?.stop();
  await control?.stop();
});

interface ClusterStatus {
  service: string;
  endpoints: { port: number; ejected: boolean }[];
}

/** Whether `caller`'s sidecar holds the endpoint on `port` of service-c ejected now. */
async function ejectedBy(caller: Caller, port: number): Promise<boolean> {
  const { body } = await getJson(`${caller.adminUrl}clusters`, 2000);
  const cluster = (body as ClusterStatus[]).find((c) => c.service === 'service-c');
  return cluster?.endpoints.find((e) => e.port === port)?.ejected === true;
}

/** Per service-b sidecar, the service-c instances it holds ejected now (outlier detection's state, as evidence). */
async function ejectedNow(callers: Caller[]): Promise<Record<string, string[]>> {
  const byPort = new Map(mesh.instances.map((i) => [i.ports.inbound, i.spec.instance]));
  const held: Record<string, string[]> = {};
  for (const caller of callers) {
    const { body } = await getJson(`${caller.adminUrl}clusters`, 2000);
    const cluster = (body as ClusterStatus[]).find((c) => c.service === 'service-c');
    held[caller.name] = (cluster?.endpoints ?? [])
      .filter((e) => e.ejected)
      .map((e) => byPort.get(e.port) ?? String(e.port));
  }
  return held;
}

/** Polls `caller`'s admin every 10 ms until it shows the endpoint ejected; resolves with the ms since `since`. */
async function timeToEjection(caller: Caller, port: number, since: number, timeoutMs: number) {
  for (;;) {
    if (await ejectedBy(caller, port).catch(() => false)) return performance.now() - since;
    if (performance.now() - since > timeoutMs) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('one upstream instance killed under load', () => {
  it(`error rate ≤ ${config.maxErrorRate * 100} % at ${RATE} req/s; the dead instance is ejected within ${config.ejectionBarMs} ms`, async () => {
    const victim = mesh.instance('c-1');
    const callers: Caller[] =
      DIRECT && mesh.ingress
        ? [{ name: mesh.ingress.spec.instance, adminUrl: mesh.ingress.adminUrl }]
        : mesh.instances
            .filter((i) => i.spec.service === 'service-b')
            .map((i) => ({ name: i.spec.instance, adminUrl: i.adminUrl }));
    expect(mesh.instances.filter((i) => i.spec.service === 'service-c')).toHaveLength(3);
    const ramp = await warmUp(mesh.ingressUrl as string);
    for (const caller of callers) expect(await ejectedBy(caller, victim.ports.inbound)).toBe(false);

    const load = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
    traffic = load;
    load.start();
    const before = await nextResults(load, 2 * RATE);

    const ejectedBeforeKill = await ejectedNow(callers);
    // Every answer to a request sent after the kill counts, to the last one in flight when the load stops.
    const after: TrafficResult[] = [];
    let killedAt = Number.POSITIVE_INFINITY;
    load.observe((r) => {
      if (r.at - r.durationMs >= killedAt) after.push(r);
    });
    const loadDone = nextResults(load, config.killLoadS * RATE);
    killedAt = Date.now();
    const killedAtPerf = performance.now();
    victim.app.kill('SIGKILL');
    const ejections = await Promise.all(
      callers.map((c) => timeToEjection(c, victim.ports.inbound, killedAtPerf, config.killLoadS * 1000)),
    );
    await loadDone;
    const ejectedAtEnd = await ejectedNow(callers);
    const stats = await load.stop();
    traffic = undefined;

    const failedAfter = after.filter((r) => !r.ok);
    const errorRateAfterKill = failedAfter.length / after.length;
    const ejectionMs = ejections.every((e) => e !== undefined) ? Math.max(...(ejections as number[])) : null;
    recordFigures(CASE, {
      topology: config.killTopology,
      rateRps: RATE,
      warmUp: ramp,
      requestsSent: stats.sent,
      requestsFailed: stats.failed,
      errorRate: stats.failed / stats.sent,
      requestsBeforeKill: before.length,
      failedBeforeKill: before.filter((r) => !r.ok).length,
      requestsAfterKill: after.length,
      failedAfterKill: failedAfter.length,
      errorRateAfterKill,
      maxErrorRate: config.maxErrorRate,
      ejectionMs,
      ejectionMsBySidecar: Object.fromEntries(
        callers.map((c, i) => [c.name, ejections[i] === undefined ? null : ejections[i]]),
      ),
      ejectionBarMs: config.ejectionBarMs,
      ejectedBeforeKill,
      ejectedAtEnd,
      ejectionVerdict: ejectionMs !== null && ejectionMs <= config.ejectionBarMs ? 'MET' : 'MISS',
      failuresAfterKill: failedAfter
        .slice(0, 10)
        .map(
          (f) =>
            `+${Math.round(f.at - f.durationMs - killedAt)} ms, took ${Math.round(f.durationMs)} ms: ${describeFailure(f)}`,
        ),
    });

    // Failures before the kill mean the machine could not carry the load, which no fault handling can hide.
    expect(before.filter((r) => !r.ok)).toEqual([]);
    expect(errorRateAfterKill).toBeLessThanOrEqual(config.maxErrorRate);
    expect(ejectionMs).not.toBeNull();
    expect(ejectionMs as number).toBeLessThanOrEqual(config.ejectionBarMs);
  }, 120_000);
});
