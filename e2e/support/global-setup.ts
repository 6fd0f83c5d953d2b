import { existsSync } from 'node:fs';
import { chromium } from '@playwright/test';
import { DEBIAN_CHROMIUM } from '../playwright.config.ts';
import { startStack } from './stack.ts';

/** Starts the stack once for the run; the tests read where it is from the environment. */
export default async function globalSetup() {
  if (!existsSync(DEBIAN_CHROMIUM) && !existsSync(chromium.executablePath())) {
    throw new Error(
      `no Chromium for the e2e tests: install Debian's (\`sudo apt-get install -y chromium\`, giving ${DEBIAN_CHROMIUM}) ` +
        "or Playwright's own (`npx playwright install chromium`)",
    );
  }
  const stack = await startStack();
  process.env.TRELLIS_E2E_CONSOLE_URL = stack.consoleUrl;
  process.env.TRELLIS_E2E_CONTROL_URL = stack.controlUrl;
  process.env.TRELLIS_E2E_INGRESS_URL = stack.ingressUrl;
  return () => stack.stop();
}
