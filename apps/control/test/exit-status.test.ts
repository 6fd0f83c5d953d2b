/**
 * A failed test run must exit non-zero even though the embedded Postgres library's exit hook calls
 * process.exit(0) as the run ends: CI trusts the exit status. Runs vitest on a fixture with this package's global
 * setup and one failing test. The same run's JSON report must name that test for the summary `npm test` prints last.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readReport } from '../../../scripts/reports.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(HERE, 'fixtures/failing-run');
const VITEST = path.resolve(HERE, '../../../node_modules/vitest/vitest.mjs');

it('a run with a failing test exits 1, not 0, and its report names the test and its error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trellis-exit-'));
  const report = path.join(dir, 'vitest.json');
  try {
    const run = spawnSync(
      process.execPath,
      [VITEST, 'run', '--root', FIXTURE, '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(`${run.stdout}${run.stderr}`).toMatch(/1 failed/);
    expect(run.status).toBe(1);

    const summary = readReport('vitest', JSON.parse(readFileSync(report, 'utf8')), FIXTURE);
    expect(summary).toMatchObject({ passed: 0, failed: 1, files: 1 });
    expect(summary.failures).toEqual([
      {
        where: 'fails.spec.ts',
        name: 'fails on purpose',
        error: expect.stringContaining('expected 1 to be 2'),
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 130_000);
