/**
 * One Postgres server for the whole test run: the embedded one in a throw-away folder, or the server behind
 * DATABASE_URL. Each test file then creates a database of its own on it (see db.ts), so files never interfere.
 *
 * The embedded Postgres library registers async-exit-hook, whose 'beforeExit' handler calls process.exit(0): that
 * would turn a failed run into exit status 0, so the status vitest set is kept and restored on exit. The demo's
 * and the reliability suite's setups import this one, and so keep their failures too.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { freePort } from './ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

let failureStatus: number | undefined;
process.prependListener('beforeExit', () => {
  const status = Number(process.exitCode ?? 0);
  if (status !== 0) failureStatus = status;
});
process.on('exit', () => {
  if (failureStatus !== undefined) process.exitCode = failureStatus;
});

export default async function setup(project: TestProject) {
  const config = loadConfig();
  if (config.databaseUrl) {
    project.provide('pgAdminUrl', config.databaseUrl);
    return;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-test-pg-'));
  await fs.chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port: await freePort(),
    persistent: false,
  });
  project.provide('pgAdminUrl', server.adminUrl);
  return async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  };
}
