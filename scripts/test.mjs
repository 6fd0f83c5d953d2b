// `npm test`: install if needed, build, lint and typecheck, then every package's tests through turbo.
// Each package's vitest (or Playwright, in e2e/) writes a JSON report; this script totals them into one line per package and a last
// line "N passed, N failed" for the whole run, and exits non-zero on any failure.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled, ROOT, run, turbo } from './lib.mjs';

ensureInstalled();

function workspaces() {
  const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dirs = [];
  for (const pattern of root.workspaces) {
    if (pattern.endsWith('/*')) {
      const parent = path.join(ROOT, pattern.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(path.join(parent, entry.name));
      }
    } else if (existsSync(path.join(ROOT, pattern))) dirs.push(path.join(ROOT, pattern));
  }
  return dirs
    .filter((dir) => existsSync(path.join(dir, 'package.json')))
    .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) }));
}

const packages = workspaces();
for (const { dir } of packages) rmSync(path.join(dir, '.reports'), { recursive: true, force: true });

const checks = [];
const step = (name, status) => {
  checks.push({ name, ok: status === 0 });
  return status === 0;
};

const built = step('build', turbo(['run', 'build', '--output-logs=errors-only']));
step('lint', run(path.join(ROOT, 'node_modules', '.bin', 'biome'), ['check', '.']));
if (built) {
  step('typecheck', turbo(['run', 'typecheck', '--continue', '--output-logs=errors-only']));
  turbo(['run', 'test', '--continue', '--concurrency=2']);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const c of checks) {
  lines.push(`  ${c.name.padEnd(20)} ${c.ok ? 'ok' : 'FAILED'}`);
  if (c.ok) passed += 1;
  else failed += 1;
}
/** A Playwright JSON report in vitest's terms: tests passed and failed (a setup error counts as one failure). */
function fromPlaywright(r) {
  const st = r.stats ?? {};
  const files = new Set((r.suites ?? []).map((suite) => suite.file));
  const errors = st.unexpected ? 0 : (r.errors ?? []).length;
  return {
    numPassedTests: (st.expected ?? 0) + (st.flaky ?? 0),
    numFailedTests: (st.unexpected ?? 0) + errors,
    numPendingTests: st.skipped ?? 0,
    testResults: [...files].map(() => ({ status: 'passed', assertionResults: [{}] })),
  };
}

for (const { dir, pkg } of packages) {
  if (!pkg.scripts?.test) continue;
  // Each package's vitest writes .reports/vitest.json; a Playwright suite (e2e/) writes .reports/playwright.json.
  const playwright = path.join(dir, '.reports', 'playwright.json');
  const report = existsSync(playwright) ? playwright : path.join(dir, '.reports', 'vitest.json');
  if (!existsSync(report)) {
    lines.push(`  ${pkg.name.padEnd(20)} no test report (the test run did not finish)`);
    failed += 1;
    continue;
  }
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const r = report === playwright ? fromPlaywright(json) : json;
  const p = r.numPassedTests ?? 0;
  // Failed tests, plus test files that failed without running any test (an import error, a crash).
  const brokenFiles = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && (t.assertionResults ?? []).length === 0,
  ).length;
  const f = (r.numFailedTests ?? 0) + brokenFiles;
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  passed += p;
  failed += f;
  skipped += s;
  lines.push(
    `  ${pkg.name.padEnd(20)} ${p} passed · ${f} failed${s ? ` · ${s} skipped` : ''} (${r.testResults?.length ?? 0} files)`,
  );
}

process.stdout.write(`\nTrellis test summary\n${lines.join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);
