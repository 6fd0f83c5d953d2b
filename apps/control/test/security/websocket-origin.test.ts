/**
 * M8 §5: the console's WebSocket feeds, signed in by the session cookie, check Origin. The attack (cross-site
 * WebSocket hijacking): a page on another site opens the feed; the browser sends the console's cookie with the
 * handshake, and no CORS applies to WebSockets, so the page read the live mesh as the signed-in user. Here a
 * cookie-authenticated upgrade must come from a page whose origin is the host it was sent to (the console's, as its
 * server forwards it in X-Forwarded-Host, or the control plane's own) or one of TRELLIS_CONSOLE_ORIGINS; a bearer
 * token, which a browser never adds by itself, needs no Origin.
 */
import { EVENTS_STREAM_PATH, TELEMETRY_STREAM_PATH } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { pageMayUseSession } from '../../src/auth/origin.ts';
import { loadConfig } from '../../src/config.ts';
import type { ControlPlane } from '../../src/server.ts';
import { bearer, TEST_ADMIN_PASSWORD } from '../support/api.ts';
import { createDatabase } from '../support/db.ts';
import { deadline, startPlane } from '../support/proxy-client.ts';

let plane: ControlPlane;
let cookie: string;

beforeAll(async () => {
  plane = await startPlane(await createDatabase('wsorigin'));
  const res = await fetch(`${plane.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }),
  });
  expect(res.status).toBe(200);
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
});
afterAll(async () => {
  await plane?.stop();
});

/** How the upgrade is answered: 101 when it is accepted, else the status and its body. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { headers });
  return deadline(
    new Promise((resolve) => {
      ws.on('upgrade', (res) => {
        resolve({ status: res.statusCode ?? 0, body: '' });
        ws.terminate();
      });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      ws.on('error', () => {});
    }),
    5000,
    `the answer to the upgrade of ${url}`,
  );
}

const status = async (url: string, headers: Record<string, string>) => (await upgrade(url, headers)).status;

const feeds = () =>
  [EVENTS_STREAM_PATH, TELEMETRY_STREAM_PATH].map((p) => `${plane.url.replace(/^http/, 'ws')}${p}`);

describe('Origin on the console’s WebSocket feeds', () => {
  it('a page of another site cannot open a feed with the session cookie', async () => {
    const host = new URL(plane.url).host;
    for (const url of feeds()) {
      expect(await status(url, { cookie, origin: 'http://evil.example' }), url).toBe(403);
      // Nor a page on another port of the same host, nor one that names the host in its path.
      expect(await status(url, { cookie, origin: `http://${host.split(':')[0]}:1` }), url).toBe(403);
      expect(await status(url, { cookie, origin: `http://evil.example/${host}` }), url).toBe(403);
      // Nor another site's page sent through the console's server: the console's host is not the page's.
      expect(
        await status(url, {
          cookie,
          origin: 'http://evil.example',
          'x-forwarded-host': 'console.example:3000',
        }),
        url,
      ).toBe(403);
      // A browser always sends Origin on a WebSocket: a cookie without one is no browser's page.
      expect(await status(url, { cookie }), url).toBe(403);
    }
    const refused = await upgrade(feeds()[0] as string, { cookie, origin: 'http://evil.example' });
    expect(JSON.parse(refused.body)).toMatchObject({ status: 403, code: 'TRELLIS_ERR_BAD_ORIGIN' });
    expect(JSON.parse(refused.body).detail).toMatch(/http:\/\/evil\.example/);
  });

  it('the console’s own pages can: through the console’s server, and straight to the control plane', async () => {
    for (const url of feeds()) {
      // Through the console's server, which keeps the Host the browser sent in X-Forwarded-Host.
      const viaConsole = {
        cookie,
        origin: 'http://console.example:3000',
        'x-forwarded-host': 'console.example:3000',
      };
      expect(await status(url, viaConsole), url).toBe(101);
      expect(await status(url, { cookie, origin: plane.url }), url).toBe(101);
    }
  });

  it('a bearer token needs no Origin: a browser never adds one by itself', async () => {
    for (const url of feeds()) expect(await status(url, bearer()), url).toBe(101);
  });

  it('TRELLIS_CONSOLE_ORIGINS names more origins the console is served from', () => {
    expect(loadConfig({}).consoleOrigins).toEqual([]);
    expect(
      loadConfig({ TRELLIS_CONSOLE_ORIGINS: 'https://console.example.com, http://10.0.0.5:3000' })
        .consoleOrigins,
    ).toEqual(['https://console.example.com', 'http://10.0.0.5:3000']);
    for (const bad of ['console.example.com', 'https://console.example.com/path', 'ftp://x.example']) {
      expect(() => loadConfig({ TRELLIS_CONSOLE_ORIGINS: bad }), bad).toThrow(/TRELLIS_CONSOLE_ORIGINS/);
    }
    const allowed = (headers: Record<string, string>) =>
      pageMayUseSession(headers, ['https://console.example.com']);
    expect(allowed({ host: '127.0.0.1:7070', origin: 'https://console.example.com' })).toBe(true);
    expect(allowed({ host: '127.0.0.1:7070', origin: 'https://console.example.com:8443' })).toBe(false);
    expect(allowed({ host: '127.0.0.1:7070', origin: 'http://console.example.com' })).toBe(false);
  });
});
