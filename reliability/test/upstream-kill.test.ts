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
 *
 * The load is ramped up to its rate and held RELIABILITY_KILL_AFTER_S (5 s) before the kill, with not one failure
 * and not one ejected instance allowed in that time (c-3's ejections aside: the demo mesh's c-3 is flaky by design).
 * An instance ejected during the ramp (recorded) is waited for until its ejection runs out: the fault is one
 * instance dying in a healthy mesh. Besides the verdict the case records where failures came from: the requests sent after
 * the kill per 500 ms (sent, failed, slowest) and the ten slowest with the instance that answered; each caller's
 * counts by service-c instance (answers, ejections, retries, overflows); and the worst event-loop delay and GC time
 * of every proxy involved and of this process, which sends the load.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEMO_INSTANCES, type Mesh, TrafficGenerator, type TrafficResult } from '@trellis/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../apps/control/test/support/db.ts';
import { config } from './support/config.ts';
import { ADMIN_AUTH, ChildControlPlane } from './support/control.ts';
import {
  describeFailure,
  getJson,
  nextResults,
  type ProcessFigures,
  pollUntil,
  processFigures,
  proxyMetrics,
  startDemoMesh,
  warmUp,
} from './support/mesh.ts';
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
/** Every ejection a proxy of the mesh logged: when (Date.now()), who, and the log line's fields. */
const ejectionLog: { at: number; proxy: string; endpoint: string; reason: string }[] = [];

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
    onOutput: (proxy, line) => {
      if (!line.includes('outlier detection ejected')) return;
      try {
        const { time, endpoint, reason } = JSON.parse(line) as {
          time?: number;
          endpoint: string;
          reason: string;
        };
        ejectionLog.push({ at: time ?? Date.now(), proxy, endpoint, reason });
      } catch {
        // not a log line of ours
      }
    },
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

/**
 * The steady instances among `held` per caller: c-3 of the demo mesh is flaky by design, and its ejections come and
 * go whatever the case does.
 */
function steadyEjected(held: Record<string, string[]>): Record<string, string[]> {
  const flaky = new Set(mesh.instances.filter((i) => i.spec.flaky).map((i) => i.spec.instance));
  return Object.fromEntries(
    Object.entries(held).map(([caller, instances]) => [caller, instances.filter((i) => !flaky.has(i))]),
  );
}

/** Polls `caller`'s admin every 10 ms until it shows the endpoint ejected; resolves with the ms since `since`. */
async function timeToEjection(caller: Caller, port: number, since: number, timeoutMs: number) {
  for (;;) {
    if (await ejectedBy(caller, port).catch(() => false)) return performance.now() - since;
    if (performance.now() - since > timeoutMs) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * What a caller counted of its calls to service-c since it started: answers by instance and class, ejections by
 * instance, retries, overflows and connections opened (from its /metrics), as evidence of where a failure came from.
 */
async function serviceCCounts(adminUrl: string): Promise<Record<string, number>> {
  const text = await proxyMetrics(adminUrl);
  const byPort = new Map(mesh.instances.map((i) => [String(i.ports.inbound), i.spec.instance]));
  const counts: Record<string, number> = {};
  const pattern =
    /^(trellis_requests_total|trellis_ejections_total|trellis_retries_total|trellis_overflows_total)\{([^}]*)\} (\S+)$/gm;
  for (const [, name, labels = '', value] of text.matchAll(pattern)) {
    if (
      !labels.includes('destination_service="service-c"') ||
      (!labels.includes('reporter="source"') && name !== 'trellis_ejections_total')
    )
      continue;
    const port = /destination_endpoint="[^"]*:(\d+)"/.exec(labels)?.[1];
    const cls = /response_code_class="([^"]*)"/.exec(labels)?.[1];
    const key = [name?.replace(/^trellis_|_total$/g, ''), port ? (byPort.get(port) ?? port) : '', cls ?? '']
      .filter((part) => part !== '')
      .join(' ');
    counts[key] = (counts[key] ?? 0) + Number(value);
  }
  // Connections the caller opened to each instance since it started (a burst of them is a burst of handshakes).
  const opened = /^trellis_upstream_connections_opened_total\{destination_endpoint="[^"]*:(\d+)"\} (\S+)$/gm;
  for (const [, port = '', value] of text.matchAll(opened)) {
    const instance = byPort.get(port);
    if (instance) counts[`connections opened ${instance}`] = Number(value);
  }
  return counts;
}

