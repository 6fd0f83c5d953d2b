/**
 * Before the CLI's tests: bundle the CLI (esbuild, well under a second, so a test never runs an old dist/ while
 * someone edits src/) and start the run's Postgres server with the control plane's own test setup (imported, not
 * copied), on which each test file creates a database of its own.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import controlSetup from '../../../../apps/control/test/support/global-setup.ts';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default async function setup(project: TestProject) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
  return controlSetup(project);
}
