/**
 * The console is told of changes as they happen: its event feed (a WebSocket to the console's own origin,
 * forwarded to the control plane) announces each revision, and the page on screen refetches what it changed.
 * A rule created and deleted through the API shows up and goes away on an open service page well within its
 * fallback polling interval (10 s), with no reload.
 */

import { MeshEvent } from '@trellis/schema';
import { expect, test } from '../support/auth.ts';
import { consoleUrl, controlUrl, revisionOf } from '../support/env.ts';

const PROBE = 'e2e-live-probe';

test('a rule created and deleted through the API appears and disappears on the open page, pushed by the event feed', async ({
  page,
  request,
}) => {
  const revisions: number[] = [];
  page.on('websocket', (ws) => {
    if (!ws.url().endsWith('/api/v1/stream/events')) return;
    ws.on('framereceived', ({ payload }) => {
      const event = MeshEvent.safeParse(JSON.parse(String(payload)));
      if (event.success && event.data.type === 'revision') revisions.push(event.data.revision);
    });
  });
  await page.goto(consoleUrl('/services/service-c'));
  await expect(page.getByTestId('feed-state')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('feed-state')).toHaveText('Live');
  await expect(page.getByTestId('route-row-service-c-retries')).toBeVisible();

  try {
    const created = await request.post(controlUrl('/api/v1/routes'), {
      data: {
        name: PROBE,
        service: 'service-c',
        priority: 900,
        match: [{ headers: [{ name: 'x-e2e-live', exact: 'yes' }] }],
        destinations: [{ subset: {}, weight: 100 }],
      },
    });
    expect(created.status()).toBe(201);
    const revision = revisionOf(created);
    await expect(page.getByTestId(`route-row-${PROBE}`)).toBeVisible({ timeout: 5000 });
    expect(revisions).toContain(revision);
  } finally {
    const current = await request.get(controlUrl(`/api/v1/routes/${PROBE}`));
    if (current.ok()) {
      const removed = await request.delete(controlUrl(`/api/v1/routes/${PROBE}`));
      expect(removed.status()).toBeLessThan(300);
    }
  }
  await expect(page.getByTestId(`route-row-${PROBE}`)).toHaveCount(0, { timeout: 5000 });
});
