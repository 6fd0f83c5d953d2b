/**
 * The console against the live demo mesh, as an operator sees it: the topology graph with live traffic, the
 * services table, a service's detail page with its live charts, the proxies and their sync status. Screenshots of
 * each page land in e2e/artifacts/.
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

test("a service's page shows its endpoints, proxies, rules and a live request-rate chart", async ({
  page,
}) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/services'));
  await page.getByRole('table', { name: 'Services' }).getByRole('link', { name: 'service-c' }).click();
  await expect(page).toHaveURL(/\/services\/service-c$/);
  await expect(page.getByRole('heading', { level: 1, name: 'service-c' })).toBeVisible();
  await expect(page.getByTestId('service-health')).toHaveAttribute(
    'data-health',
    /^(healthy|degraded|failing)$/,
  );
  await expect.poll(async () => Number(await page.getByTestId('stat-rps').textContent())).toBeGreaterThan(0);

  // Its three instances, each registered by its sidecar, and those sidecars running the current revision.
  const endpoints = page.getByRole('table', { name: 'Endpoints' });
  await expect(endpoints.getByTestId('endpoint-row')).toHaveCount(3);
  await expect(endpoints.getByTestId('endpoint-row').first()).toContainText('proxy');
  for (const instance of ['c-1', 'c-2', 'c-3']) {
    await expect(page.getByTestId(`service-proxy-row-${instance}`)).toContainText('SYNCED');
  }
  await expect(page.getByRole('table', { name: 'Proxies' }).getByRole('row')).toHaveCount(4);

  // The seeded rules for service-c.
  await expect(page.getByTestId('route-row-service-c-retries')).toContainText('5xx');
  await expect(page.getByTestId('policy-row-service-c-defaults')).toContainText('3 consecutive 5xx');

  // The request-rate chart, once the control plane has a complete 10 s step of service-c's traffic.
  const chart = page.getByTestId('chart-rps');
  await expect(chart).toBeVisible({ timeout: 30_000 });
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(1);
  await expect(chart.locator('.recharts-line-curve')).toBeVisible();
  await expect(chart).toContainText('req/s');
  await expect(page.getByTestId('chart-latency')).toContainText('p99');

  await page.screenshot({ path: path.join(ARTIFACTS, 'service.png'), fullPage: true });

  // The longer windows read the 1 min buckets.
  await page.getByRole('radio', { name: '1 h' }).check();
  await expect(page.getByTestId('charts-range')).toContainText('1m steps');
  await expect(page.getByTestId('chart-rps').or(page.getByTestId('charts-empty'))).toBeVisible();
  expect(errors).toEqual([]);
});

test('clicking a node of the topology opens its service page', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/'));
  await page.getByTestId('topology-node-service-b').click();
  await expect(page).toHaveURL(/\/services\/service-b$/);
  await expect(page.getByRole('heading', { level: 1, name: 'service-b' })).toBeVisible();
  expect(errors).toEqual([]);
});
