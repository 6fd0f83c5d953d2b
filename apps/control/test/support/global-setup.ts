/**
 * One Postgres server for the whole test run: the embedded one in a throw-away folder, or the server behind
 * DATABASE_URL. Each test file then creates a database of its own on it (see db.ts), so files never interfere.
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
