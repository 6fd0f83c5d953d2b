/**
 * Telemetry in Postgres: time buckets of 10 s and of 1 min, per edge and per destination service, each by
 * reporter (tables TelemetryEdgeBucket and TelemetryServiceBucket).
 *
 * Frames are summed in memory into 10 s buckets as they arrive; `flush` writes what has accumulated since the
 * last flush, to the 10 s rows and the 1 min rows at once, with INSERT … ON CONFLICT adding counts and merging
 * histograms. Adding (rather than replacing) is what lets late frames, several flushes of the same bucket and
 * several control-plane replicas all write the same bucket and still sum correctly; writing the minute rows from
 * the same batch (the roll-up) keeps them equal to the sum of their 10 s rows without a job that would have to
 * know which minutes are complete and which replica already rolled them. Rows are written in key order, so two
 * replicas flushing together lock them in the same order and cannot deadlock.
 *
 * A flush that fails puts its batch back, to be retried with the next one. Reads (`buckets`) hold the same lock
 * as flushes, so data is counted exactly once: in a committed row or in memory, never in both or neither.
 * `sweep` deletes rows past their retention.
 */
import {
  addLatencyBuckets,
  type Reporter,
  type SparseLatencyBuckets,
  type TelemetryFrame,
} from '@trellis/schema';
import type { Db } from '../db/client.ts';
import { Counts, reportsOf } from './counts.ts';

export const FINE_RESOLUTION_SECONDS = 10;
export const COARSE_RESOLUTION_SECONDS = 60;

export interface TelemetryStoreOptions {
  db: Db;
  clock: () => Date;
  /** How long 10 s rows are kept. */
  retentionFineMs: number;
  /** How long 1 min rows are kept. */
  retentionCoarseMs: number;
  /** Most buckets held in memory while the database is away; reports for new buckets beyond it are dropped. */
  maxPendingBuckets?: number;
}

interface PendingBucket {
  /** '' for service buckets. */
  source: string;
  /** The service for service buckets. */
  destination: string;
  reporter: Reporter;
  start: number;
  counts: Counts;
}

/** Edges (source→destination) or services (destination only, source ''). */
type Kind = 'edge' | 'service';

class Batch {
  readonly edges = new Map<string, PendingBucket>();
  readonly services = new Map<string, PendingBucket>();

  get size(): number {
    return this.edges.size + this.services.size;
  }

  bucket(
    kind: Kind,
    reporter: Reporter,
    source: string,
    destination: string,
    start: number,
    create: boolean,
  ) {
    const map = kind === 'edge' ? this.edges : this.services;
    const k = JSON.stringify([source, destination, reporter, start]);
    let b = map.get(k);
    if (!b && create) {
      b = { source, destination, reporter, start, counts: new Counts() };
      map.set(k, b);
    }
    return b;
  }

  absorb(other: Batch, limit: number): number {
    let dropped = 0;
    for (const kind of ['edge', 'service'] as const) {
      for (const b of (kind === 'edge' ? other.edges : other.services).values()) {
        const into = this.bucket(kind, b.reporter, b.source, b.destination, b.start, this.size < limit);
        if (into) into.counts.add(b.counts);
        else dropped++;
      }
    }
    return dropped;
  }
}

const COUNT_COLUMNS = [
  'requests',
  'status1xx',
  'status2xx',
  'status3xx',
  'status4xx',
  'status5xx',
  'errors',
  'bytesIn',
  'bytesOut',
  'retries',
  'overflows',
] as const;

interface Row {
  keys: string[];
  resolution: number;
  start: number;
  counts: Counts;
}

/**
 * One INSERT for many rows, from parallel text arrays (unnest), adding to rows that exist. The histogram merge
 * concatenates both sparse arrays and sums counts per bucket index.
 */
