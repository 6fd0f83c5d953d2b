/**
 * The console against the live demo mesh, as an operator sees it: the topology graph with live traffic, the
 * services table, a service's detail page with its live charts, the proxies and their sync status. Screenshots of
 * each page land in e2e/artifacts/.
 */
import type { APIRequestContext } from '@playwright/test';
import { expect, test } from '../support/auth.ts';
import {
  artifact,
  collectErrors,
  consoleUrl,
  replaceRoute,
  serviceBVersions,
  untilAcked,
  withWeights,
} from '../support/env.ts';

const SERVICES = ['ingress', 'service-a', 'service-b', 'service-c'];
const INSTANCES = ['ingress-1', 'a-1', 'b-v1-1', 'b-v2-1', 'c-1', 'c-2', 'c-3'];

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

  await page.screenshot({ path: artifact('topology.png') });
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
  await page.screenshot({ path: artifact('services.png'), fullPage: true });
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
  await page.screenshot({ path: artifact('proxies.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test("the header's API reference link opens the control plane's OpenAPI reference, listing its operations", async ({
  page,
}) => {
  await page.goto(consoleUrl('/'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API reference' }).click();
  await expect(page).toHaveURL(/\/api\/v1\/docs$/);
  // Swagger UI, served by the control plane, renders the operations of its OpenAPI document.
  await expect(page.getByText('/api/v1/services', { exact: true }).first()).toBeVisible();
  await expect(page.getByText('/api/v1/authorization-policies', { exact: true }).first()).toBeVisible();
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
  // The chart is live: its newest step moves on (10 s steps, read every 5 s) while the page stays open.
  const lastStep = Number(await chart.getAttribute('data-last'));
  await expect
    .poll(async () => Number(await chart.getAttribute('data-last')), { timeout: 30_000 })
    .toBeGreaterThan(lastStep);
  await expect(chart.locator('.recharts-line-curve')).toBeVisible();
  await expect(chart).toContainText('req/s');
  await expect(page.getByTestId('chart-latency')).toContainText('p99');

  await page.screenshot({ path: artifact('service.png'), fullPage: true });

  // The longer windows read the 1 min buckets.
  await page.getByRole('radio', { name: '1 h' }).check();
  await expect(page.getByTestId('charts-range')).toContainText('1m steps');
  await expect(page.getByTestId('chart-rps').or(page.getByTestId('charts-empty'))).toBeVisible();
  expect(errors).toEqual([]);
});

test('clicking a node of the topology opens its panel, and the panel its service page', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/'));
  await page.getByTestId('topology-node-service-b').click();
  const panel = page.getByRole('complementary', { name: 'Service service-b' });
  await panel.getByRole('link', { name: 'Open service page' }).click();
  await expect(page).toHaveURL(/\/services\/service-b$/);
  await expect(page.getByRole('heading', { level: 1, name: 'service-b' })).toBeVisible();
  expect(errors).toEqual([]);
});

const CANARY = 'service-b-canary';

/** The seeded split of service-b (90 % v1, 10 % v2), put back through the API, once every proxy has it. */
async function restoreCanary(request: APIRequestContext): Promise<void> {
  const revision = await replaceRoute(request, CANARY, (spec) => ({
    ...spec,
    destinations: withWeights(spec.destinations, { v1: 90, v2: 10 }),
    timeoutMs: 2000,
    retries: { ...spec.retries, attempts: 2 },
  }));
  await untilAcked(request, revision);
}

// These two change service-b's route and put it back; they run last so the tests above see the seeded split.
test('editing the canary split to 100 % v2 in the form: diff preview, apply, every proxy ACKs, traffic follows', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  const puts: string[] = [];
  page.on('request', (req) => {
    if (req.method() === 'PUT') puts.push(req.url());
  });
  try {
    await page.goto(consoleUrl('/services/service-b'));
    const row = page.getByTestId(`route-row-${CANARY}`);
    await expect(row).toContainText('version=v1: 90 % · version=v2: 10 %');
    await row.getByRole('link', { name: `Edit ${CANARY}` }).click();
    await expect(page).toHaveURL(new RegExp(`/routes/${CANARY}/edit$`));

    const form = page.getByRole('form', { name: `Route rule ${CANARY}` });
    const v1 = form.getByRole('spinbutton', { name: 'Weight of version=v1' });
    const v2 = form.getByRole('spinbutton', { name: 'Weight of version=v2' });
    await expect(v1).toHaveValue('90');
    await expect(v2).toHaveValue('10');
    const timeout = form.getByLabel('Timeout (ms)');
    await expect(timeout).toHaveValue('2000');

    // An invalid timeout: the schema's message next to the field, and nothing sent.
    await timeout.fill('-5');
    await form.getByRole('button', { name: 'Review changes' }).click();
    await expect(form.getByTestId('field-error-timeoutMs')).toHaveText('must be at least 1 ms');
    await expect(timeout).toHaveAttribute('aria-invalid', 'true');
    await expect(form.getByTestId('diff-preview')).toHaveCount(0);
    await timeout.fill('2000');

    // v2 to 100: v1 follows to 0, slider and number agree, the total stays 100.
    await v2.fill('100');
    await expect(v1).toHaveValue('0');
    await expect(form.getByRole('slider', { name: 'Weight of version=v1' })).toHaveValue('0');
    await expect(form.getByRole('slider', { name: 'Weight of version=v2' })).toHaveValue('100');
    await expect(form.getByTestId('weights-total')).toHaveText('Total: 100 %');

    await form.getByRole('button', { name: 'Review changes' }).click();
    await expect(form.getByTestId('field-error-timeoutMs')).toHaveCount(0);
    const diff = form.getByTestId('diff-preview');
    await expect(diff.getByTestId('diff-weights')).toContainText('90/10 → 0/100');
    await expect(diff.getByTestId('diff-destinations[0].weight')).toContainText('90 → 0');
    await expect(diff.getByTestId('diff-destinations[1].weight')).toContainText('10 → 100');
    await expect(diff.getByRole('row')).toHaveCount(4);
    expect(puts).toEqual([]);
    await page.screenshot({ path: artifact('route-form.png'), fullPage: true });

    await diff.getByRole('button', { name: 'Apply' }).click();
    const ack = page.getByTestId('ack-indicator');
    await expect(ack).toHaveAttribute('data-done', 'true');
    await expect(ack).toHaveText(`✓ ${INSTANCES.length} / ${INSTANCES.length} proxies have the change`);
    expect(puts).toHaveLength(1);
    await page.screenshot({ path: artifact('route-applied.png'), fullPage: true });

    // Traffic follows: every request through the ingress now reaches service-b v2.
    await expect
      .poll(async () => [...new Set(await serviceBVersions(20))], { timeout: 15_000 })
      .toEqual(['v2']);

    // The service's page shows the new split.
    await page.getByRole('link', { name: 'Back to service-b' }).click();
    await expect(page.getByTestId(`route-row-${CANARY}`)).toContainText(
      'version=v1: 0 % · version=v2: 100 %',
    );
    expect(errors).toEqual([]);
  } finally {
    await restoreCanary(request);
  }
});

