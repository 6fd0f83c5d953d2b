/** /healthz and /readyz, and what the API says while the database is unreachable: 503, never 500, no hang. */
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/client.ts';
import { buildApp, KEEP_ALIVE_TIMEOUT_MS } from '../src/http/app.ts';
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

  it('keeps an idle keep-alive connection open past the 5 s after which Node clients drop theirs (7 s here)', async () => {
    // Regression: with Node's default of 5 s on both sides, the server closed idle connections just as the console's
    // forwarding reused them, and the console answered 500.
    const app = await buildApp({
      db: t.db,
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      pendingMigrations: async () => [],
    });
    const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
    const socket = net.connect(Number(base.port), '127.0.0.1');
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    const answers: string[] = [];
    socket.on('data', (chunk: Buffer) => answers.push(chunk.toString('latin1')));
    const get = () => socket.write(`GET /healthz HTTP/1.1\r\nhost: ${base.host}\r\n\r\n`);
    get();
    await new Promise((resolve) => setTimeout(resolve, 7000));
    expect(closed).toBe(false);
    get();
    await new Promise<void>((resolve) => {
      const check = () =>
        answers.join('').split('HTTP/1.1 200').length === 3 ? resolve() : setTimeout(check, 10);
      check();
    });
    socket.destroy();
    expect(app.server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
    await app.close();
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
