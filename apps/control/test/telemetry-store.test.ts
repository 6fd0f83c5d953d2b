/**
 * Telemetry buckets in a real Postgres: a flush writes exact counts to 10 s and 1 min rows, the minute rows equal
 * the sum of their 10 s rows, several writers (control-plane replicas, late frames) add up in the same bucket,
 * a failed flush is retried without loss or double counting, and retention deletes by an injected clock.
 */
import { latencyBucketOf } from '@trellis/schema';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createDb, type Db } from '../src/db/client.ts';
import { TelemetryStore } from '../src/telemetry/store.ts';
import { migratedDatabase } from './support/db.ts';
import { DAY_MS, edge, frame, ManualClock } from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
/** The histogram buckets of 1 ms and 2 ms. */
const MS1 = latencyBucketOf(1000);
const MS2 = latencyBucketOf(2000);

let url: string;
let db: Db;

beforeAll(async () => {
  url = await migratedDatabase();
  db = createDb(url);
});

afterAll(async () => {
  await db?.$disconnect();
});

function store(clock: ManualClock, database: Db = db) {
  return new TelemetryStore({
    db: database,
    clock: clock.now,
    retentionFineMs: DAY_MS,
    retentionCoarseMs: 7 * DAY_MS,
  });
}

async function exec(sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Edge rows of one source as [resolution, seconds after `base`, reporter, requests, 5xx, bytesIn, latency]. */
async function edgeRows(source: string, base: number) {
  const rows = await db.telemetryEdgeBucket.findMany({
    where: { source },
    orderBy: [{ resolution: 'asc' }, { bucketStart: 'asc' }, { reporter: 'asc' }],
  });
  return rows.map((r) => [
    r.resolution,
    (r.bucketStart.getTime() - base) / 1000,
    r.reporter,
    Number(r.requests),
    Number(r.status5xx),
    Number(r.bytesIn),
    r.latency,
  ]);
}

describe('telemetry store', () => {
  it('writes exact counts per 10 s bucket, and minute rows that are the sums of their 10 s rows', async () => {
    const clock = new ManualClock(T0 + 120_000);
    const s = store(clock);
    const base = T0;
    s.record([
      frame('store-a', base + 1000, [
        edge('store-a', 'store-b', { ok: 3, c5xx: 1, latencyMs: 1, bytesIn: 100 }),
      ]),
      frame(
        'store-a',
        base + 9999,
        [edge('store-a', 'store-b', { ok: 2, latencyMs: 1, bytesIn: 50 })],
        'a-2',
      ),
      frame('store-a', base + 10_000, [edge('store-a', 'store-b', { ok: 5, latencyMs: 2, bytesIn: 10 })]),
      frame('store-a', base + 59_000, [edge('store-a', 'store-b', { c5xx: 2, latencyMs: 2 })]),
      frame('store-a', base + 60_000, [edge('store-a', 'store-b', { ok: 7, latencyMs: 1 })]),
      frame('store-b', base + 1000, [edge('store-a', 'store-b', { ok: 4, latencyMs: 1 })]),
    ]);
    expect(s.pendingBuckets).toBe(10);
    expect(await s.flush()).toBe(16);
    expect(s.pendingBuckets).toBe(0);
    expect(await edgeRows('store-a', base)).toEqual([
      [10, 0, 'destination', 4, 0, 0, [[MS1, 4]]],
      [10, 0, 'source', 6, 1, 150, [[MS1, 6]]],
      [10, 10, 'source', 5, 0, 10, [[MS2, 5]]],
      [10, 50, 'source', 2, 2, 0, [[MS2, 2]]],
      [10, 60, 'source', 7, 0, 0, [[MS1, 7]]],
      [60, 0, 'destination', 4, 0, 0, [[MS1, 4]]],
      [
        60,
        0,
        'source',
        13,
        3,
        160,
        [
          [MS1, 6],
          [MS2, 7],
        ],
      ],
      [60, 60, 'source', 7, 0, 0, [[MS1, 7]]],
    ]);
    const service = await db.telemetryServiceBucket.findMany({
      where: { service: 'store-b', resolution: 60 },
      orderBy: [{ bucketStart: 'asc' }, { reporter: 'asc' }],
    });
    expect(service.map((r) => [r.reporter, Number(r.requests)])).toEqual([
      ['destination', 4],
      ['source', 13],
      ['source', 7],
    ]);

    // The roll-up holds whatever was written: every minute row equals the sum of its 10 s rows.
    const mismatches = await db.$queryRawUnsafe<unknown[]>(`
      SELECT m.source, m.destination, m.reporter, m."bucketStart"
      FROM "TelemetryEdgeBucket" m
      JOIN (SELECT source, destination, reporter, date_trunc('minute', "bucketStart") AS minute,
                   SUM(requests) AS requests, SUM("status5xx") AS s5, SUM("bytesIn") AS bytes
            FROM "TelemetryEdgeBucket" WHERE resolution = 10 GROUP BY 1, 2, 3, 4) f
        ON f.source = m.source AND f.destination = m.destination AND f.reporter = m.reporter
       AND f.minute = m."bucketStart"
      WHERE m.resolution = 60 AND (f.requests <> m.requests OR f.s5 <> m."status5xx" OR f.bytes <> m."bytesIn")`);
    expect(mismatches).toEqual([]);
  });

  it('adds up what two control-plane replicas write into the same buckets at the same time', async () => {
    const clock = new ManualClock(T0 + 120_000);
    const replicaDb = createDb(url);
    try {
      const one = store(clock);
      const two = store(clock, replicaDb);
      for (let round = 0; round < 3; round++) {
        one.record([frame('dup-a', T0 + 2000, [edge('dup-a', 'dup-b', { ok: 10, latencyMs: 1 })], 'a-1')]);
        two.record([
          frame('dup-a', T0 + 3000, [edge('dup-a', 'dup-b', { ok: 5, c5xx: 5, latencyMs: 2 })], 'a-2'),
        ]);
        await Promise.all([one.flush(), two.flush()]);
      }
    } finally {
      await replicaDb.$disconnect();
    }
    expect(await edgeRows('dup-a', T0)).toEqual([
      [
        10,
        0,
        'source',
        60,
        15,
        0,
        [
          [MS1, 30],
          [MS2, 30],
        ],
      ],
      [
        60,
        0,
        'source',
        60,
        15,
        0,
        [
          [MS1, 30],
          [MS2, 30],
        ],
      ],
    ]);
  });

  it('keeps a batch whose write failed and writes it exactly once with the next flush', async () => {
    const clock = new ManualClock(T0 + 120_000);
    const s = store(clock);
    s.record([frame('retry-a', T0, [edge('retry-a', 'retry-b', { ok: 3 })])]);
    await exec('ALTER TABLE "TelemetryServiceBucket" RENAME TO "TelemetryServiceBucketAway"');
    try {
      await expect(s.flush()).rejects.toThrow();
    } finally {
      await exec('ALTER TABLE "TelemetryServiceBucketAway" RENAME TO "TelemetryServiceBucket"');
    }
    // Nothing of the failed flush was committed, edge rows included.
    expect(await edgeRows('retry-a', T0)).toEqual([]);
    s.record([frame('retry-a', T0 + 1000, [edge('retry-a', 'retry-b', { ok: 4 })])]);
    await s.flush();
    expect((await edgeRows('retry-a', T0)).map((r) => [r[0], r[3]])).toEqual([
      [10, 7],
      [60, 7],
    ]);
  });

  it('deletes 10 s rows after their retention and 1 min rows after theirs (edge and service rows)', async () => {
    const clock = new ManualClock(T0);
    const own = createDb(await migratedDatabase());
    const s = store(clock, own);
    s.record([frame('old-a', T0 - 60_000, [edge('old-a', 'old-b', { ok: 1 })])]);
    await s.flush();
    const count = async () =>
      (await own.telemetryEdgeBucket.findMany({ orderBy: { resolution: 'asc' } })).map((r) => r.resolution);
    expect(await count()).toEqual([10, 60]);

    clock.ms = T0 + DAY_MS - 60_001;
    expect(await s.sweep()).toBe(0);
    clock.ms = T0 + DAY_MS;
    expect(await s.sweep()).toBe(2);
    expect(await count()).toEqual([60]);

    clock.ms = T0 + 7 * DAY_MS - 60_001;
    expect(await s.sweep()).toBe(0);
    clock.ms = T0 + 7 * DAY_MS;
    expect(await s.sweep()).toBe(2);
    expect(await count()).toEqual([]);
    await own.$disconnect();
  });

  it('reads stored rows and unflushed buckets together, each counted once', async () => {
    const clock = new ManualClock(T0 + 120_000);
    const s = store(clock);
    s.record([frame('mix-a', T0, [edge('mix-a', 'mix-b', { ok: 2 })])]);
    await s.flush();
    s.record([frame('mix-a', T0 + 5000, [edge('mix-a', 'mix-b', { ok: 3 })])]);
    const read = async () => {
      const buckets = await s.buckets({ source: 'mix-a', destination: 'mix-b' }, 10, T0, T0 + 60_000);
      return buckets.reduce((n, b) => n + b.counts.requests, 0);
    };
    const [during] = await Promise.all([read(), s.flush()]);
    expect(during).toBe(5);
    expect(await read()).toBe(5);
  });

  it('takes retention and flush interval from TRELLIS_TELEMETRY_* (coarse data must outlive fine data)', () => {
    expect(loadConfig({})).toMatchObject({
      telemetryFlushMs: 10_000,
      telemetryRetentionFineMs: DAY_MS,
      telemetryRetentionCoarseMs: 7 * DAY_MS,
    });
    expect(
      loadConfig({
        TRELLIS_TELEMETRY_FLUSH_MS: '2000',
        TRELLIS_TELEMETRY_RETENTION_10S_MS: '3600000',
        TRELLIS_TELEMETRY_RETENTION_1M_MS: '86400000',
      }),
    ).toMatchObject({
      telemetryFlushMs: 2000,
      telemetryRetentionFineMs: 3_600_000,
      telemetryRetentionCoarseMs: DAY_MS,
    });
    expect(() =>
      loadConfig({
        TRELLIS_TELEMETRY_RETENTION_10S_MS: '86400000',
        TRELLIS_TELEMETRY_RETENTION_1M_MS: '3600000',
      }),
    ).toThrow(ConfigError);
    expect(() => loadConfig({ TRELLIS_TELEMETRY_RETENTION_10S_MS: 'a day' })).toThrow(
      /TRELLIS_TELEMETRY_RETENTION_10S_MS/,
    );
  });
});
