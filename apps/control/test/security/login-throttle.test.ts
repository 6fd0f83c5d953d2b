/**
 * M8 §4: login throttling holds under concurrency and counts each client, not the proxy in front of it. The
 * attacks: 40 wrong-password logins for one user sent at once all reached the password check past the limit of 5
 * (each checked the count before any had failed); and behind the console every browser shared the console's
 * address, so one guesser locked everyone out, while a direct caller could pick any address with X-Forwarded-For.
 * Here an attempt is counted before its password hash runs; X-Forwarded-For is believed only from the configured
 * trusted proxies (TRELLIS_TRUSTED_PROXIES).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/auth/rate-limit.ts';
import { loadConfig } from '../../src/config.ts';
import { call } from '../support/api.ts';
import { type TestControl, testControl } from '../support/db.ts';

/** Where the console runs in these tests; the control plane trusts it. */
const CONSOLE = '10.1.0.5';
let t: TestControl;

beforeAll(async () => {
  t = await testControl({ app: { trustedProxies: [CONSOLE, '192.0.2.0/24'] } });
  for (const username of ['target', 'other']) {
    const created = await call(t.app, 'POST', '/api/v1/users', {
      username,
      role: 'viewer',
      password: `${username}-password-1`,
    });
    expect(created.status).toBe(201);
  }
});
afterAll(async () => {
  await t.close();
});

function login(username: string, password: string, remoteAddress: string, forwardedFor?: string) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress,
    headers: {
      'content-type': 'application/json',
      ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
    },
    payload: JSON.stringify({ username, password }),
  });
}

describe('login throttling', () => {
  it('40 wrong passwords at once for one user: at most 5 reach the password check, the rest get 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => login('target', `wrong-password-${i}`, `198.51.100.${i + 1}`)),
    );
    const statuses = answers.map((a) => a.statusCode);
    const checked = statuses.filter((s) => s === 401).length;
    expect(checked, statuses.join(' ')).toBeLessThanOrEqual(5);
    expect(checked).toBeGreaterThan(0);
    for (const a of answers.filter((r) => r.statusCode !== 401)) {
      expect(a.statusCode).toBe(429);
      expect(a.json().code).toBe('TRELLIS_ERR_RATE_LIMITED');
      expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Even the right password waits now.
    expect((await login('target', 'target-password-1', '198.51.100.200')).statusCode).toBe(429);
  });

  it('a success frees its attempt: parallel right-password logins all get in', async () => {
    const limiter = new LoginLimiter({ max: 2 });
    const own = await testControl({ loginLimiter: limiter });
    try {
      await call(own.app, 'POST', '/api/v1/users', {
        username: 'u',
        role: 'viewer',
        password: 'u-password-0001',
      });
      const ok = await Promise.all(
        Array.from({ length: 2 }, () =>
          own.app.inject({
            method: 'POST',
            url: '/api/v1/auth/login',
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify({ username: 'u', password: 'u-password-0001' }),
          }),
        ),
      );
      expect(ok.map((r) => r.statusCode)).toEqual([200, 200]);
      const again = await own.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ username: 'u', password: 'u-password-0001' }),
      });
      expect(again.statusCode).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('behind a trusted proxy, two clients do not share a bucket', async () => {
    // Five failures from one browser behind the console, each for a different name, lock out that address ...
    for (let i = 0; i < 5; i++) {
      expect((await login(`guess-${i}`, 'wrong-password', CONSOLE, '203.0.113.7')).statusCode).toBe(401);
    }
    expect((await login('guess-5', 'wrong-password', CONSOLE, '203.0.113.7')).statusCode).toBe(429);
    // ... and only that one: another browser behind the same console still signs in.
    expect((await login('other', 'other-password-1', CONSOLE, '203.0.113.8')).statusCode).toBe(200);
    // A chain through two trusted proxies is followed to the first address not trusted.
    expect((await login('guess-6', 'wrong-password', CONSOLE, '203.0.113.7, 192.0.2.1')).statusCode).toBe(
      429,
    );
  });

  it('a direct caller cannot choose its address with X-Forwarded-For', async () => {
    const attacker = '198.18.0.66';
    for (let i = 0; i < 5; i++) {
      const res = await login(`spoof-${i}`, 'wrong-password', attacker, `203.0.114.${i}`);
      expect(res.statusCode).toBe(401);
    }
    expect((await login('spoof-5', 'wrong-password', attacker, '203.0.114.99')).statusCode).toBe(429);
  });

  it('TRELLIS_TRUSTED_PROXIES: addresses, CIDR ranges and "loopback"; none by default', () => {
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(loadConfig({ TRELLIS_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8,::1' }).trustedProxies).toEqual([
      'loopback',
      '10.0.0.0/8',
      '::1',
    ]);
    expect(() => loadConfig({ TRELLIS_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/TRELLIS_TRUSTED_PROXIES/);
    expect(() => loadConfig({ TRELLIS_TRUSTED_PROXIES: 'console.local' })).toThrow(/TRELLIS_TRUSTED_PROXIES/);
  });
});
