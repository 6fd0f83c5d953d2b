/**
 * The mesh settings page against the live mesh: it shows the default mTLS mode (permissive); an admin switches to
 * strict after confirming, every proxy ACKs and the API says strict; a switch picked from a version someone else
 * has since replaced is refused as a conflict, reloaded, and made again from the fresh version, back to
 * permissive. The mesh is left permissive, as the specs after this one expect it.
 */
import { randomBytes } from 'node:crypto';
import type { APIRequestContext } from '@playwright/test';
import { MeshSettings } from '@trellis/schema';
import { expect, signIn, test } from '../support/auth.ts';
import {
  artifact,
  collectErrors,
  consoleUrl,
  controlUrl,
  fromEnv,
  revisionOf,
  untilAcked,
  untilChainHealthy,
} from '../support/env.ts';

const SETTINGS = '/api/v1/mesh/settings';

async function settingsOf(request: APIRequestContext): Promise<MeshSettings> {
  const res = await request.get(controlUrl(SETTINGS));
  expect(res.status()).toBe(200);
  return MeshSettings.parse(await res.json());
}

test('an admin switches the mTLS mode to strict and back, and a stale switch is a conflict', async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const errors = collectErrors(page);
  try {
    expect((await settingsOf(request)).mtls.mode).toBe('permissive');
    await page.goto(consoleUrl('/'));
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Mesh settings' }).click();
    await expect(page).toHaveURL(/\/settings$/);
    const mode = page.getByTestId('mtls-mode');
    await expect(mode).toHaveText('permissive');
    await expect(page.getByRole('radio', { name: 'permissive' })).toBeChecked();
    await expect(page.getByTestId('mtls-option-strict')).toContainText('refuse every plaintext caller');

    // Picking strict asks first, and says what strict refuses; Cancel changes nothing.
    await page.getByRole('radio', { name: 'strict' }).check();
    const confirm = page.getByRole('region', { name: 'Confirm the switch' });
    await expect(confirm).toContainText("Switch the mesh's mTLS mode from permissive to strict?");
    await expect(confirm).toContainText('Strict refuses plaintext callers');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect(confirm).toHaveCount(0);
    await expect(page.getByRole('radio', { name: 'permissive' })).toBeChecked();
    expect((await settingsOf(request)).mtls.mode).toBe('permissive');

    await page.getByRole('radio', { name: 'strict' }).check();
    await page.screenshot({ path: artifact('mesh-settings.png'), fullPage: true });
    await confirm.getByRole('button', { name: 'Switch to strict' }).click();
    await expect(mode).toHaveText('strict');
    await expect(page.getByTestId('ack-indicator')).toHaveAttribute('data-done', 'true');
    const strict = await settingsOf(request);
    expect(strict.mtls.mode).toBe('strict');
    await expect(page.getByTestId('settings-version')).toHaveText(`version ${strict.version}`);

    // Permissive picked from this version; meanwhile someone else turns mTLS off through the API.
    await page.getByRole('radio', { name: 'permissive' }).check();
    await expect(confirm).toContainText('from strict to permissive');
    const off = await request.put(controlUrl(SETTINGS), {
      data: { mtls: { mode: 'off' }, version: strict.version },
    });
    expect(off.status()).toBe(200);
    // The live feed brings the new mode to the page; the pending switch still names the version it was picked from.
    await expect(mode).toHaveText('off');
    await confirm.getByRole('button', { name: 'Switch to permissive' }).click();
    const conflict = page.getByTestId('conflict');
    await expect(conflict).toContainText(
      `you have version ${strict.version}, it is now at version ${strict.version + 1}`,
    );
    expect((await settingsOf(request)).mtls.mode).toBe('off');
    await conflict.getByRole('button', { name: 'Reload' }).click();
    await expect(conflict).toHaveCount(0);
    await expect(page.getByRole('radio', { name: 'off' })).toBeChecked();

    await page.getByRole('radio', { name: 'permissive' }).check();
    await confirm.getByRole('button', { name: 'Switch to permissive' }).click();
    await expect(mode).toHaveText('permissive');
    await expect(page.getByTestId('ack-indicator')).toHaveAttribute('data-done', 'true');
    const back = await settingsOf(request);
    expect(back.mtls.mode).toBe('permissive');
    expect(back.version).toBe(strict.version + 2);

    // Only the refused stale switch failed (the browser logs its 409 too).
    expect(errors.filter((e) => !e.includes('409'))).toEqual([]);
    expect(errors.filter((e) => e.startsWith('409 ')).map((e) => new URL(e.slice(4)).pathname)).toEqual([
      SETTINGS,
    ]);
  } finally {
    const left = await settingsOf(request);
    if (left.mtls.mode !== 'permissive') {
      const res = await request.put(controlUrl(SETTINGS), {
        data: { mtls: { mode: 'permissive' }, version: left.version },
      });
      await untilAcked(request, revisionOf(res));
    }
    await untilChainHealthy(request);
  }
});

test('an editor reads the mode and what each mode does, without a control', async ({ browser, request }) => {
  const username = `e2e-editor-${randomBytes(3).toString('hex')}`;
  const password = `editor-${randomBytes(8).toString('hex')}`;
  const created = await request.post(controlUrl('/api/v1/users'), {
    data: { username, role: 'editor', password },
  });
  expect(created.status()).toBe(201);
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  try {
    const page = await context.newPage();
    await signIn(page, fromEnv('TRELLIS_E2E_CONSOLE_URL'), username, password);
    const errors = collectErrors(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Mesh settings' }).click();
    await expect(page.getByTestId('mtls-mode')).toHaveText('permissive');
    await expect(page.getByTestId('mtls-option-off')).toContainText('plaintext');
    await expect(page.getByTestId('read-only-note')).toBeVisible();
    await expect(page.getByRole('radio')).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
    await request.delete(controlUrl(`/api/v1/users/${username}`));
  }
});
