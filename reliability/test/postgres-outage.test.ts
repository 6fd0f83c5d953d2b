/**
 * The database goes away under a running control plane (issue M6, second fault): the control plane (a child
 * process) runs on a Postgres server of this case's own, which is stopped for RELIABILITY_DB_OUTAGE_S (10 s by
 * default) while load runs through the demo mesh, and then started again on the same port and data.
 *
 * Proves: while the database is away, every API call (reads, and a write) is answered within
 * RELIABILITY_API_ANSWER_BAR_MS with 503 and a problem+json body whose code is TRELLIS_ERR_DATABASE_UNAVAILABLE, not
 * a hang or a crash; the data plane does not notice (zero failed requests); once the database is back the control
 * plane recovers by itself (a write succeeds with no restart); and the writes refused during the outage left
 * nothing behind (the route and the revision history hold exactly the one write that succeeded).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, type Mesh, TrafficGenerator } from '@trellis/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureDatabase,
  type RunningPostgres,
  startEmbeddedPostgres,
} from '../../apps/control/src/db/embedded.ts';
import { config } from './support/config.ts';
import { ADMIN_AUTH, ChildControlPlane } from './support/control.ts';
import { configRevisions, describeFailure, getJson, startDemoMesh, warmUp } from './support/mesh.ts';
import { recordFigures } from './support/results.ts';

const CASE = 'postgres-outage';
const RATE = config.rate;
const CANARY = 'service-b-canary';
const DATABASE = 'trellis_reliability';

let dir: string;
let pgPort: number;
let postgres: RunningPostgres | undefined;
let control: ChildControlPlane;
let demo: Awaited<ReturnType<typeof startDemoMesh>>;
let mesh: Mesh;
let traffic: TrafficGenerator | undefined;

const startPostgres = () =>
  startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port: pgPort, persistent: true });

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-reliability-pg-'));
  await fs.chmod(dir, 0o755);
  pgPort = await freePort();
  postgres = await startPostgres();
  await ensureDatabase(postgres.adminUrl, DATABASE);
  control = await ChildControlPlane.create(postgres.databaseUrl(DATABASE), {
    TRELLIS_PROXY_TTL_MS: '600000',
  });
  await control.start();
  demo = await startDemoMesh(control.url, 'pg');
  mesh = demo.mesh;
});

afterAll(async () => {
  await traffic?.stop();
  await demo?.stop();
  await control?.stop();
  await postgres?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  contentType: string;
  code: string | undefined;
  ms: number;
}

/** One API call, timed; a call without an answer within the bar plus a margin counts as status 0. */
async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      ...init,
      headers: { ...ADMIN_AUTH, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(config.apiAnswerBarMs + 5000),
    });
    const text = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      code,
      ms: performance.now() - started,
    };
  } catch {
    return { status: 0, contentType: '', code: undefined, ms: performance.now() - started };
  }
}

describe('Postgres stopped and restarted while the control plane runs', () => {
  it(`the API answers 503 problem+json within ${config.apiAnswerBarMs} ms, the data plane is untouched, and it recovers by itself`, async () => {
    const ramp = await warmUp(mesh.ingressUrl as string);
    const load = new TrafficGenerator({ url: mesh.ingressUrl as string, requestsPerSecond: RATE });
    traffic = load;
    load.start();

    const route = await getJson(`${control.url}/api/v1/routes/${CANARY}`);
    expect(route.status).toBe(200);
    const { id: _id, createdAt: _c, updatedAt: _u, ...spec } = route.body;
    const revisionsBefore = await configRevisions(control.url);
    const put = (v1: number) =>
      call(`${control.url}/api/v1/routes/${CANARY}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ...spec,
          destinations: [
            { subset: { version: 'v1' }, weight: v1 },
            { subset: { version: 'v2' }, weight: 100 - v1 },
          ],
        }),
      });

    await (postgres as RunningPostgres).stop();
    postgres = undefined;
    const stoppedAt = performance.now();

    // While it is away: reads and a write, again and again, each answered (or not) within the bar.
    const during: Answer[] = [];
    while (performance.now() - stoppedAt < config.dbOutageS * 1000) {
      during.push(
        ...(await Promise.all([
          call(`${control.url}/api/v1/routes/${CANARY}`),
          call(`${control.url}/api/v1/services`),
          call(`${control.url}/api/v1/revisions`),
          put(70),
        ])),
      );
    }
    const controlAlive = control.running;

    postgres = await startPostgres();
    const restartedAt = performance.now();
    // Recovery by itself: the same write, retried until it succeeds (the control plane is not restarted).
    let recovered: Answer | undefined;
    let attempts = 0;
    while (!recovered && performance.now() - restartedAt < 60_000) {
      attempts += 1;
      const answer = await put(60);
      if (answer.status === 200) recovered = answer;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const recoveryS = (performance.now() - restartedAt) / 1000;
    await mesh.waitForSync(30_000);
    const after = await getJson(`${control.url}/api/v1/routes/${CANARY}`);
    const revisionsAfter = await configRevisions(control.url);
    const stats = await load.stop();
    traffic = undefined;

    const byStatus: Record<string, number> = {};
    for (const a of during) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
    const slowest = Math.max(...during.map((a) => a.ms));
    recordFigures(CASE, {
      rateRps: RATE,
      warmUp: ramp,
      outageS: config.dbOutageS,
      apiCallsDuringOutage: during.length,
      apiAnswersByStatus: byStatus,
      apiCodes: [...new Set(during.map((a) => a.code))],
      apiSlowestAnswerMs: slowest,
      apiAnswerBarMs: config.apiAnswerBarMs,
      controlPlaneStayedUp: controlAlive,
      recoveryS,
      recoveryAttempts: attempts,
      configRevisionsBefore: revisionsBefore.length,
      configRevisionsAfter: revisionsAfter.length,
      requestsSent: stats.sent,
      requestsFailed: stats.failed,
      errorRate: stats.failed / stats.sent,
      failures: stats.failures.slice(-5).map(describeFailure),
    });

    expect(controlAlive).toBe(true);
    expect(during.length).toBeGreaterThan(0);
    for (const answer of during) {
      expect(answer).toMatchObject({ status: 503, code: 'TRELLIS_ERR_DATABASE_UNAVAILABLE' });
      expect(answer.contentType).toContain('application/problem+json');
    }
    expect(slowest).toBeLessThanOrEqual(config.apiAnswerBarMs);
    expect(recovered?.status).toBe(200);
    // Exactly the one write that succeeded: no refused write was half-applied or applied later.
    expect(after.body.version).toBe(spec.version + 1);
    expect(after.body.destinations).toEqual([
      { subset: { version: 'v1' }, weight: 60 },
      { subset: { version: 'v2' }, weight: 40 },
    ]);
    expect(revisionsAfter.length).toBe(revisionsBefore.length + 1);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBe(stats.sent);
  }, 180_000);
});