/** Requests sent after the kill, by when they were sent: per `stepMs`, how many, how many failed, the slowest. */
function timeline(results: TrafficResult[], since: number, stepMs: number): string[] {
  const steps: { sent: number; failed: number; slowestMs: number }[] = [];
  for (const r of results) {
    const index = Math.max(0, Math.floor((r.at - r.durationMs - since) / stepMs));
    for (let i = steps.length; i <= index; i += 1) steps.push({ sent: 0, failed: 0, slowestMs: 0 });
    const step = steps[index] as { sent: number; failed: number; slowestMs: number };
    step.sent += 1;
    if (!r.ok) step.failed += 1;
    step.slowestMs = Math.max(step.slowestMs, r.durationMs);
  }
  return steps.map(
    (s, i) => `+${i * stepMs} ms: ${s.sent} sent, ${s.failed} failed, slowest ${Math.round(s.slowestMs)} ms`,
  );
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
    const ramp = await warmUp(mesh.ingressUrl as string, RATE);
    // The fault is one instance dying in a healthy mesh. A steady instance ejected while the load was ramped up (the
    // machine saturating for a moment) is recorded, and waited for until its ejection runs out.
    const ejectedAfterRamp = await ejectedNow(callers);
    const waitedFrom = performance.now();
    await pollUntil(
      'every service-c instance back in service after the ramp',
      async () =>
        Object.values(steadyEjected(await ejectedNow(callers))).every((held) => held.length === 0)
          ? true
          : undefined,
      65_000,
      250,
    );
    const waitedForEjectionsMs = Math.round(performance.now() - waitedFrom);

    const load = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
    traffic = load;
    load.start();
    const before = await nextResults(load, config.killAfterS * RATE);

    const ejectedBeforeKill = await ejectedNow(callers);
    // Where a stall after the kill comes from, if one does: each caller's event loop and GC, and this process's
    // (it sends the load and supervises the mesh).
    const watched: Caller[] = [
      ...callers,
      ...mesh.instances
        .filter((i) => i.spec.service === 'service-c')
        .map((i) => ({ name: `${i.spec.instance} sidecar`, adminUrl: i.adminUrl })),
    ];
    const processBefore = await Promise.all(watched.map((c) => processFigures(c.adminUrl)));
    const ownLoop = monitorEventLoopDelay({ resolution: 10 });
    ownLoop.enable();
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
    ownLoop.disable();
    const processAfter = await Promise.all(watched.map((c) => processFigures(c.adminUrl)));
    const ejectedAtEnd = await ejectedNow(callers);
    const callerCounts = await Promise.all(callers.map((c) => serviceCCounts(c.adminUrl)));
    const stats = await load.stop();
    traffic = undefined;

    const failedAfter = after.filter((r) => !r.ok);
    const errorRateAfterKill = failedAfter.length / after.length;
    const ejectionMs = ejections.every((e) => e !== undefined) ? Math.max(...(ejections as number[])) : null;
    recordFigures(CASE, {
      topology: config.killTopology,
      rateRps: RATE,
      warmUp: ramp,
      ejectedAfterRamp,
      waitedForEjectionsMs,
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
      afterKillProcess: {
        loadGenerator: { eventLoopDelayMaxMs: Math.round(ownLoop.max / 1e6) },
        ...Object.fromEntries(
          watched.map((c, i) => {
            const before = processBefore[i] as ProcessFigures;
            const after = processAfter[i] as ProcessFigures;
            return [
              c.name,
              {
                eventLoopDelayMaxMs: Math.round(after.eventLoopDelayMaxMs),
                gcMs: Math.round((after.gcSeconds - before.gcSeconds) * 1000),
                gcCount: after.gcCount - before.gcCount,
              },
            ];
          }),
        ),
      },
      ejectionsLogged: ejectionLog.map((e) => {
        const port = e.endpoint.slice(e.endpoint.lastIndexOf(':') + 1);
        const instance =
          mesh.instances.find((i) => String(i.ports.inbound) === port)?.spec.instance ?? e.endpoint;
        return `${e.at >= killedAt ? '+' : ''}${e.at - killedAt} ms: ${e.proxy} ejected ${instance} (${e.reason})`;
      }),
      callerCountsAtEnd: Object.fromEntries(callers.map((c, i) => [c.name, callerCounts[i]])),
      timelineBeforeKill: timeline(before, killedAt - config.killAfterS * 1000, 1000),
      timelineAfterKill: timeline(after, killedAt, 500),
      ejectionVerdict: ejectionMs !== null && ejectionMs <= config.ejectionBarMs ? 'MET' : 'MISS',
      slowestAfterKill: [...after]
        .sort((a, b) => b.durationMs - a.durationMs)
        .slice(0, 10)
        .map(
          (r) =>
            `+${Math.round(r.at - r.durationMs - killedAt)} ms, took ${Math.round(r.durationMs)} ms: ${r.ok ? `200 from ${r.chain.map((l) => l.instance).join(' → ')}` : describeFailure(r)}`,
        ),
      failuresAfterKill: failedAfter
        .slice(0, 10)
        .map(
          (f) =>
            `+${Math.round(f.at - f.durationMs - killedAt)} ms, took ${Math.round(f.durationMs)} ms: ${describeFailure(f)}`,
        ),
    });

    // Failures or ejections before the kill mean the machine could not carry the load, which no fault handling
    // can hide.
    expect(before.filter((r) => !r.ok)).toEqual([]);
    expect(steadyEjected(ejectedBeforeKill)).toEqual(Object.fromEntries(callers.map((c) => [c.name, []])));
    expect(errorRateAfterKill).toBeLessThanOrEqual(config.maxErrorRate);
    expect(ejectionMs).not.toBeNull();
    expect(ejectionMs as number).toBeLessThanOrEqual(config.ejectionBarMs);
  }, 180_000);
});
