/** schema.prisma and the migrations must describe the same database; this test fails when they drift apart. */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/config.ts';
import { migratedDatabase } from './support/db.ts';
import { schemaDrift } from './support/drift.ts';

let schema: string;
beforeAll(async () => {
  schema = await fs.readFile(path.join(REPO_ROOT, 'prisma', 'schema.prisma'), 'utf8');
});

async function exec(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('migration drift', () => {
  it('the migrated database matches schema.prisma exactly', async () => {
    const url = await migratedDatabase();
    expect(await schemaDrift(schema, url)).toEqual([]);
  });

  it('notices a column missing from the database', async () => {
    const url = await migratedDatabase();
    await exec(url, 'ALTER TABLE "Service" DROP COLUMN "description"');
    expect(await schemaDrift(schema, url)).toEqual([
      'column Service.description is in schema.prisma but not in the database',
    ]);
  });

  it('notices a table and a column the schema does not have', async () => {
    const url = await migratedDatabase();
    await exec(url, 'CREATE TABLE "Stray" (id int); ALTER TABLE "Endpoint" ADD COLUMN "extra" text');
    const drift = await schemaDrift(schema, url);
    expect(drift).toContain('table Stray is in the database but not in schema.prisma');
    expect(drift).toContain('column Endpoint.extra is in the database but not in schema.prisma');
  });

  it('notices a model or field added to schema.prisma without a migration', async () => {
    const url = await migratedDatabase();
    const changed = schema
      .replace('model Service {', 'model Service {\n  owner String?')
      .concat('\nmodel Forgotten {\n  id Int @id\n}\n');
    const drift = await schemaDrift(changed, url);
    expect(drift).toContain('column Service.owner is in schema.prisma but not in the database');
    expect(drift).toContain('table Forgotten (model Forgotten) is in schema.prisma but not in the database');
  });

  it('notices a type, nullability or unique key that differs', async () => {
    const url = await migratedDatabase();
    await exec(
      url,
      `ALTER TABLE "Endpoint" ALTER COLUMN "zone" DROP NOT NULL;
       ALTER TABLE "Service" ALTER COLUMN "port" TYPE bigint;
       DROP INDEX "RouteRule_name_key"`,
    );
    const drift = await schemaDrift(schema, url);
    expect(drift).toContain('column Endpoint.zone is nullable in the database but required in schema.prisma');
    expect(drift).toContain('column Service.port is bigint in the database but integer in schema.prisma');
    expect(drift).toContain('unique key RouteRule(name) is in schema.prisma but not in the database');
  });
});
