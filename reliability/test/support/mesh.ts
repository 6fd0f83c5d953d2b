/** What the cases share: the demo mesh on a child control plane, waiting on traffic results, reading the API. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DEMO_INSTANCES,
  type Mesh,
  type MeshOptions,
  startMesh,
  TrafficGenerator,
  type TrafficResult,
} from '@trellis/demo';
import { ADMIN_AUTH, ADMIN_TOKEN, JOIN_TOKEN } from './control.ts';

/** The demo mesh (ingress → service-a → service-b v1/v2 → service-c ×3) joined to `controlUrl`. */
export async function startDemoMesh(
  controlUrl: string,
  label: string,
  options: Partial<MeshOptions> = {},
): Promise<{ mesh: Mesh; stop(): Promise<void> }> {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), `trellis-reliability-${label}-`));
  try {
    const mesh = await startMesh({
      controlUrl,
      joinTokens: () => JOIN_TOKEN,
      controlToken: ADMIN_TOKEN,
      services: DEMO_INSTANCES,
      stateDir,
      ...options,
    });
    return {
      mesh,
      async stop() {
        await mesh.stop();
        await fs.rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await fs.rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

/** Resolves with the next `count` results of `traffic` for which `accept` holds. */
export function nextResults(
  traffic: TrafficGenerator,
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

/** Polls `check` (every `everyMs`) until it returns a value other than undefined; rejects after `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 20,
): Promise<T> {
  const until = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > until) {
      throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** GET with the test control plane's admin token (which proxies' admin listeners ignore). */
export async function getJson(url: string, timeoutMs = 5000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: ADMIN_AUTH, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** A proxy's admin /metrics, as Prometheus text. */
export async function proxyMetrics(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/** What a proxy's process went through since the last read: its worst event-loop delay and its time in GC. */
export interface ProcessFigures {
  eventLoopDelayMaxMs: number;
  gcSeconds: number;
  gcCount: number;
}

/**
 * Reads a proxy's Node process metrics from its admin /metrics. The event-loop maximum is since the previous
 * scrape (the proxy resets it on each), GC time and count are totals since the process started.
 */
export async function processFigures(adminUrl: string): Promise<ProcessFigures> {
  const text = await proxyMetrics(adminUrl);
  const sum = (pattern: RegExp) => [...text.matchAll(pattern)].reduce((total, m) => total + Number(m[1]), 0);
  return {
    eventLoopDelayMaxMs: sum(/^nodejs_eventloop_lag_max_seconds (\S+)$/gm) * 1000,
    gcSeconds: sum(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm),
    gcCount: sum(/^nodejs_gc_duration_seconds_count\{[^}]*\} (\S+)$/gm),
  };
}

/** Every config revision the control plane holds (all pages), newest first. */
export async function configRevisions(controlUrl: string): Promise<number[]> {
  const revisions: number[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ kind: 'config', limit: '100', ...(cursor ? { cursor } : {}) });
    const { status, body } = await getJson(`${controlUrl}/api/v1/revisions?${query}`);
    if (status !== 200) throw new Error(`GET /api/v1/revisions answered ${status}`);
    revisions.push(...(body.items as { revision: number }[]).map((r) => r.revision));
    cursor = body.nextCursor ?? undefined;
  } while (cursor);
  return revisions;
}

/** PUT a route with its current version and new destinations; returns the answer's status and body. */
export async function putRouteDestinations(
  controlUrl: string,
  name: string,
  destinations: unknown[],
  timeoutMs = 5000,
): Promise<{ status: number; body: any }> {
  const current = await getJson(`${controlUrl}/api/v1/routes/${name}`, timeoutMs);
  if (current.status !== 200) return current;
  const { id: _id, createdAt: _c, updatedAt: _u, ...spec } = current.body;
  const res = await fetch(`${controlUrl}/api/v1/routes/${name}`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ ...spec, destinations }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/**
 * A freshly started mesh is cold (nothing compiled by V8's JIT yet, no pooled connections), and going straight to
 * the case's rate times out its first requests. Load is ramped up first (20, then 50 req/s, then doubling while
 * below `targetRate`, a few seconds each, counted by answers); the case's own generator counts every request
 * after that. A step from 50 to 1,000 req/s keeps a cold two-core machine saturated for seconds, long enough for
 * outlier detection to eject healthy but slow instances; a service taking real traffic does not see such a step.
 * Returns the ramp's failures, which the case reports.
 */
export async function warmUp(
  url: string,
  targetRate = 0,
): Promise<{ sent: number; failed: number; failures: string[] }> {
  let sent = 0;
  let failed = 0;
  const failures: string[] = [];
  const rates = [20, 50];
  for (let rate = 100; rate < targetRate; rate *= 2) rates.push(rate);
  for (const rate of rates) {
    const ramp = new TrafficGenerator({ url, requestsPerSecond: rate });
    ramp.start();
    await nextResults(ramp, 3 * rate);
    const stats = await ramp.stop();
    sent += stats.sent;
    failed += stats.failed;
    // The last few failures of each step (the generator keeps the last 20), as evidence of what went wrong.
    for (const f of stats.failures.slice(-5)) failures.push(`${rate} req/s: ${describeFailure(f)}`);
  }
  return { sent, failed, failures };
}

/** One failed request in a line: its status and the innermost reason along the chain of calls, e.g. "502 c-1 …". */
export function describeFailure(result: TrafficResult): string {
  let where = '';
  let node: any = result.chain[0];
  while (node) {
    if (node.instance) where = node.instance;
    if (!node.downstream) break;
    node = node.downstream;
  }
  const reason = node?.code ?? node?.error ?? result.error ?? '';
  return `${result.status} at ${where || 'ingress'}: ${reason}${node?.detail ? ` (${node.detail})` : ''}`;
}
