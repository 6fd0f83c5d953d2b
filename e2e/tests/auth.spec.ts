/**
 * Signing in and roles, as an operator meets them: the login page (a wrong password refused with a message, the
 * right one landing where the browser was going), the security headers every page answers with, what a viewer is
 * (not) offered and what the API answers a viewer's write, and an API token created in the admin page, shown once,
 * used, revoked and refused from then on. Users and tokens created here are deleted again.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext } from '@playwright/test';
import { ADMIN_USER, adminPassword, expect, signIn, test } from '../support/auth.ts';
import { artifact, collectErrors, consoleUrl, controlUrl, fromEnv } from '../support/env.ts';

const SIGNED_OUT = { cookies: [], origins: [] };

/** A browser of its own, signed in as nobody. */
async function freshContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ storageState: SIGNED_OUT });
}

test.describe('signed out', () => {
  test.use({ storageState: SIGNED_OUT });

  test('the login page refuses a wrong password with a message and lands on the page asked for', async ({
    page,
  }) => {
    await page.goto(consoleUrl('/services'));
    await expect(page).toHaveURL(/\/login\?next=%2Fservices$/);
    const form = page.getByRole('form', { name: 'Sign in to Trellis' });
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link')).toHaveCount(0);

    // Nothing typed: the schema's messages on the fields, nothing sent.
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(form.getByTestId('field-error-username')).toHaveText('must not be empty');

    await form.getByLabel('Username').fill(ADMIN_USER);
    await form.getByLabel('Password').fill('not-the-password');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId('login-error')).toHaveText('Wrong username or password.');
    await expect(page).toHaveURL(/\/login/);
    await expect(form.getByLabel('Password')).toHaveValue('');
    await page.screenshot({ path: artifact('login-refused.png') });

    await form.getByLabel('Password').fill(adminPassword());
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/services$/);
    await expect(page.getByRole('table', { name: 'Services' })).toBeVisible();
    await expect(page.getByTestId('user-name')).toHaveText(ADMIN_USER);
    await expect(page.getByTestId('user-role')).toHaveText('admin');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Topology' }).click();
    await expect(page.getByRole('heading', { name: 'Topology' })).toBeVisible();
    await expect(page.getByTestId('topology-node-service-a')).toBeVisible();
    await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'live');

    // Signing out ends this session: the pages send the browser to the login page again.
    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto(consoleUrl('/history'));
    await expect(page).toHaveURL(/\/login\?next=%2Fhistory$/);
  });
});

test('the console answers with its security headers, and its pages run under the CSP', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  for (const path of ['/login', '/', '/services/service-c']) {
    const res = await request.get(consoleUrl(path), { maxRedirects: 0 });
    const headers = res.headers();
    expect(headers['x-frame-options'], path).toBe('DENY');
    expect(headers['x-content-type-options'], path).toBe('nosniff');
    expect(headers['referrer-policy'], path).toBe('same-origin');
    expect(headers['permissions-policy'], path).toContain('camera=()');
  }
  const response = await page.goto(consoleUrl('/'));
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
  expect(csp).not.toContain('unsafe-eval');
  expect(response?.headers()['x-frame-options']).toBe('DENY');
  // The app runs under it: the graph draws, the feed connects, and no script or style was refused.
  await expect(page.getByTestId('topology-node-service-a')).toBeVisible();
  await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'live');
  const again = await page.goto(consoleUrl('/'));
  expect(again?.headers()['content-security-policy']).not.toBe(csp);
  expect(errors).toEqual([]);
});

