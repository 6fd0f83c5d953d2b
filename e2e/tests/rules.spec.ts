/**
 * The rule forms against the live demo mesh: an invalid route form is refused on its fields without a request;
 * service-c's traffic policy edited in its form round-trips (diff, every proxy ACKs, the reloaded form and the API
 * show the new values); a route rule created in the form aborts the requests its header match selects at the
 * ingress, and is deleted again through the form; the topology's edge links land on the right form. Every test puts
 * the seeded mesh back. Screenshots land in e2e/artifacts/.
 */
import { randomBytes } from 'node:crypto';
import type { APIRequestContext, Page } from '@playwright/test';
import { TrafficPolicy } from '@trellis/schema';
import { expect, test } from '../support/auth.ts';
import {
  artifact,
  collectErrors,
  consoleUrl,
  controlUrl,
  fromEnv,
  revisionOf,
  untilAcked,
} from '../support/env.ts';

const PROXIES = 7;
const POLICY = 'service-c-defaults';

/** The API changes the page sends (anything but reads). */
function collectChanges(page: Page): string[] {
  const changes: string[] = [];
  page.on('request', (req) => {
    if (req.method() !== 'GET' && req.url().includes('/api/')) changes.push(`${req.method()} ${req.url()}`);
  });
  return changes;
}

async function getPolicy(request: APIRequestContext): Promise<TrafficPolicy> {
  return TrafficPolicy.parse(await (await request.get(controlUrl(`/api/v1/policies/${POLICY}`))).json());
}

test('an invalid route form shows the errors on their fields and sends nothing', async ({ page }) => {
  const errors = collectErrors(page);
  const changes = collectChanges(page);
  await page.goto(consoleUrl('/routes/service-c-retries/edit'));
  const form = page.getByRole('form', { name: 'Route rule service-c-retries' });
  await expect(form.getByLabel('Retry attempts')).toHaveValue('2');

  await form.getByText('Matches (every request)').click();
  await form.getByRole('button', { name: 'Add match' }).click();
  await form.getByLabel('Match 1 path', { exact: true }).selectOption('regex');
  await form.getByLabel('Match 1 path value').fill('/api/(unclosed');
  await form.getByLabel('Retry attempts').fill('11');
  await form.getByRole('button', { name: 'Review changes' }).click();

  await expect(form.getByTestId('field-error-match[0].path')).toHaveText(
    'regex: is not a valid regular expression',
  );
  await expect(form.getByLabel('Match 1 path value')).toHaveAttribute('aria-invalid', 'true');
  await expect(form.getByTestId('field-error-retries.attempts')).toHaveText('must be between 0 and 10');
  await expect(form.getByLabel('Retry attempts')).toHaveAttribute('aria-invalid', 'true');
  await expect(form.getByTestId('diff-preview')).toHaveCount(0);

  // Fixing one field clears its error on the next review; the other stays.
  await form.getByLabel('Match 1 path value').fill('/api/.*');
  await form.getByRole('button', { name: 'Review changes' }).click();
  await expect(form.getByTestId('field-error-match[0].path')).toHaveCount(0);
  await expect(form.getByTestId('field-error-retries.attempts')).toBeVisible();
  await expect(form.getByTestId('diff-preview')).toHaveCount(0);
  expect(changes).toEqual([]);
  expect(errors).toEqual([]);
});

