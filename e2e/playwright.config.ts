/**
 * The console end to end: global-setup.ts starts the real stack (Postgres, control plane, demo mesh, the built
 * console); the tests drive it in Chromium. Debian's /usr/bin/chromium is used when present (what .ci/run installs),
 * else Playwright's own browser if one was installed. The JSON report in .reports/ is what `npm test` totals.
 */
import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';
import { STORAGE_STATE } from './support/auth.ts';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export default defineConfig({
  testDir: './tests',
  globalSetup: './support/global-setup.ts',
  // One stack, one browser: the machine has two cores and the stack is a dozen processes.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 20_000 },
  retries: 0,
  forbidOnly: Boolean(process.env.CI),
  outputDir: './artifacts/test-results',
  reporter: [['list'], ['json', { outputFile: '.reports/playwright.json' }]],
  use: {
    // The admin, signed in once through the login page by global-setup.ts; a spec that needs another user or none
    // says so with its own `test.use({ storageState })`.
    storageState: STORAGE_STATE,
    viewport: { width: 1400, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      ...(existsSync(DEBIAN_CHROMIUM) ? { executablePath: DEBIAN_CHROMIUM } : {}),
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
