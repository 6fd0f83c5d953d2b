/**
 * History and rollback against the live demo mesh: a change to the canary split made through the API shows at the
 * top of the history page, the revision before it shows the split that differs side by side, and a rollback to
 * that revision (after a confirm step) reaches every proxy, puts the route back to 90/10 and sends service-b's
 * traffic back to mostly v1. The seeded split is put back in any case.
 */
import type { APIRequestContext } from '@playwright/test';
import { pageOf, RevisionSummary, type RouteRule } from '@trellis/schema';
import { ADMIN_USER, expect, test } from '../support/auth.ts';
import {
  artifact,
  collectErrors,
  consoleUrl,
  controlUrl,
  getRoute,
  replaceRoute,
  serviceBVersions,
  untilAcked,
  withWeights,
} from '../support/env.ts';

const CANARY = 'service-b-canary';

const getCanary = (request: APIRequestContext): Promise<RouteRule> => getRoute(request, CANARY);

const weights = (rule: RouteRule) =>
  Object.fromEntries(rule.destinations.map((d) => [d.subset.version ?? '', d.weight]));

/** Replaces the canary's weights (by version label) with the version it is at now. */
const putWeights = (request: APIRequestContext, split: Record<string, number>): Promise<number> =>
  replaceRoute(request, CANARY, (spec) => ({ ...spec, destinations: withWeights(spec.destinations, split) }));

const SEEDED = { v1: 90, v2: 10 };

test('a canary change shows in the history; rolling back to the revision before it restores 90/10 everywhere', async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  try {
    expect(weights(await getCanary(request))).toEqual(SEEDED);
    const latestConfig = pageOf(RevisionSummary).parse(
      await (await request.get(controlUrl('/api/v1/revisions?kind=config&limit=1'))).json(),
    );
    const before = latestConfig.items[0]?.revision ?? 0;
    expect(before).toBeGreaterThan(0);

    const changed = await putWeights(request, { v1: 0, v2: 100 });
    await untilAcked(request, changed, { timeout: 15_000 });
    await expect
      .poll(async () => [...new Set(await serviceBVersions(20))], { timeout: 15_000 })
      .toEqual(['v2']);

    // The change is at the top of the history, the revision before it right below (config revisions only).
    await page.goto(consoleUrl('/history'));
    await expect(page.getByRole('heading', { level: 1, name: 'History' })).toBeVisible();
    const rows = page.getByTestId('revision-list').locator('tbody tr');
    await expect(rows.first()).toHaveAttribute('data-testid', `revision-row-${changed}`);
    await expect(rows.first()).toContainText(`update route ${CANARY}`);
    // Made through the API with the stack's admin token, which the audit names.
    await expect(rows.first()).toContainText('token:TRELLIS_ADMIN_TOKEN');
    await expect(rows.nth(1)).toHaveAttribute('data-testid', `revision-row-${before}`);

    // Its diff against now: only the canary differs, by its weights.
    await rows
      .nth(1)
      .getByRole('button', { name: `Show revision ${before}` })
      .click();
    const diff = page.getByTestId(`resource-diff-route-${CANARY}`);
    await expect(diff).toHaveAttribute('data-change', 'changed');
    await expect(page.getByTestId('config-diff').locator('[data-testid^="resource-diff-"]')).toHaveCount(1);
    await expect(diff.locator('[data-side="left"][data-changed="true"]')).toHaveText([
      /"weight": 90/,
      /"weight": 10/,
    ]);
    await expect(diff.locator('[data-side="right"][data-changed="true"]')).toHaveText([
      /"weight": 0/,
      /"weight": 100/,
    ]);

    await page.screenshot({ path: artifact('history.png'), fullPage: true });

    // Rollback, confirmed; every connected proxy acks the new revision.
    await page.getByRole('button', { name: `Rollback to revision ${before}`, exact: true }).click();
    const confirm = page.getByRole('button', { name: 'Confirm rollback' });
    await expect(confirm).toBeFocused();
    await confirm.click();
    const result = page.getByTestId('rollback-result');
    await expect(result).toContainText(`Rolled back to revision ${before}: new mesh revision`);
    await expect(result).toContainText(`update route ${CANARY}`);
    const ack = result.getByTestId('ack-indicator');
    await expect(ack).toHaveAttribute('data-done', 'true');
    const connected = await ack.getAttribute('data-connected');
    expect(Number(connected)).toBeGreaterThan(0);
    await expect(ack).toHaveText(`✓ ${connected} / ${connected} proxies have the change`);

    // The rollback is the newest revision, and the diff now shows no difference.
    await expect(rows.first()).toContainText(`rollback to revision ${before}`);
    await expect(page.getByTestId('diff-none')).toBeVisible();
    await page.screenshot({ path: artifact('history-rollback.png'), fullPage: true });

    // Through the API: the route is back to 90/10, as one revision after the change.
    const restored = await getCanary(request);
    expect(weights(restored)).toEqual(SEEDED);
    const newest = pageOf(RevisionSummary).parse(
      await (await request.get(controlUrl('/api/v1/revisions?kind=config&limit=1'))).json(),
    ).items[0];
    // Rolled back in the console by the signed-in admin, whose name the audit keeps.
    expect(newest).toMatchObject({ summary: `rollback to revision ${before}`, actor: `user:${ADMIN_USER}` });

    // Traffic follows: service-b's answers come mostly from v1 again.
    await expect
      .poll(
        async () => {
          const versions = await serviceBVersions(40);
          return versions.filter((v) => v === 'v1').length / Math.max(1, versions.length);
        },
        { timeout: 15_000 },
      )
      .toBeGreaterThan(0.6);
    // Endpoint revisions (the demo's proxies registering) show only on request.
    await expect(page.getByTestId('revision-list').locator('.history-kind-endpoints')).toHaveCount(0);
    await page.getByLabel('Include endpoint revisions', { exact: false }).check();
    await expect(page.getByTestId('revision-list').locator('.history-kind-endpoints').first()).toBeVisible();
    expect(errors).toEqual([]);
  } finally {
    const rule = await getCanary(request);
    if (JSON.stringify(weights(rule)) !== JSON.stringify(SEEDED)) {
      await untilAcked(request, await putWeights(request, SEEDED), { timeout: 15_000 });
    }
  }
});