test("editing service-c's breaker thresholds and outlier settings round-trips", async ({ page, request }) => {
  const errors = collectErrors(page);
  const changes = collectChanges(page);
  const original = await getPolicy(request);
  expect(original.connectionPool.maxRequests).toBe(1024);
  expect(original.outlierDetection.consecutive5xx).toBe(3);
  try {
    await page.goto(consoleUrl('/services/service-c'));
    await page
      .getByTestId(`policy-row-${POLICY}`)
      .getByRole('link', { name: `Edit ${POLICY}` })
      .click();
    await expect(page).toHaveURL(new RegExp(`/policies/${POLICY}/edit$`));
    const form = page.getByRole('form', { name: `Traffic policy ${POLICY}` });
    const maxRequests = form.getByLabel('Max requests', { exact: true });
    const consecutive5xx = form.getByLabel('Consecutive 5xx', { exact: true });
    await expect(maxRequests).toHaveValue('1024');
    await expect(consecutive5xx).toHaveValue('3');
    await expect(form.getByLabel('Algorithm')).toHaveValue('least_request');

    // The same schema as the API: an out-of-range value is refused on its field, nothing sent.
    await maxRequests.fill('0');
    await form.getByRole('button', { name: 'Review changes' }).click();
    await expect(form.getByTestId('field-error-connectionPool.maxRequests')).toHaveText(
      'must be between 1 and 10000000',
    );
    expect(changes).toEqual([]);

    await maxRequests.fill('321');
    await consecutive5xx.fill('4');
    await form.getByRole('button', { name: 'Review changes' }).click();
    const diff = form.getByTestId('diff-preview');
    await expect(diff.getByTestId('diff-connectionPool.maxRequests')).toContainText('Max requests');
    await expect(diff.getByTestId('diff-connectionPool.maxRequests')).toContainText('1024 → 321');
    await expect(diff.getByTestId('diff-outlierDetection.consecutive5xx')).toContainText('3 → 4');
    await expect(diff.getByRole('row')).toHaveCount(3);
    // service-c's own proxies and those of its caller, service-b, are sent the change.
    await expect(diff.getByTestId('affected-proxies')).toHaveText(
      '5 proxies of services service-b, service-c receive this change.',
    );
    await page.screenshot({ path: artifact('policy-form.png'), fullPage: true });

    await diff.getByRole('button', { name: 'Apply' }).click();
    const ack = page.getByTestId('ack-indicator');
    await expect(ack).toHaveAttribute('data-done', 'true');
    await expect(ack).toHaveText(`✓ ${PROXIES} / ${PROXIES} proxies have the change`);
    expect(changes).toEqual([expect.stringMatching(new RegExp(`^PUT .*/api/v1/policies/${POLICY}$`))]);
    await expect(page.getByTestId('policy-version')).toHaveText(`version ${original.version + 1}`);

    await page.reload();
    await expect(form.getByLabel('Max requests', { exact: true })).toHaveValue('321');
    await expect(form.getByLabel('Consecutive 5xx', { exact: true })).toHaveValue('4');

    const stored = await getPolicy(request);
    expect(stored.connectionPool.maxRequests).toBe(321);
    expect(stored.outlierDetection.consecutive5xx).toBe(4);
    expect(stored.connectionPool.maxConnections).toBe(original.connectionPool.maxConnections);
    expect(stored.outlierDetection.baseEjectionTimeMs).toBe(original.outlierDetection.baseEjectionTimeMs);
    expect(errors).toEqual([]);
  } finally {
    const current = await getPolicy(request);
    const { id: _o, createdAt: _oc, updatedAt: _ou, version: _ov, ...spec } = original;
    const res = await request.put(controlUrl(`/api/v1/policies/${POLICY}`), {
      data: { ...spec, version: current.version },
    });
    expect(res.status()).toBe(200);
    await untilAcked(request, revisionOf(res));
  }
});

/** One request through the demo's ingress, with extra headers: its status and body. */
async function viaIngress(headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(fromEnv('TRELLIS_E2E_INGRESS_URL'), { headers });
  return { status: res.status, body: await res.text() };
}