function upsertSql(table: string, keyColumns: readonly string[]): string {
  const columns = [...keyColumns, 'resolution', 'bucketStart', ...COUNT_COLUMNS, 'latency'];
  const params = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const casts = [
    ...keyColumns.map((c) => `u."${c}"`),
    'u."resolution"::int',
    'u."bucketStart"::timestamptz',
    ...COUNT_COLUMNS.map((c) => `u."${c}"::bigint`),
    'u."latency"::jsonb',
  ];
  const conflict = [...keyColumns, 'resolution', 'bucketStart'].map((c) => `"${c}"`).join(', ');
  return `INSERT INTO "${table}" AS t (${columns.map((c) => `"${c}"`).join(', ')})
SELECT ${casts.join(', ')}
FROM unnest(${params}) AS u(${columns.map((c) => `"${c}"`).join(', ')})
ON CONFLICT (${conflict}) DO UPDATE SET
${COUNT_COLUMNS.map((c) => `  "${c}" = t."${c}" + EXCLUDED."${c}"`).join(',\n')},
  "latency" = (
    SELECT COALESCE(jsonb_agg(jsonb_build_array(m.i, m.n) ORDER BY m.i), '[]'::jsonb)
    FROM (
      SELECT (e->>0)::int AS i, SUM((e->>1)::bigint) AS n
      FROM jsonb_array_elements(t."latency" || EXCLUDED."latency") AS e
      GROUP BY 1
    ) AS m
  )`;
}

const EDGE_SQL = upsertSql('TelemetryEdgeBucket', ['source', 'destination', 'reporter']);
const SERVICE_SQL = upsertSql('TelemetryServiceBucket', ['service', 'reporter']);
const ROWS_PER_STATEMENT = 2000;

/** The fine and coarse rows of a batch, coarse ones summed per minute, sorted by primary key. */
function rowsOf(buckets: Iterable<PendingBucket>, kind: Kind): Row[] {
  const rows = new Map<string, Row>();
  for (const b of buckets) {
    const keys = kind === 'edge' ? [b.source, b.destination, b.reporter] : [b.destination, b.reporter];
    for (const resolution of [FINE_RESOLUTION_SECONDS, COARSE_RESOLUTION_SECONDS]) {
      const span = resolution * 1000;
      const start = Math.floor(b.start / span) * span;
      const k = JSON.stringify([...keys, resolution, start]);
      let row = rows.get(k);
      if (!row) {
        row = { keys, resolution, start, counts: new Counts() };
        rows.set(k, row);
      }
      row.counts.add(b.counts);
    }
  }
  return [...rows.values()].sort((a, b) => {
    for (let i = 0; i < a.keys.length; i++) {
      const d = (a.keys[i] as string) < (b.keys[i] as string) ? -1 : a.keys[i] === b.keys[i] ? 0 : 1;
      if (d !== 0) return d;
    }
    return a.resolution - b.resolution || a.start - b.start;
  });
}

function params(rows: readonly Row[], keyCount: number): string[][] {
  const out: string[][] = Array.from({ length: keyCount + 3 + COUNT_COLUMNS.length }, () => []);
  for (const row of rows) {
    let i = 0;
    const push = (value: string) => {
      (out[i] as string[]).push(value);
      i++;
    };
    for (const k of row.keys) push(k);
    push(String(row.resolution));
    push(new Date(row.start).toISOString());
    for (const c of COUNT_COLUMNS) push(String(row.counts[c]));
    push(JSON.stringify(row.counts.sparseLatency()));
  }
  return out;
}

function countsOfRow(row: Record<(typeof COUNT_COLUMNS)[number], bigint> & { latency: unknown }): Counts {
  const counts = new Counts();
  for (const c of COUNT_COLUMNS) counts[c] = Number(row[c]);
  addLatencyBuckets(counts.latency, row.latency as SparseLatencyBuckets);
  return counts;
}

/** One stored or pending bucket, as read back for a query. */
export interface BucketRead {
  reporter: Reporter;
  start: number;
  counts: Counts;
}

export type BucketTarget = { service: string } | { source: string; destination: string };

export class TelemetryStore {
  private pending = new Batch();
  /** Serialises flushes with reads that merge memory and database. */
  private lock: Promise<unknown> = Promise.resolve();
  private readonly maxPending: number;
  /** Reports dropped because `maxPendingBuckets` was reached. */
  dropped = 0;

  constructor(private readonly options: TelemetryStoreOptions) {
    this.maxPending = options.maxPendingBuckets ?? 200_000;
  }

  /** Buckets not yet written to the database. */
  get pendingBuckets(): number {
    return this.pending.size;
  }

