// The JSON reports of the test runners (vitest's json reporter, Playwright's json reporter) read into one shape: tests
// passed, failed and skipped, and each failed test named with the first line of its error, so that the last lines of a CI
// log say which test failed, not only how many.
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';

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

/** The first line of an error text, without colour codes, cut to one terminal line. */
function firstLine(text) {
  const line = stripVTControlCharacters(String(text ?? ''))
    .split('\n')
    .find((l) => l.trim() !== '');
  return (line ?? '').trim().slice(0, 300);
}

/** Each failed test of a vitest JSON report, by file and name, with the first line of its error. */
function vitestFailures(r, root) {
  const out = [];
  for (const file of r.testResults ?? []) {
    const where = path.relative(root, file.name ?? '');
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failedTests)
      out.push({ where, name: a.fullName ?? a.title, error: firstLine(a.failureMessages?.[0]) });
    if (file.status === 'failed' && failedTests.length === 0)
      out.push({ where, name: '(the file)', error: firstLine(file.message) });
  }
  return out;
}

/** Each unexpected result of a Playwright JSON report, by file and title, with the first line of its error. */
function playwrightFailures(r) {
  const out = [];
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'unexpected') continue;
        const last = t.results?.[t.results.length - 1];
        out.push({
          where: spec.file ?? suite.file,
          name: spec.title,
          error: firstLine(last?.errors?.[0]?.message ?? last?.error?.message),
        });
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of r.suites ?? []) walk(suite);
  for (const e of r.errors ?? [])
    out.push({ where: 'playwright', name: '(setup)', error: firstLine(e.message) });
  return out;
}

/**
 * One report's totals and failures. `kind` is 'vitest' or 'playwright'; `root` is the folder file names are shown from.
 * A test file that failed without running any test (an import error, a crash) counts as one failed test.
 */
export function readReport(kind, json, root) {
  const r = kind === 'playwright' ? fromPlaywright(json) : json;
  const brokenFiles = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && (t.assertionResults ?? []).length === 0,
  ).length;
  return {
    passed: r.numPassedTests ?? 0,
    failed: (r.numFailedTests ?? 0) + brokenFiles,
    skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
    files: r.testResults?.length ?? 0,
    failures: kind === 'playwright' ? playwrightFailures(json) : vitestFailures(json, root),
  };
}
