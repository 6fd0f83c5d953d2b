/**
 * Authorization policies from the console, against the live demo mesh: a deny policy made in the form opened from
 * the topology's service-a → service-b edge is refused on its fields while invalid, then applied; the demo's calls
 * from service-a to service-b are refused by service-b's proxy (403 rbac_denied, which service-a passes on to the
 * ingress), the edge is marked denied with its count, and the policy deleted in its form lets the calls through
 * again. The lock of mTLS edges is drawn exactly where the control plane says the calls are mutual TLS.
 */
import { Topology } from '@trellis/schema';
import { expect, test } from '../support/auth.ts';
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

const POLICY = 'deny-service-a-to-service-b';
const CHAIN = [
  ['ingress', 'service-a'],
  ['service-a', 'service-b'],
  ['service-b', 'service-c'],
] as const;

async function viaIngress(): Promise<{ status: number; body: string }> {
  const res = await fetch(fromEnv('TRELLIS_E2E_INGRESS_URL'));
  return { status: res.status, body: await res.text() };
}

test('a deny policy made from an edge refuses those calls, marks the edge denied, and is deleted again', async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const errors = collectErrors(page);
  try {
    await page.goto(consoleUrl('/'));
    await expect(page.getByTestId('topology-graph')).toHaveAttribute('data-ready', 'true');
    await page.getByTestId('topology-edge-service-a-service-b').click();
    const panel = page.getByRole('complementary', { name: 'Calls from service-a to service-b' });
    await expect(panel.getByTestId('panel-denied')).toHaveText('0');
    await panel.getByRole('link', { name: 'Deny these calls…' }).click();
    await expect(page).toHaveURL(/\/authorization\/new\?destination=service-b&source=service-a&action=deny$/);

    const form = page.getByRole('form', { name: 'New authorization policy' });
    await expect(form.getByLabel('Name', { exact: true })).toHaveValue(POLICY);
    await expect(form.getByLabel('Destination')).toHaveValue('service-b');
    await expect(form.getByLabel('Action')).toHaveValue('deny');
    const callers = form.getByRole('group', { name: 'Rule 1: calling services' });
    await expect(callers.getByLabel('service-a')).toBeChecked();
    await expect(callers.getByLabel('ingress')).not.toBeChecked();

    // The API's schema refuses a caller that is no principal, on its field, before anything is sent.
    const others = form.getByLabel('Rule 1: other callers (SPIFFE IDs)');
    await others.fill('not-an-identity');
    await form.getByRole('button', { name: 'Review changes' }).click();
    await expect(form.getByTestId('field-error-rules[0].from')).toContainText('must be a SPIFFE ID');
    await expect(form.getByTestId('diff-preview')).toHaveCount(0);
    await others.fill('');

    await form.getByRole('button', { name: 'Review changes' }).click();
    const diff = form.getByTestId('diff-preview');
    await expect(diff.getByTestId('diff-action')).toContainText('– → deny');
    await expect(diff.getByTestId('diff-rules[0].from[0].principal')).toContainText('service:service-a');
    await page.screenshot({ path: artifact('authz-form.png'), fullPage: true });
    await diff.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(new RegExp(`/authorization/${POLICY}/edit\\?applied=\\d+$`));
    await expect(page.getByTestId('ack-indicator')).toHaveAttribute('data-done', 'true');

    // service-b's proxy now refuses service-a's calls; service-a answers the ingress with the 403 it got.
    await expect.poll(async () => (await viaIngress()).status, { timeout: 15_000 }).not.toBe(200);
    const refused = await viaIngress();
    expect(refused.body).toContain('403');

    // The edge is marked denied, with its count in the panel.
    await page.goto(consoleUrl('/'));
    const badge = page.getByTestId('topology-denied-service-a-service-b');
    await expect(badge).toBeVisible({ timeout: 30_000 });
    await expect.poll(async () => Number(await badge.getAttribute('data-denied'))).toBeGreaterThan(0);
    await page.getByTestId('topology-edge-service-a-service-b').click();
    await expect
      .poll(async () => Number(await panel.getByTestId('panel-denied').textContent()))
      .toBeGreaterThan(0);
    await expect(panel.getByTestId('panel-denied-badge')).toBeVisible();
    await page.screenshot({ path: artifact('topology-denied.png') });

    // Listed, then deleted in its form: the calls go through again.
    await page.goto(consoleUrl('/authorization'));
    await expect(page.getByTestId(`authz-row-${POLICY}`)).toContainText('Denies service-a → service-b');
    await page.getByRole('link', { name: POLICY }).click();
    const edit = page.getByRole('form', { name: `Authorization policy ${POLICY}` });
    page.once('dialog', (dialog) => void dialog.accept());
    await edit.getByRole('button', { name: 'Delete authorization policy' }).click();
    await expect(page.getByTestId('rule-deleted')).toBeVisible();
    await expect(page.getByTestId('ack-indicator')).toHaveAttribute('data-done', 'true');
    await expect.poll(async () => (await viaIngress()).status, { timeout: 15_000 }).toBe(200);
    await untilChainHealthy(request);
    expect(errors).toEqual([]);
  } finally {
    const left = await request.get(controlUrl(`/api/v1/authorization-policies/${POLICY}`));
    if (left.status() === 200) {
      const { version } = (await left.json()) as { version: number };
      const res = await request.delete(
        controlUrl(`/api/v1/authorization-policies/${POLICY}?version=${version}`),
      );
      await untilAcked(request, revisionOf(res));
    }
  }
});

