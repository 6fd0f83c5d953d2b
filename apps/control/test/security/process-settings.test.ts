/**
 * The security settings reach the API of the process `npm start` runs, not only an app built in a test: before
 * this, startControlPlane built the API without TRELLIS_JSON_MAX_DEPTH, TRELLIS_TRUSTED_PROXIES,
 * TRELLIS_CONSOLE_ORIGINS or the security log, so every one of them was ignored outside the unit tests.
 */
import { EVENTS_STREAM_PATH } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ControlPlane } from '../../src/server.ts';
import { bearer, TEST_ADMIN_PASSWORD } from '../support/api.ts';
import { createDatabase } from '../support/db.ts';
import { deadline, eventually, startPlane } from '../support/proxy-client.ts';

const CONSOLE_ORIGIN = 'https://console.example';
let plane: ControlPlane;

beforeAll(async () => {
  plane = await startPlane(await createDatabase('process_settings'), {
    jsonMaxDepth: 8,
    trustedProxies: ['loopback'],
    consoleOrigins: [CONSOLE_ORIGIN],
  });
});
afterAll(async () => {
  await plane?.stop();
});

function login(body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${plane.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

function upgradeStatus(headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(`${plane.url.replace(/^http/, 'ws')}${EVENTS_STREAM_PATH}`, { headers });
  return deadline(
    new Promise((resolve) => {
      ws.on('upgrade', (res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      ws.on('error', () => {});
    }),
    5000,
    'the answer to the upgrade',
  );
}

describe('the running control plane applies its security settings', () => {
  it('TRELLIS_JSON_MAX_DEPTH: a body one level deeper than 8 is refused', async () => {
    // Depth 8 (the object and seven arrays) is read, and refused only as a login with an unknown field.
    const ok = await login(`{"username":"x","password":"y","pad":${'['.repeat(7)}${']'.repeat(7)}}`);
    expect(ok.status).toBe(400);
    expect(((await ok.json()) as { code: string }).code).not.toBe('TRELLIS_ERR_TOO_DEEP');
    const deep = await login(`{"username":"x","password":"y","pad":${'['.repeat(8)}${']'.repeat(8)}}`);
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as { code: string }).code).toBe('TRELLIS_ERR_TOO_DEEP');
  });

  it('TRELLIS_TRUSTED_PROXIES and the security log: a failed login is logged with the forwarded address', async () => {
    const res = await login(JSON.stringify({ username: 'admin', password: 'wrong-password' }), {
      'x-forwarded-for': '203.0.113.77',
    });
    expect(res.status).toBe(401);
    const event = await eventually(async () => {
      const page = await fetch(`${plane.url}/api/v1/security-events?action=login.failure&limit=50`, {
        headers: bearer(),
      });
      const items = ((await page.json()) as { items: Array<{ remote: string | null; subject: string }> })
        .items;
      return items.find((e) => e.remote === '203.0.113.77');
    }, 'the failed login in the security log');
    expect(event.subject).toBe('admin');
  });

  it('TRELLIS_CONSOLE_ORIGINS: a page of the named console may open a feed with the session cookie', async () => {
    const res = await login(JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }));
    expect(res.status).toBe(200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(await upgradeStatus({ cookie, origin: CONSOLE_ORIGIN })).toBe(101);
    expect(await upgradeStatus({ cookie, origin: 'https://evil.example' })).toBe(403);
  });
});
