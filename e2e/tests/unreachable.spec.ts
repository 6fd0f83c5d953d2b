/**
 * The control plane goes away and comes back while a page is open: the page says the control plane is unreachable
 * (and the header that the live feed is reconnecting) instead of showing stale numbers as if all were well, and it
 * recovers by itself when the control plane returns — no reload. The demo's proxies keep serving meanwhile. This
 * file runs last (files run in name order) because it restarts the control plane under every other test's stack.
 */

import { ProxyStatusList } from '@trellis/schema';
import { expect, test } from '../support/auth.ts';
import { artifact, consoleUrl, controlUrl, fromEnv } from '../support/env.ts';

async function stack(action: 'stop' | 'start'): Promise<void> {
  const res = await fetch(`${fromEnv('TRELLIS_E2E_STACK_URL')}/control/${action}`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`control/${action}: ${res.status} ${await res.text()}`);
}

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