test('a lock marks exactly the edges whose calls are mutual TLS', async ({ page, request }) => {
  const errors = collectErrors(page);
  await page.goto(consoleUrl('/'));
  await expect(page.getByTestId('topology-graph')).toHaveAttribute('data-ready', 'true');
  for (const [source, destination] of CHAIN) {
    await expect(page.getByTestId(`topology-edge-${source}-${destination}`)).toBeVisible();
  }
  const topology = Topology.parse(await (await request.get(controlUrl('/api/v1/topology'))).json());
  const secured = CHAIN.filter(([s, d]) =>
    topology.edges.some((e) => e.source === s && e.destination === d && e.mtls),
  );
  test.info().annotations.push({
    type: 'mtls edges',
    description: secured.map((e) => e.join('→')).join(', ') || 'none',
  });
  for (const [source, destination] of CHAIN) {
    const lock = page.getByTestId(`topology-mtls-${source}-${destination}`);
    if (secured.some(([s, d]) => s === source && d === destination)) {
      await expect(lock).toBeVisible();
      await expect(lock).toHaveAccessibleName('mTLS');
    } else {
      await expect(lock).toHaveCount(0);
    }
  }
  await page.getByTestId('topology-edge-service-a-service-b').click();
  const panel = page.getByRole('complementary', { name: 'Calls from service-a to service-b' });
  const abSecured = secured.some(([s, d]) => s === 'service-a' && d === 'service-b');
  await expect(panel.getByTestId('panel-mtls')).toHaveText(abSecured ? 'yes' : 'no');
  await page.screenshot({ path: artifact('topology-mtls.png') });
  expect(errors).toEqual([]);
});

test('a dry-run deny lets the calls through and marks the edge amber with what it would have denied', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  const name = 'e2e-dry-run-a-to-b';
  const created = await request.post(controlUrl('/api/v1/authorization-policies'), {
    data: {
      name,
      destination: 'service-b',
      action: 'deny',
      rules: [{ from: [{ principal: 'service:service-a' }] }],
      dryRun: true,
    },
  });
  expect(created.status()).toBe(201);
  try {
    await untilAcked(request, revisionOf(created));
    expect((await viaIngress()).status).toBe(200);
    await page.goto(consoleUrl('/'));
    const badge = page.getByTestId('topology-dry-run-denied-service-a-service-b');
    await expect(badge).toBeVisible({ timeout: 30_000 });
    await expect(badge).toContainText('would be denied');
    await expect(page.getByTestId('topology-denied-service-a-service-b')).toHaveCount(0);
    await page.getByTestId('topology-edge-service-a-service-b').click();
    const panel = page.getByRole('complementary', { name: 'Calls from service-a to service-b' });
    await expect
      .poll(async () => Number(await panel.getByTestId('panel-dry-run-denied').textContent()))
      .toBeGreaterThan(0);
    await expect(panel.getByTestId('panel-denied')).toHaveText('0');

    await page.goto(consoleUrl('/authorization'));
    await expect(page.getByTestId(`authz-row-${name}`)).toContainText('(dry run)');
    expect(errors).toEqual([]);
  } finally {
    const left = await request.get(controlUrl(`/api/v1/authorization-policies/${name}`));
    if (left.status() === 200) {
      const { version } = (await left.json()) as { version: number };
      const res = await request.delete(
        controlUrl(`/api/v1/authorization-policies/${name}?version=${version}`),
      );
      await untilAcked(request, revisionOf(res));
    }
  }
});