test('a viewer is offered no changes, and the API refuses the write a viewer sends anyway', async ({
  browser,
  request,
}) => {
  const username = `e2e-viewer-${randomBytes(3).toString('hex')}`;
  const password = `viewer-${randomBytes(8).toString('hex')}`;
  const created = await request.post(controlUrl('/api/v1/users'), {
    data: { username, role: 'viewer', password },
  });
  expect(created.status()).toBe(201);
  const context = await freshContext(browser);
  try {
    const page = await context.newPage();
    await signIn(page, fromEnv('TRELLIS_E2E_CONSOLE_URL'), username, password);
    await expect(page.getByTestId('user-role')).toHaveText('viewer');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link', { name: 'Services' })).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);

    // The policy's form reads, but offers no review, apply or delete.
    await page.goto(consoleUrl('/policies/service-c-defaults/edit'));
    const form = page.getByRole('form', { name: 'Traffic policy service-c-defaults' });
    await expect(form.getByLabel('Max requests', { exact: true })).toHaveValue(/\d+/);
    await expect(form.getByLabel('Max requests', { exact: true })).toBeDisabled();
    await expect(form.getByTestId('read-only-note')).toContainText('viewer role');
    await expect(form.getByRole('button', { name: 'Review changes' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Apply' })).toHaveCount(0);
    await expect(form.getByRole('button', { name: /^Delete/ })).toHaveCount(0);
    await page.goto(consoleUrl('/services/service-c'));
    await expect(page.getByTestId('route-row-service-c-retries')).toBeVisible();
    await expect(page.getByRole('link', { name: 'New route rule' })).toHaveCount(0);
    await page.screenshot({ path: artifact('viewer.png'), fullPage: true });

    // A write sent anyway, with the session's CSRF token: refused for the role.
    const answer = await page.evaluate(async () => {
      const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
      const res = await fetch('/api/v1/routes/service-c-retries', {
        method: 'DELETE',
        headers: { 'x-trellis-csrf': me.csrfToken },
      });
      return { status: res.status, body: (await res.json()) as { code?: string } };
    });
    expect(answer.status).toBe(403);
    expect(answer.body.code).toBe('TRELLIS_ERR_FORBIDDEN');
    expect((await request.get(controlUrl('/api/v1/routes/service-c-retries'))).status()).toBe(200);

    // An admin page opened by hand says the role may not see it.
    await page.goto(consoleUrl('/admin/users'));
    await expect(page.getByTestId('forbidden')).toContainText('Your role may not do this');
  } finally {
    await context.close();
    await request.delete(controlUrl(`/api/v1/users/${username}`));
  }
});

test('an API token made in the admin page is shown once, works, and is refused once revoked', async ({
  page,
  playwright,
}) => {
  const errors = collectErrors(page);
  const name = `e2e-token-${randomBytes(3).toString('hex')}`;
  await page.goto(consoleUrl('/'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
  await expect(page).toHaveURL(/\/admin\/tokens$/);
  const form = page.getByRole('form', { name: 'New API token' });
  await form.getByLabel('Token name').fill(name);
  await form.getByLabel('Role').selectOption('viewer');
  await form.getByLabel('Expires in (days)').fill('1');
  await form.getByRole('button', { name: 'Create token' }).click();

  const shown = page.getByTestId('secret-once');
  await expect(shown).toContainText('Copy it now: it is not shown again.');
  const secret = await shown.getByTestId('new-secret').inputValue();
  expect(secret).toMatch(/^trellis_/);
  const row = page.getByTestId(`token-row-${name}`);
  await expect(row).toHaveAttribute('data-state', 'active');
  await expect(row).toContainText('viewer');
  await page.screenshot({ path: artifact('api-token.png'), fullPage: true });

  const withToken = await playwright.request.newContext({
    extraHTTPHeaders: { authorization: `Bearer ${secret}` },
  });
  try {
    expect((await withToken.get(controlUrl('/api/v1/services'))).status()).toBe(200);

    // Shown once: not after a reload, nor anywhere in the list.
    await page.reload();
    await expect(row).toBeVisible();
    await expect(page.getByTestId('secret-once')).toHaveCount(0);
    expect(await page.content()).not.toContain(secret);
    expect(
      await page.locator('input').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value)),
    ).not.toContain(secret);

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: `Revoke ${name}` }).click();
    await expect(row).toHaveAttribute('data-state', 'revoked');
    await expect(row.getByRole('button')).toHaveCount(0);

    const refused = await withToken.get(controlUrl('/api/v1/services'));
    expect(refused.status()).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe('TRELLIS_ERR_UNAUTHENTICATED');
  } finally {
    await withToken.dispose();
  }
  expect(errors).toEqual([]);
});

test('a user changes their password from the user menu and signs in with the new one', async ({
  browser,
  request,
}) => {
  const username = `e2e-editor-${randomBytes(3).toString('hex')}`;
  const password = `first-${randomBytes(8).toString('hex')}`;
  const next = `second-${randomBytes(8).toString('hex')}`;
  expect(
    (
      await request.post(controlUrl('/api/v1/users'), { data: { username, role: 'editor', password } })
    ).status(),
  ).toBe(201);
  const context = await freshContext(browser);
  try {
    const page = await context.newPage();
    const errors = collectErrors(page);
    const base = fromEnv('TRELLIS_E2E_CONSOLE_URL');
    await signIn(page, base, username, password);
    await expect(page.getByTestId('user-role')).toHaveText('editor');
    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('link', { name: 'Change password' }).click();
    const form = page.getByRole('form', { name: 'Change password' });

    // Checked in the browser first (too short, not repeated), then by the API (the current password).
    await form.getByLabel('Current password').fill(password);
    await form.getByLabel('New password', { exact: true }).fill('short');
    await form.getByLabel('New password again').fill('shorter');
    await form.getByRole('button', { name: 'Change password' }).click();
    await expect(form.getByTestId('field-error-newPassword')).toHaveText('must be at least 12 characters');
    await expect(form.getByTestId('field-error-confirm')).toHaveText('does not match the new password');
    await form.getByLabel('Current password').fill('not-my-password');
    await form.getByLabel('New password', { exact: true }).fill(next);
    await form.getByLabel('New password again').fill(next);
    await form.getByRole('button', { name: 'Change password' }).click();
    await expect(form.getByTestId('field-error-currentPassword')).toHaveText('is not the current password');
    errors.splice(0); // the API's 400 for the wrong current password, expected
    await form.getByLabel('Current password').fill(password);
    await form.getByLabel('New password', { exact: true }).fill(next);
    await form.getByLabel('New password again').fill(next);
    await form.getByRole('button', { name: 'Change password' }).click();
    await expect(form.getByTestId('password-result')).toHaveText('Password changed.');

    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await signIn(page, base, username, next);
    await expect(page.getByTestId('user-name')).toHaveText(username);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
    await request.delete(controlUrl(`/api/v1/users/${username}`));
  }
});

test('an admin creates a user in the users page, changes the role and deletes the user', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  const username = `e2e-user-${randomBytes(3).toString('hex')}`;
  try {
    await page.goto(consoleUrl('/admin/users'));
    await expect(page.getByTestId(`user-row-${ADMIN_USER}`)).toContainText('(you)');
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Username').fill('Not Valid');
    await form.getByLabel('Initial password').fill('short');
    await form.getByRole('button', { name: 'Create user' }).click();
    await expect(form.getByTestId('field-error-username')).toContainText('must be lower-case letters');
    await expect(form.getByTestId('field-error-password')).toHaveText('must be at least 12 characters');

    await form.getByLabel('Username').fill(username);
    await form.getByLabel('Role').selectOption('editor');
    await form.getByLabel('Initial password').fill(`pw-${randomBytes(8).toString('hex')}`);
    await form.getByRole('button', { name: 'Create user' }).click();
    await expect(form.getByTestId('user-created')).toHaveText(`Created the user ${username}.`);
    const row = page.getByTestId(`user-row-${username}`);
    await expect(row.getByLabel(`Role of ${username}`)).toHaveValue('editor');

    await row.getByLabel(`Role of ${username}`).selectOption('viewer');
    await expect
      .poll(async () => {
        const { items } = (await (await request.get(controlUrl('/api/v1/users'))).json()) as {
          items: { username: string; role: string }[];
        };
        return items.find((u) => u.username === username)?.role;
      })
      .toBe('viewer');

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: `Delete ${username}` }).click();
    await expect(row).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    await request.delete(controlUrl(`/api/v1/users/${username}`)).catch(() => undefined);
  }
});