  record(frames: readonly TelemetryFrame[]): void {
    for (const frame of frames) {
      const start = Math.floor(frame.windowStart / 10_000) * 10_000;
      for (const { reporter, source, destination, edge } of reportsOf(frame)) {
        const room = this.pending.size < this.maxPending;
        const e = this.pending.bucket('edge', reporter, source, destination, start, room);
        const s = this.pending.bucket('service', reporter, '', destination, start, room);
        if (!e || !s) {
          this.dropped++;
          continue;
        }
        e.counts.addEdge(edge);
        s.counts.addEdge(edge);
      }
    }
  }

  /** Writes everything accumulated so far; returns the number of rows written (10 s and 1 min, both tables). */
  flush(): Promise<number> {
    return this.exclusive(async () => {
      const batch = this.pending;
      if (batch.size === 0) return 0;
      this.pending = new Batch();
      try {
        return await this.write(batch);
      } catch (err) {
        this.dropped += this.pending.absorb(batch, this.maxPending);
        throw err;
      }
    });
  }

  /** Deletes rows past their retention; returns how many. */
  async sweep(): Promise<number> {
    const now = this.options.clock().getTime();
    const fine = {
      resolution: FINE_RESOLUTION_SECONDS,
      bucketStart: { lt: new Date(now - this.options.retentionFineMs) },
    };
    const coarse = {
      resolution: COARSE_RESOLUTION_SECONDS,
      bucketStart: { lt: new Date(now - this.options.retentionCoarseMs) },
    };
    const { db } = this.options;
    const counts = await Promise.all([
      db.telemetryEdgeBucket.deleteMany({ where: fine }),
      db.telemetryEdgeBucket.deleteMany({ where: coarse }),
      db.telemetryServiceBucket.deleteMany({ where: fine }),
      db.telemetryServiceBucket.deleteMany({ where: coarse }),
    ]);
    return counts.reduce((n, c) => n + c.count, 0);
  }

  /** The earliest bucket start that 10 s rows are still kept for. */
  fineHorizon(): number {
    return this.options.clock().getTime() - this.options.retentionFineMs;
  }

  /**
   * Buckets of one service or edge with start in [from, to), from the database at `resolution` plus what is
   * still in memory (10 s buckets: the caller sums them into its steps).
   */
  buckets(target: BucketTarget, resolution: number, from: number, to: number): Promise<BucketRead[]> {
    return this.exclusive(async () => {
      const range = { resolution, bucketStart: { gte: new Date(from), lt: new Date(to) } };
      const { db } = this.options;
      const rows =
        'service' in target
          ? await db.telemetryServiceBucket.findMany({ where: { service: target.service, ...range } })
          : await db.telemetryEdgeBucket.findMany({
              where: { source: target.source, destination: target.destination, ...range },
            });
      const out: BucketRead[] = rows.map((row) => ({
        reporter: row.reporter as Reporter,
        start: row.bucketStart.getTime(),
        counts: countsOfRow(row),
      }));
      const pending = 'service' in target ? this.pending.services : this.pending.edges;
      for (const b of pending.values()) {
        const matches =
          'service' in target
            ? b.destination === target.service
            : b.source === target.source && b.destination === target.destination;
        if (matches && b.start >= from && b.start < to) {
          out.push({ reporter: b.reporter, start: b.start, counts: b.counts });
        }
      }
      return out;
    });
  }

  private async write(batch: Batch): Promise<number> {
    const edgeRows = rowsOf(batch.edges.values(), 'edge');
    const serviceRows = rowsOf(batch.services.values(), 'service');
    await this.options.db.$transaction(async (tx) => {
      for (let i = 0; i < edgeRows.length; i += ROWS_PER_STATEMENT) {
        await tx.$executeRawUnsafe(EDGE_SQL, ...params(edgeRows.slice(i, i + ROWS_PER_STATEMENT), 3));
      }
      for (let i = 0; i < serviceRows.length; i += ROWS_PER_STATEMENT) {
        await tx.$executeRawUnsafe(SERVICE_SQL, ...params(serviceRows.slice(i, i + ROWS_PER_STATEMENT), 2));
      }
    });
    return edgeRows.length + serviceRows.length;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }
}
