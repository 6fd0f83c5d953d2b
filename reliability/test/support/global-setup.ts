/**
 * Before the suite: the demo's own test setup (imported, not copied) bundles the demo apps, checks that the proxy
 * bundle exists and starts the run's Postgres server, on which each case creates a database of its own.
 *
 * The embedded Postgres library registers async-exit-hook, whose 'beforeExit' handler calls process.exit(0): that
 * would turn a failed run into exit status 0, so the status vitest set is kept and restored on exit.
 */
import type { TestProject } from 'vitest/node';
import demoSetup from '../../../packages/demo/test/support/global-setup.ts';

let failureStatus: number | undefined;
process.prependListener('beforeExit', () => {
  const status = Number(process.exitCode ?? 0);
  if (status !== 0) failureStatus = status;
});
process.on('exit', () => {
  if (failureStatus !== undefined) process.exitCode = failureStatus;
});

export default function setup(project: TestProject) {
  return demoSetup(project);
}