test('a route created in the form aborts the requests its header match selects, and is deleted in the form', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  const name = `e2e-abort-${randomBytes(3).toString('hex')}`;
  const marker = `e2e-fault-${randomBytes(6).toString('hex')}`;
  try {
    await page.goto(consoleUrl('/services/service-b'));
    await page.getByRole('link', { name: 'New route rule' }).click();
    await expect(page).toHaveURL(/\/routes\/new\?service=service-b$/);
    const form = page.getByRole('form', { name: 'New route rule for service-b' });
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Priority', { exact: true }).fill('10');

    // Match: the request id the demo apps pass on from the ingress to service-b's caller.
    await form.getByText('Matches (every request)').click();
    await form.getByRole('button', { name: 'Add match' }).click();
    await form.getByLabel('Match 1 path', { exact: true }).selectOption('none');
    await form.getByRole('button', { name: 'Add header condition to match 1' }).click();
    await form.getByLabel('Match 1 header 1 name').fill('x-request-id');
    await form.getByLabel('Match 1 header 1 condition').selectOption('exact');
    await form.getByLabel('Match 1 header 1 value').fill(marker);

    await form.getByText('Fault injection').click();
    await form.getByLabel('Abort requests', { exact: true }).check();
    await form.getByLabel('Abort status').fill('418');
    await form.getByLabel('Aborted requests (%)').fill('100');

    await form.getByRole('button', { name: 'Review changes' }).click();
    const diff = form.getByTestId('diff-preview');
    await expect(diff.getByTestId('diff-name')).toContainText(`– → ${name}`);
    await expect(diff.getByTestId('diff-match[0].headers[0].exact')).toContainText(marker);
    await expect(diff.getByTestId('diff-fault.abort.httpStatus')).toContainText('– → 418');
    await expect(diff.getByTestId('affected-proxies')).toHaveText(
      '3 proxies of services service-a, service-b receive this change.',
    );
    await page.screenshot({ path: artifact('route-form-full.png'), fullPage: true });

    await diff.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(new RegExp(`/routes/${name}/edit\\?applied=\\d+$`));
    const ack = page.getByTestId('ack-indicator');
    await expect(ack).toHaveAttribute('data-done', 'true');
    await expect(ack).toHaveText(`✓ ${PROXIES} / ${PROXIES} proxies have the change`);
    const edit = page.getByRole('form', { name: `Route rule ${name}` });
    await expect(edit.getByLabel('Match 1 header 1 value')).toHaveValue(marker);
    await expect(edit.getByLabel('Abort status')).toHaveValue('418');

    // service-a's sidecar aborts the call to service-b with 418; service-a answers the ingress 502, saying so.
    const aborted = await viaIngress({ 'x-request-id': marker });
    expect(aborted.status).toBe(502);
    expect(JSON.parse(aborted.body)).toMatchObject({ service: 'service-a', error: 'service-b answered 418' });
    const normal = await viaIngress();
    expect(normal.status).toBe(200);
    expect(JSON.parse(normal.body)).toMatchObject({
      service: 'service-a',
      downstream: { service: 'service-b' },
    });

    page.once('dialog', (dialog) => void dialog.accept());
    await edit.getByRole('button', { name: 'Delete route rule' }).click();
    await expect(page.getByTestId('rule-deleted')).toContainText(`The route rule ${name} was deleted.`);
    await expect(ack).toHaveAttribute('data-done', 'true');
    expect((await request.get(controlUrl(`/api/v1/routes/${name}`))).status()).toBe(404);
    expect((await viaIngress({ 'x-request-id': marker })).status).toBe(200);
    expect(errors).toEqual([]);
  } finally {
    const left = await request.get(controlUrl(`/api/v1/routes/${name}`));
    if (left.status() === 200) {
      const res = await request.delete(controlUrl(`/api/v1/routes/${name}`));
      await untilAcked(request, revisionOf(res));
    }
  }
});

test('edge links of the topology open the form of the destination, with the section and a note', async ({
  page,
}) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/rules/edge?source=service-b&destination=service-c&intent=breaker'));
  await expect(page).toHaveURL(new RegExp(`/policies/${POLICY}/edit\\?intent=breaker&source=service-b$`));
  await expect(page.getByTestId('edge-note')).toHaveText(
    'Applies to every caller of service-c (seen from service-b).',
  );
  await expect(page.getByTestId('section-connectionPool')).toHaveClass(/section-focused/);
  await expect(page.getByLabel('Max connections', { exact: true })).toBeFocused();

  await page.goto(consoleUrl('/rules/edge?source=service-a&destination=service-b&intent=split'));
  await expect(page).toHaveURL(/\/routes\/service-b-canary\/edit\?intent=split&source=service-a$/);
  await expect(page.getByTestId('section-destinations')).toHaveClass(/section-focused/);
  await expect(page.getByTestId('edge-note')).toContainText('Applies to every caller of service-b');

  await page.goto(consoleUrl('/rules/edge?source=ingress&destination=service-a&intent=retry'));
  await expect(page).toHaveURL(/\/routes\/new\?intent=retry&source=ingress&service=service-a$/);
  await expect(page.getByRole('form', { name: 'New route rule for service-a' })).toBeVisible();
  await expect(page.getByTestId('section-retries')).toHaveClass(/section-focused/);
  expect(errors).toEqual([]);
});
