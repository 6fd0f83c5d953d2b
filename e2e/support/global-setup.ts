import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from '@playwright/test';
import { DEBIAN_CHROMIUM } from '../playwright.config.ts';
import { saveAdminState } from './auth.ts';
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
  // The tests run in worker processes: they stop, start, freeze and thaw the control plane through this loopback
  // endpoint.
  const actions: Record<string, () => Promise<void>> = {
    '/control/stop': () => stack.stopControl(),
    '/control/start': () => stack.startControl(),
    '/control/freeze': () => stack.freezeControl(),
    '/control/thaw': () => stack.thawControl(),
  };
  const admin = http.createServer((req, res) => {
    const url = req.url ?? '';
    const action = req.method === 'POST' && Object.hasOwn(actions, url) ? actions[url]?.() : undefined;
    if (!action) {
      res.writeHead(404).end();
      return;
    }
    action.then(
      () => res.writeHead(204).end(),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
  process.env.TRELLIS_E2E_STACK_URL = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
  process.env.TRELLIS_E2E_CONSOLE_URL = stack.consoleUrl;
  process.env.TRELLIS_E2E_CONTROL_URL = stack.controlUrl;
  process.env.TRELLIS_E2E_INGRESS_URL = stack.ingressUrl;
  // The admin signs in once through the real login page; every test's page starts from that browser state.
  const browser = await chromium.launch({
    ...(existsSync(DEBIAN_CHROMIUM) ? { executablePath: DEBIAN_CHROMIUM } : {}),
    args: ['--no-sandbox', '--headless', '--disable-gpu'],
  });
  try {
    await saveAdminState(browser, stack.consoleUrl);
  } finally {
    await browser.close();
  }
  return async () => {
    admin.close();
    await stack.stop();
  };
}
