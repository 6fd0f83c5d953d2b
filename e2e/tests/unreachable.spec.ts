/**
 * The control plane goes away and comes back while a page is open: the page says the control plane is unreachable
 * (and the header that the live feed is reconnecting) instead of showing stale numbers as if all were well, and it
 * recovers by itself when the control plane returns — no reload. The demo's proxies keep serving meanwhile. A
 * control plane that stops answering without going away (its event loop held, as a nested-body attack once did) is
 * told the same way, with a Retry, instead of "Loading…" for as long as the console's server waits. This file runs
 * last (files run in name order) because it stops and freezes the control plane under every other test's stack.
 */

import { ProxyStatusList } from '@trellis/schema';
import { expect, test } from '../support/auth.ts';
import { artifact, consoleUrl, controlUrl, fromEnv } from '../support/env.ts';

async function stack(action: 'stop' | 'start' | 'freeze' | 'thaw'): Promise<void> {
  const res = await fetch(`${fromEnv('TRELLIS_E2E_STACK_URL')}/control/${action}`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`control/${action}: ${res.status} ${await res.text()}`);
}

test('control plane not answering: a page loaded meanwhile says so, with Retry, instead of loading', async ({
  page,
}) => {
  test.setTimeout(120_000);
  await page.goto(consoleUrl('/services'));
  const table = page.getByRole('table', { name: 'Services' });
  await expect(table.getByTestId('service-row-service-c')).toBeVisible();

  let thawed = false;
  try {
    await stack('freeze');
    await page.reload();
    const banner = page.getByTestId('error-banner').first();
    // The console gives up on a read after 10 s; its server alone would wait 30 s, and then once more.
    await expect(banner).toContainText('The control plane is unreachable', { timeout: 25_000 });
    await expect(banner).toContainText('no answer to GET /api/v1/services');
    // Offered while the control plane is still frozen: asking again is the reader's to decide.
    await expect(banner.getByRole('button', { name: 'Retry' })).toBeEnabled();
    await expect(page.getByText('Loading services…')).toHaveCount(0);
    await page.screenshot({ path: artifact('not-answering.png'), fullPage: true });

    await stack('thaw');
    thawed = true;
    await banner.getByRole('button', { name: 'Retry' }).click();
    await expect(page.getByTestId('error-banner')).toHaveCount(0, { timeout: 30_000 });
    await expect(table.getByTestId('service-row-service-c')).toBeVisible();
  } finally {
    if (!thawed) await stack('thaw');
  }
});

test('control plane down: the page says so and recovers by itself when it returns', async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  await page.goto(consoleUrl('/services'));
  const table = page.getByRole('table', { name: 'Services' });
  await expect(table.getByTestId('service-row-service-c')).toBeVisible();
  await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'live');

  let restarted = false;
  try {
    await stack('stop');
    await expect(page.getByTestId('error-banner').first()).toContainText('The control plane is unreachable', {
      timeout: 20_000,
    });
    await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'reconnecting');
    await page.screenshot({ path: artifact('unreachable.png'), fullPage: true });

    // The data plane does not depend on the control plane: the ingress still answers.
    const through = await request.get(fromEnv('TRELLIS_E2E_INGRESS_URL'));
    expect(through.status()).toBe(200);

    await stack('start');
    restarted = true;
    await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
    await expect(page.getByTestId('error-banner')).toHaveCount(0, { timeout: 30_000 });
    await expect(table.getByTestId('service-row-service-c')).toBeVisible();
  } finally {
    if (!restarted) await stack('start');
  }
  // Every proxy is back on the restarted control plane.
  await expect
    .poll(
      async () => {
        const { items } = ProxyStatusList.parse(
          await (await request.get(controlUrl('/api/v1/proxies'))).json(),
        );
        return items.filter((p) => p.status === 'SYNCED').length;
      },
      { timeout: 60_000 },
    )
    .toBe(7);
});
