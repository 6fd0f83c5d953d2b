/** The migration runner records migrations exactly as `prisma migrate deploy` would, once, under a lock. */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, pendingMigrations, readMigrations } from '../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { createDatabase } from './support/db.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function migrationsWith(extra: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-migrations-'));
  await fs.cp(MIGRATIONS_DIR, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) {
    await fs.mkdir(path.join(dir, name));
    await fs.writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

describe('migration runner', () => {
  it('applies every migration once and records it in _prisma_migrations like Prisma', async () => {
    const url = await createDatabase();
    const first = await migrate(url, MIGRATIONS_DIR);
    const onDisk = await readMigrations(MIGRATIONS_DIR);
    expect(first.applied).toEqual(onDisk.map((m) => m.name));
    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      applied_steps_count: number;
      rolled_back_at: Date | null;
    }>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at');
    expect(rows).toHaveLength(onDisk.length);
    for (const [i, row] of rows.entries()) {
      const sql = await fs.readFile(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.migration_name).toBe(onDisk[i]?.name);
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    const second = await migrate(url, MIGRATIONS_DIR);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(first.applied);
  });

  it('two control planes migrating at once apply each migration exactly once', async () => {
    const url = await createDatabase();
    const [a, b] = await Promise.all([migrate(url, MIGRATIONS_DIR), migrate(url, MIGRATIONS_DIR)]);
    expect([...a.applied, ...b.applied].sort()).toEqual(
      (await readMigrations(MIGRATIONS_DIR)).map((m) => m.name),
    );
    const rows = await query(url, 'SELECT 1 FROM "_prisma_migrations"');
    expect(rows).toHaveLength((await readMigrations(MIGRATIONS_DIR)).length);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const url = await createDatabase();
    await migrate(url, MIGRATIONS_DIR);
    await query(url, `UPDATE "_prisma_migrations" SET checksum = 'deadbeef'`);
    await expect(migrate(url, MIGRATIONS_DIR)).rejects.toThrow(/was changed after it was applied/);
  });

  it('a failing migration leaves nothing behind and is not recorded', async () => {
    const url = await createDatabase();
    const dir = await migrationsWith({
      '29990101000000_broken': 'CREATE TABLE "Half" (id int);\nALTER TABLE "Nope" ADD COLUMN x int;',
    });
    await expect(migrate(url, dir)).rejects.toThrow(/29990101000000_broken failed/);
    const tables = await query<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.tables WHERE table_name = 'Half'`,
    );
    expect(tables).toEqual([]);
    const names = await query<{ migration_name: string }>(
      url,
      'SELECT migration_name FROM "_prisma_migrations"',
    );
    expect(names.map((r) => r.migration_name)).not.toContain('29990101000000_broken');
  });

  it('reports migrations on disk that the database lacks', async () => {
    const url = await createDatabase();
    await migrate(url, MIGRATIONS_DIR);
    const dir = await migrationsWith({ '29990101000000_later': 'SELECT 1;' });
    const all = await readMigrations(dir);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const pending = await pendingMigrations(async (sql) => (await client.query(sql)).rows, all);
      expect(pending).toEqual(['29990101000000_later']);
    } finally {
      await client.end();
    }
  });
});
