/** API-registered endpoints expire unless a heartbeat renews them; other sources never expire. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapExpiredEndpoints, TTL_ACTOR } from '../src/store/endpoints.ts';
import { call } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let now = Date.parse('2026-01-01T00:00:00Z');
const advance = (ms: number) => {
  now += ms;
};
let t: TestControl;
beforeAll(async () => {
  t = await testControl({ clock: () => new Date(now) });
  await call(t.app, 'POST', '/api/v1/services', { name: 'ttl', port: 80 });
});
afterAll(() => t.close());

describe('endpoint TTL', () => {
  it('renews on heartbeat, expires without, and records the removal', async () => {
    const api = await call(t.app, 'POST', '/api/v1/services/ttl/endpoints', {
      address: '10.0.0.1',
      port: 80,
      ttlSeconds: 30,
    });
    const fixed = await call(t.app, 'POST', '/api/v1/services/ttl/endpoints', {
      address: '10.0.0.2',
      port: 80,
      source: 'static',
    });
    expect(api.body.expiresAt).toBe(new Date(now + 30_000).toISOString());
    expect(fixed.body.expiresAt).toBeNull();

    advance(20_000);
    expect(await reapExpiredEndpoints(t.store)).toBe(0);
    const hb = await call(t.app, 'POST', `/api/v1/services/ttl/endpoints/${api.body.id}/heartbeat`);
    expect(hb.status).toBe(200);
    expect(hb.body.lastSeen).toBe(new Date(now).toISOString());
    expect(hb.body.expiresAt).toBe(new Date(now + 30_000).toISOString());

    advance(29_000);
    expect(await reapExpiredEndpoints(t.store)).toBe(0);
    advance(2_000);
    expect(await reapExpiredEndpoints(t.store)).toBe(1);

    const left = await call(t.app, 'GET', '/api/v1/services/ttl/endpoints');
    expect(left.body.items.map((e: { id: string }) => e.id)).toEqual([fixed.body.id]);
    const audit = await call(t.app, 'GET', '/api/v1/audit?kind=endpoint&limit=1');
    expect(audit.body.items[0]).toMatchObject({
      action: 'delete',
      actor: TTL_ACTOR,
      resourceId: api.body.id,
    });

    const late = await call(t.app, 'POST', `/api/v1/services/ttl/endpoints/${api.body.id}/heartbeat`);
    expect(late.status).toBe(404);
  });

  it('a heartbeat on an endpoint past its expiry but not yet swept is refused', async () => {
    const ep = await call(t.app, 'POST', '/api/v1/services/ttl/endpoints', {
      address: '10.0.0.3',
      port: 80,
      ttlSeconds: 5,
    });
    advance(6_000);
    const hb = await call(t.app, 'POST', `/api/v1/services/ttl/endpoints/${ep.body.id}/heartbeat`);
    expect(hb.status).toBe(404);
    expect(await reapExpiredEndpoints(t.store)).toBe(1);
  });
});
