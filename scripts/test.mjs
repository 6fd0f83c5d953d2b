// `npm test`: install if needed, build, lint and typecheck, then every package's tests through turbo.
// Each package's vitest (or Playwright, in e2e/) writes a JSON report; this script totals them into one line per package and a last
// line "N passed, N failed" for the whole run, and exits non-zero on any failure.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled, ROOT, run, turbo } from './lib.mjs';
import { readReport } from './reports.mjs';

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
const failures = [];
for (const c of checks) {
  lines.push(`  ${c.name.padEnd(20)} ${c.ok ? 'ok' : 'FAILED'}`);
  if (c.ok) passed += 1;
  else failed += 1;
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
  const r = readReport(report === playwright ? 'playwright' : 'vitest', json, ROOT);
  for (const f of r.failures) failures.push({ pkg: pkg.name, ...f });
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  lines.push(
    `  ${pkg.name.padEnd(20)} ${r.passed} passed · ${r.failed} failed${r.skipped ? ` · ${r.skipped} skipped` : ''} (${r.files} files)`,
  );
}

if (failures.length > 0) {
  const list = failures.map((f) => `  ${f.pkg} ${f.where} › ${f.name}\n      ${f.error}`);
  process.stdout.write(`\nFailed tests\n${list.join('\n')}\n`);
}
process.stdout.write(`\nTrellis test summary\n${lines.join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);