test('an admin makes a join token for a service, sees it once, and revokes it', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/admin/join-tokens'));
  await expect(page.getByText('Loading join tokens…')).toHaveCount(0);
  const rows = page.locator('tr[data-testid^="join-token-row-"]');
  const ids = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid') ?? ''));
  const before = await ids();
  const form = page.getByRole('form', { name: 'New join token' });
  await form.getByRole('button', { name: 'Create join token' }).click();
  await expect(form.getByTestId('field-error-service')).toBeVisible();

  await form.getByLabel('Service').selectOption('service-c');
  await form.getByLabel('Expires in (days)').fill('2');
  await form.getByRole('button', { name: 'Create join token' }).click();
  const secret = await page.getByTestId('secret-once').getByTestId('new-secret').inputValue();
  expect(secret.length).toBeGreaterThan(20);
  await expect.poll(async () => (await ids()).length).toBe(before.length + 1);
  const added = (await ids()).find((id) => !before.includes(id)) ?? '';
  const row = page.getByTestId(added);
  await expect(row).toHaveAttribute('data-state', 'active');
  await expect(row).toContainText('service-c');

  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('secret-once')).toHaveCount(0);
  page.once('dialog', (dialog) => void dialog.accept());
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toHaveAttribute('data-state', 'revoked');
  expect(errors).toEqual([]);
});
