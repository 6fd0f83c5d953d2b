/**
 * Least privilege in the embedded Postgres. The attack: with the superuser password fixed in the source
 * (`postgres:trellis`), any local user connected to 127.0.0.1, forged an admin API token row, and ran shell commands
 * through `COPY … FROM PROGRAM`. Now the superuser password is random per install (a 0600 file), an older install's
 * fixed one is replaced, and the control plane connects as a role that owns only the Trellis database and can do
 * nothing a superuser can.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APP_PASSWORD_FILE,
  APP_ROLE,
  type RunningPostgres,
  SUPERUSER_PASSWORD_FILE,
  startEmbeddedPostgres,
} from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import { freePort } from '../support/ports.ts';

let dir: string;
let port: number;
let server: RunningPostgres | undefined;

const start = () => startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port, persistent: true });

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with (undefined when it succeeds). */
async function failure(url: string, sql: string): Promise<string | undefined> {
  try {
    await query(url, sql);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

const legacyUrl = (database: string) => `postgresql://postgres:trellis@127.0.0.1:${port}/${database}`;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-pg-role-'));
  await fs.chmod(dir, 0o755);
  port = await freePort();
});
afterAll(async () => {
  await server?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('embedded Postgres', () => {
  it('an older install: its fixed superuser password is replaced, and its tables handed to the unprivileged role', async () => {
    // An install as the previous version left it: superuser password "trellis", the database and its tables
    // owned by the superuser.
    server = await start();
    await query(server.adminUrl, `ALTER ROLE postgres PASSWORD 'trellis'`);
    await query(legacyUrl('postgres'), 'CREATE DATABASE trellis');
    await migrate(legacyUrl('trellis'), MIGRATIONS_DIR);
    await server.stop();
    await fs.rm(path.join(dir, SUPERUSER_PASSWORD_FILE));

    server = await start();
    // The fixed password no longer opens anything: the attack's first step.
    expect(await failure(legacyUrl('postgres'), 'SELECT 1')).toBe('28P01');
    const file = path.join(dir, SUPERUSER_PASSWORD_FILE);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const password = (await fs.readFile(file, 'utf8')).trim();
    expect(password).not.toBe('trellis');
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect((await query(server.adminUrl, 'SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const url = await server.appDatabase('trellis');
    expect(new URL(url).username).toBe(APP_ROLE);
    expect((await fs.stat(path.join(dir, APP_PASSWORD_FILE))).mode & 0o777).toBe(0o600);
    const owners = await query(
      server.databaseUrl('trellis'),
      `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace
        WHERE nspname = 'public' AND relkind IN ('r', 'S')`,
    );
    expect(owners.rows).toEqual([{ owner: APP_ROLE }]);
    // The role can use and migrate its database.
    await migrate(url, MIGRATIONS_DIR);
    expect((await query(url, 'SELECT count(*)::int AS n FROM "Service"')).rows[0].n).toBe(0);
  });

  it('the control plane role is no superuser: no programs, no files, no roles, no other databases to own', async () => {
    const url = await (server as RunningPostgres).appDatabase('trellis');
    const role = await query(
      url,
      'SELECT current_user AS user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user',
    );
    expect(role.rows).toEqual([
      { user: APP_ROLE, rolsuper: false, rolcreaterole: false, rolcreatedb: false },
    ]);
    // The attack's second step, and its relatives: each refused for want of privilege (42501).
    expect(await failure(url, `CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'id'`)).toBe('42501');
    expect(await failure(url, `COPY (SELECT 1) TO PROGRAM 'touch /tmp/trellis-pwned'`)).toBe('42501');
    expect(await failure(url, `SELECT pg_read_file('/etc/passwd')`)).toBe('42501');
    expect(await failure(url, 'CREATE ROLE intruder SUPERUSER')).toBe('42501');
    expect(await failure(url, 'ALTER ROLE trellis SUPERUSER')).toBe('42501');
    expect(await failure(url, 'CREATE DATABASE other')).toBe('42501');
    const owned = await query(
      (server as RunningPostgres).adminUrl,
      `SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = '${APP_ROLE}'`,
    );
    expect(owned.rows).toEqual([{ datname: 'trellis' }]);
  });

  it('a new install has a random superuser password from the start', async () => {
    await server?.stop();
    server = undefined;
    const fresh = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-pg-fresh-'));
    await fs.chmod(fresh, 0o755);
    const other = await startEmbeddedPostgres({
      dataDir: path.join(fresh, 'pg'),
      port: await freePort(),
      persistent: false,
    });
    try {
      const password = (await fs.readFile(path.join(fresh, SUPERUSER_PASSWORD_FILE), 'utf8')).trim();
      expect(new URL(other.adminUrl).password).toBe(password);
      expect(password).not.toBe('trellis');
      const port2 = new URL(other.adminUrl).port;
      expect(await failure(`postgresql://postgres:trellis@127.0.0.1:${port2}/postgres`, 'SELECT 1')).toBe(
        '28P01',
      );
    } finally {
      await other.stop();
      await fs.rm(fresh, { recursive: true, force: true });
    }
  });
});
