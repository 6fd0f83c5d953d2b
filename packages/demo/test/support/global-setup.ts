/**
 * Before the demo's tests: bundle the demo (a few hundred milliseconds with esbuild, so a test never runs an old
 * dist/ while someone edits src/), check that the proxy bundle exists, and start the run's Postgres server with
 * the control plane's own test setup (imported, not copied), whose per-file databases the tests then create.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import controlSetup from '../../../../apps/control/test/support/global-setup.ts';
import { PROXY_BIN } from '../../src/launcher.ts';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default async function setup(project: TestProject) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
  if (!existsSync(PROXY_BIN)) {
    throw new Error(`${PROXY_BIN} is missing: run \`npm run build -w @trellis/proxy\` (npm test builds it)`);
  }
  return controlSetup(project);
}
