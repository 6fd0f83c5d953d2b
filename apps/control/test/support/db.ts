/** Per-file test databases on the run's Postgres server, migrated with the real runner. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { inject } from 'vitest';
import type { LoginLimiter } from '../../src/auth/rate-limit.ts';
import { createDb, type Db } from '../../src/db/client.ts';
import { migrate, pendingMigrations, readMigrations } from '../../src/db/migrate.ts';
import { type AppDeps, buildApp } from '../../src/http/app.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import type { StoreDeps } from '../../src/store/change.ts';
import { TEST_ADMIN_TOKEN } from './api.ts';

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates an empty database and returns its URL. */
export async function createDatabase(prefix = 't'): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(adminUrl, name);
}

/** A migrated database of this file's own. */
export async function migratedDatabase(): Promise<string> {
  const url = await createDatabase();
  await migrate(url, MIGRATIONS_DIR);
  return url;
}

export const silentLogger = pino({ level: 'silent' });

export interface TestControl {
  db: Db;
  url: string;
  store: StoreDeps;
  app: Awaited<ReturnType<typeof buildApp>>;
  close(): Promise<void>;
}

export async function testControl(
  options: {
    clock?: () => Date;
    bodyLimitBytes?: number;
    loginLimiter?: LoginLimiter;
    initialPasswordFile?: string;
    /** Any other dependency of buildApp, as given. */
    app?: Partial<AppDeps>;
  } = {},
): Promise<TestControl> {
  const url = await migratedDatabase();
  const db = createDb(url);
  const clock = options.clock ?? (() => new Date());
  const migrations = await readMigrations(MIGRATIONS_DIR);
  const app = await buildApp({
    db,
    logger: silentLogger,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    pendingMigrations: () => pendingMigrations((sql) => db.$queryRawUnsafe(sql), migrations),
    clock,
    adminToken: TEST_ADMIN_TOKEN,
    ...(options.loginLimiter ? { loginLimiter: options.loginLimiter } : {}),
    initialPasswordFile: options.initialPasswordFile,
    ...options.app,
  });
  return {
    db,
    url,
    app,
    store: { db, clock, newId: () => crypto.randomUUID() },
    async close() {
      await app.close();
      await db.$disconnect();
    },
  };
}