test('a stale edit gets the conflict message and Reload opens the current version', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  try {
    await page.goto(consoleUrl(`/routes/${CANARY}/edit`));
    const form = page.getByRole('form', { name: `Route rule ${CANARY}` });
    const timeout = form.getByLabel('Timeout (ms)');
    await expect(timeout).toHaveValue('2000');
    const loaded = Number((await page.getByTestId('route-version').textContent())?.replace(/\D/g, ''));

    // Someone else changes the rule behind the form's back.
    await replaceRoute(request, CANARY, (spec) => ({ ...spec, timeoutMs: 2500 }));

    await form.getByRole('spinbutton', { name: 'Weight of version=v2' }).fill('20');
    await form.getByRole('button', { name: 'Review changes' }).click();
    await form.getByTestId('diff-preview').getByRole('button', { name: 'Apply' }).click();
    const conflict = form.getByTestId('conflict');
    await expect(conflict).toContainText('Someone else changed this rule');
    await expect(conflict).toContainText(`you have version ${loaded}, it is now at version ${loaded + 1}`);

    await conflict.getByRole('button', { name: 'Reload' }).click();
    await expect(page.getByTestId('route-version')).toHaveText(`version ${loaded + 1}`);
    await expect(form.getByTestId('conflict')).toHaveCount(0);
    await expect(timeout).toHaveValue('2500');
    await expect(form.getByRole('spinbutton', { name: 'Weight of version=v2' })).toHaveValue('10');
    // The refused PUT is the one expected error.
    expect(errors.filter((e) => !e.startsWith('409 ') && !e.includes('409 (Conflict)'))).toEqual([]);
  } finally {
    await restoreCanary(request);
  }
});
