/**
 * A failed test run must exit non-zero even though the embedded Postgres library's exit hook calls
 * process.exit(0) as the run ends: CI trusts the exit status. Runs vitest on a fixture with this package's global
 * setup and one failing test.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(HERE, 'fixtures/failing-run');
const VITEST = path.resolve(HERE, '../../../node_modules/vitest/vitest.mjs');

it('a run with a failing test exits 1, not 0', () => {
  const run = spawnSync(process.execPath, [VITEST, 'run', '--root', FIXTURE], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(`${run.stdout}${run.stderr}`).toMatch(/1 failed/);
  expect(run.status).toBe(1);
}, 130_000);
