/**
 * Signing in for the e2e tests. Global setup signs the admin in once through the real login page and keeps the
 * browser's state (the session cookie) in STORAGE_STATE, which every test's page starts from; the tests' `request`
 * talks to the control plane with the admin's API token instead (a cookie-signed write would need the CSRF token),
 * so the specs import `test` and `expect` from here.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, test as base, expect, type Page } from '@playwright/test';

export { expect };

/** The admin's signed-in browser state, written by global-setup.ts (git-ignored). */
export const STORAGE_STATE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../.auth/admin.json',
);

export const ADMIN_USER = 'admin';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through playwright.config.ts`);
  return value;
}

export const adminPassword = (): string => env('TRELLIS_E2E_ADMIN_PASSWORD');
export const adminToken = (): string => env('TRELLIS_E2E_ADMIN_TOKEN');

/** Signs in through the console's login page and waits for the page it lands on. */
export async function signIn(
  page: Page,
  consoleUrl: string,
  username: string,
  password: string,
): Promise<void> {
  await page.goto(`${consoleUrl}/login`);
  const form = page.getByRole('form', { name: 'Sign in to Trellis' });
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname !== '/login', { timeout: 30_000 });
  await expect(page.getByTestId('user-name')).toHaveText(username);
}

/** Global setup's part: the admin signed in once, the browser state saved for every test. */
export async function saveAdminState(browser: Browser, consoleUrl: string): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, consoleUrl, ADMIN_USER, adminPassword());
  mkdirSync(path.dirname(STORAGE_STATE), { recursive: true });
  await context.storageState({ path: STORAGE_STATE });
  await context.close();
}

export const test = base.extend({
  request: async ({ playwright }, use) => {
    const request = await playwright.request.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${adminToken()}` },
    });
    await use(request);
    await request.dispose();
  },
});
