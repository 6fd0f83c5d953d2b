/**
 * The generated first-run password of user admin is shown once, on a terminal, and never written to the logs: a
 * control plane whose stdout is a pipe or a file (a log collector, `npm start`'s reader) prints only where the 0600
 * file is, and no log line at any level carries the password.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type ControlPlane, INITIAL_ADMIN_PASSWORD_FILE, startControlPlane } from '../../src/server.ts';
import { createDatabase } from '../support/db.ts';

let plane: ControlPlane | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  await plane?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

it('is kept in a 0600 file and printed to no pipe and no log', async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-admin-pw-'));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const stdout: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const wasTty = process.stdout.isTTY;
  process.stdout.isTTY = false;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    plane = await startControlPlane(
      {
        ...loadConfig({ DATABASE_URL: await createDatabase('sec_admin_pw') }),
        port: 0,
        proxyStreamPort: 0,
        dataDir,
        logLevel: 'trace',
      },
      pino({ level: 'trace' }, sink),
    );
  } finally {
    process.stdout.write = write;
    process.stdout.isTTY = wasTty;
  }
  const file = path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  const password = (await fs.readFile(file, 'utf8')).trim();
  expect(password.length).toBeGreaterThanOrEqual(20);
  expect(stdout.join('')).toContain(`first run: the password of admin is in ${file}`);
  expect(stdout.join('')).not.toContain(password);
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.join('')).not.toContain(password);
  // The password works: it is the one admin was created with.
  const login = await fetch(`${plane.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  expect(login.status).toBe(200);
});
