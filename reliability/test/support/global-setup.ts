/**
 * Before the suite: the demo's own test setup (imported, not copied) bundles the demo apps, checks that the proxy
 * bundle exists and starts the run's Postgres server, on which each case creates a database of its own (and keeps a
 * failed run's exit status, see apps/control/test/support/global-setup.ts).
 */
import type { TestProject } from 'vitest/node';
import demoSetup from '../../../packages/demo/test/support/global-setup.ts';

export default function setup(project: TestProject) {
  return demoSetup(project);
}
