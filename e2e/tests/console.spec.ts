/**
 * The console against the live demo mesh, as an operator sees it: the topology graph with live traffic, the
 * services table, the proxies and their sync status. Screenshots of each page land in e2e/artifacts/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, type Page, test } from '@playwright/test';

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../artifacts');
const SERVICES = ['ingress', 'service-a', 'service-b', 'service-c'];
const INSTANCES = ['ingress-1', 'a-1', 'b-v1-1', 'b-v2-1', 'c-1', 'c-2', 'c-3'];

function consoleUrl(pathname: string): string {
  const base = process.env.TRELLIS_E2E_CONSOLE_URL;
  if (!base) throw new Error('TRELLIS_E2E_CONSOLE_URL is not set: run through playwright.config.ts');
  return `${base}${pathname}`;
}

/** Every console error, uncaught exception and failed request of the page, to assert there are none. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`${res.status()} ${res.url()}`);
  });
  return errors;
}

test('the topology shows the demo services, coloured by health, with live traffic on the edges', async ({
  page,
}) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/'));
  await expect(page.getByRole('heading', { name: 'Topology' })).toBeVisible();
  for (const service of SERVICES) {
    await expect(page.getByTestId(`topology-node-${service}`)).toBeVisible();
  }
  await expect(page.getByTestId('topology-node-service-a')).toHaveAttribute(
    'data-health',
    /^(healthy|degraded)$/,
  );

  // The chain of calls, each edge with a non-zero request rate from the live telemetry.
  for (const [source, destination] of [
    ['ingress', 'service-a'],
    ['service-a', 'service-b'],
    ['service-b', 'service-c'],
  ]) {
    const label = page.getByTestId(`topology-edge-${source}-${destination}`);
    await expect(label).toBeVisible();
    await expect.poll(async () => Number(await label.getAttribute('data-rps'))).toBeGreaterThan(0);
    await expect(label).toContainText(/rps · .* err\s*p99 /);
  }

  // Stable layout: the numbers refresh every second, the nodes stay where they are.
  const node = page.getByTestId('topology-node-service-b');
  const before = await node.boundingBox();
  const updated = await page.getByTestId('topology-updated').textContent();
  await expect(page.getByTestId('topology-updated')).not.toHaveText(updated ?? '', { timeout: 5000 });
  expect(await node.boundingBox()).toEqual(before);

  await page.screenshot({ path: path.join(ARTIFACTS, 'topology.png') });
  expect(errors).toEqual([]);
});

test('the services table lists the seeded services with their health and traffic', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
  await expect(page).toHaveURL(/\/services$/);
  const table = page.getByRole('table', { name: 'Services' });
  await expect(table).toBeVisible();
  for (const service of SERVICES) {
    await expect(table.getByRole('rowheader', { name: new RegExp(`^${service}\\b`) })).toBeVisible();
  }
  const c = page.getByTestId('service-row-service-c');
  await expect(c.getByRole('cell').first()).toHaveText(/healthy|degraded|failing/);
  // service-c runs three instances, each registered by its sidecar.
  await expect(c).toContainText('3 / 3');
  await page.screenshot({ path: path.join(ARTIFACTS, 'services.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('the proxies page lists every demo proxy with its sync status', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/proxies'));
  const table = page.getByRole('table', { name: 'Proxies' });
  await expect(table).toBeVisible();
  for (const instance of INSTANCES) {
    const row = page.getByTestId(`proxy-row-${instance}`);
    await expect(row).toBeVisible();
    await expect(row).toContainText('SYNCED');
  }
  await page.screenshot({ path: path.join(ARTIFACTS, 'proxies.png'), fullPage: true });
  expect(errors).toEqual([]);
});
