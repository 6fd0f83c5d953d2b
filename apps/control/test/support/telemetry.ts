/**
 * Telemetry test helpers: frames built the way a proxy builds them (validated with the wire schema, latencies
 * put into the shared histogram layout), a manual clock, and a control plane with a telemetry pipeline.
 */
import {
  type EdgeStats,
  type EjectedEndpoint,
  LATENCY_MAX_MICROS,
  latencyBucketOf,
  TelemetryFrame,
  toSparseLatency,
} from '@trellis/schema';
import { createDb } from '../../src/db/client.ts';
import { pendingMigrations, readMigrations } from '../../src/db/migrate.ts';
import { buildApp } from '../../src/http/app.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import { TelemetryPipeline, type TelemetryPipelineOptions } from '../../src/telemetry/pipeline.ts';
import { TEST_ADMIN_TOKEN } from './api.ts';
import { migratedDatabase, silentLogger, type TestControl } from './db.ts';

export const DAY_MS = 86_400_000;

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public ms: number) {}
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface EdgeSpec {
  endpoint?: string;
  /** Count per class; 2xx by default. */
  ok?: number;
  c4xx?: number;
  c5xx?: number;
  errors?: number;
  /** One latency (ms) per request, in the order ok, 4xx, 5xx, errors; or one value for all. */
  latencyMs?: number | number[];
  bytesIn?: number;
  bytesOut?: number;
  retries?: number;
  /** Requests refused by a circuit breaker (counted among the requests, usually as errors). */
  overflows?: number;
  /** Requests over mutual TLS, denied and dry-run denied by authorization policies (each among the requests). */
  mtls?: number;
  denied?: number;
  dryRunDenied?: number;
}

export function edge(source: string, destination: string, spec: EdgeSpec = {}): EdgeStats {
  const ok = spec.ok ?? 0;
  const c4xx = spec.c4xx ?? 0;
  const c5xx = spec.c5xx ?? 0;
  const errors = spec.errors ?? 0;
  const requests = ok + c4xx + c5xx + errors;
  const latencies =
    typeof spec.latencyMs === 'object'
      ? spec.latencyMs
      : Array.from({ length: requests }, () => (spec.latencyMs as number | undefined) ?? 10);
  if (latencies.length !== requests)
    throw new Error(`${latencies.length} latencies for ${requests} requests`);
  const counts = new Map<number, number>();
  for (const ms of latencies) {
    const index = latencyBucketOf(Math.min(Math.round(ms * 1000), LATENCY_MAX_MICROS));
    counts.set(index, (counts.get(index) ?? 0) + 1);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p * sorted.length) / 100) - 1)] ?? 0;
  return {
    source,
    destination,
    endpoint: spec.endpoint ?? '10.0.0.1:8080',
    requests,
    byClass: { '1xx': 0, '2xx': ok, '3xx': 0, '4xx': c4xx, '5xx': c5xx, error: errors },
    bytesIn: spec.bytesIn ?? 0,
    bytesOut: spec.bytesOut ?? 0,
    retries: spec.retries ?? 0,
    overflows: spec.overflows ?? 0,
    mtls: spec.mtls ?? 0,
    denied: spec.denied ?? 0,
    dryRunDenied: spec.dryRunDenied ?? 0,
    latency: {
      p50: at(50),
      p90: at(90),
      p95: at(95),
      p99: at(99),
      max: sorted[sorted.length - 1] ?? 0,
      buckets: toSparseLatency(counts),
    },
  };
}

/**
 * A frame from the proxy of `service`, validated as the proxy stream would; `ejectedNow` are the endpoints it holds
 * ejected when the window closes.
 */
export function frame(
  service: string,
  windowStart: number,
  edges: EdgeStats[],
  instance = `${service}-1`,
  ejectedNow: EjectedEndpoint[] = [],
) {
  return TelemetryFrame.parse({
    node: { service, instance },
    windowStart,
    windowMs: 1000,
    edges,
    ejections: 0,
    ejected: [],
    ejectedNow,
    activeRequests: 0,
  });
}

export interface TelemetryControl extends TestControl {
  telemetry: TelemetryPipeline;
}

/** testControl() with a telemetry pipeline (timers not started: tests flush and sweep by hand). */
export async function telemetryControl(
  clock: ManualClock,
  options: Partial<Omit<TelemetryPipelineOptions, 'db' | 'clock' | 'logger'>> = {},
): Promise<TelemetryControl> {
  const url = await migratedDatabase();
  const db = createDb(url);
  const migrations = await readMigrations(MIGRATIONS_DIR);
  const telemetry = new TelemetryPipeline({
    db,
    clock: clock.now,
    logger: silentLogger,
    retentionFineMs: DAY_MS,
    retentionCoarseMs: 7 * DAY_MS,
    flushIntervalMs: 10_000,
    ...options,
  });
  const app = await buildApp({
    db,
    logger: silentLogger,
    bodyLimitBytes: 1024 * 1024,
    pendingMigrations: () => pendingMigrations((sql) => db.$queryRawUnsafe(sql), migrations),
    clock: clock.now,
    telemetry,
    adminToken: TEST_ADMIN_TOKEN,
  });
  return {
    db,
    url,
    app,
    telemetry,
    store: { db, clock: clock.now, newId: () => crypto.randomUUID() },
    async close() {
      await telemetry.stop();
      await app.close();
      await db.$disconnect();
    },
  };
}
