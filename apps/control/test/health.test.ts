/** /healthz and /readyz, and what the API says while the database is unreachable: 503, never 500, no hang. */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/client.ts';
import { buildApp } from '../src/http/app.ts';
import { bearer, TEST_ADMIN_TOKEN } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';
import { freePort } from './support/ports.ts';

let t: TestControl;
beforeAll(async () => {
  t = await testControl();
});
afterAll(() => t.close());

describe('health', () => {
  it('answers /healthz and /readyz over a real port', async () => {
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('is not ready while migrations are pending', async () => {
    const app = await buildApp({
      db: t.db,
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      pendingMigrations: async () => ['29990101000000_later'],
    });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'TRELLIS_ERR_NOT_READY' });
    await app.close();
  });

  it('answers 503 problem+json when the database cannot be reached', async () => {
    const db = createDb(`postgresql://postgres:trellis@127.0.0.1:${await freePort()}/none`);
    const app = await buildApp({
      db,
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      pendingMigrations: async () => [],
      adminToken: TEST_ADMIN_TOKEN,
    });
    try {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ code: 'TRELLIS_ERR_DATABASE_UNAVAILABLE' });
      const list = await app.inject({ method: 'GET', url: '/api/v1/services', headers: bearer() });
      expect(list.statusCode).toBe(503);
      expect(list.headers['content-type']).toMatch(/problem\+json/);
      expect(list.json()).toMatchObject({ code: 'TRELLIS_ERR_DATABASE_UNAVAILABLE' });
      const write = await app.inject({
        method: 'POST',
        url: '/api/v1/services',
        payload: JSON.stringify({ name: 'a', port: 1 }),
        headers: { ...bearer(), 'content-type': 'application/json' },
      });
      expect(write.statusCode).toBe(503);
    } finally {
      await app.close();
      await db.$disconnect();
    }
  });
});
