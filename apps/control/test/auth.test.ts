/**
 * Authentication and roles on the REST API, against real Postgres: credentials are required everywhere but the
 * health routes and login; viewer < editor < admin on every route; API tokens expire, are revoked and are shown
 * once; console sessions come with a cookie and a CSRF token; failed logins are rate-limited; the audit log names
 * the real actor.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../src/auth/guard.ts';
import { LoginLimiter } from '../src/auth/rate-limit.ts';
import { ensureFirstAdmin } from '../src/auth/store.ts';
import { buildApp } from '../src/http/app.ts';
import { type ApiResponse, bearer, call } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

const ADMIN_PASSWORD = 'first-admin-password';
let now = Date.UTC(2026, 10, 26, 12, 0, 0);
const clock = () => new Date(now);
let limiterNow = 0;
let t: TestControl;
let dir: string;
let passwordFile: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-auth-'));
  passwordFile = path.join(dir, 'initial-admin-password');
  await fs.writeFile(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  t = await testControl({
    clock,
    loginLimiter: new LoginLimiter({ now: () => limiterNow }),
    initialPasswordFile: passwordFile,
  });
  expect(await ensureFirstAdmin(t.store, ADMIN_PASSWORD)).toBe(true);
  expect(await ensureFirstAdmin(t.store, 'another-password')).toBe(false);
});
afterAll(async () => {
  await t.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Forgets failed logins (the limiter's clock jumps past its window). */
function forgetFailures() {
  limiterNow += 16 * 60_000;
}

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function login(
  username: string,
  password: string,
  ip = '127.0.0.1',
  headers: Record<string, string> = {},
) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress: ip,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify({ username, password }),
  });
  return res;
}

async function session(username: string, password: string): Promise<Session> {
  const res = await login(username, password);
  expect(res.statusCode, res.body).toBe(200);
  const setCookie = String(res.headers['set-cookie']);
  return { cookie: setCookie.split(';')[0] as string, csrf: res.json().csrfToken, setCookie };
}

/** A call with a session cookie (and the CSRF header when `csrf` is given). */
function withCookie(s: Session, csrf: string | null = s.csrf) {
  return { token: null, headers: { cookie: s.cookie, ...(csrf === null ? {} : { 'x-trellis-csrf': csrf }) } };
}

async function newToken(role: string, extra: object = {}): Promise<string> {
  const res = await call(t.app, 'POST', '/api/v1/tokens', {
    name: `${role}-${now}-${Math.random()}`,
    role,
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.token;
}

function expectProblem(res: ApiResponse, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
}

const route = (name: string) => ({ name, service: 'svc' });

describe('authentication', () => {
  it('refuses a request without credentials with 401 and a Bearer challenge; health and login are public', async () => {
    const res = await call(t.app, 'GET', '/api/v1/services', undefined, { token: null });
    expectProblem(res, 401, 'TRELLIS_ERR_UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="trellis"');
    expectProblem(
      await call(t.app, 'POST', '/api/v1/services', { name: 'x', port: 1 }, { token: null }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    expectProblem(
      await call(t.app, 'GET', '/api/v1/no-such-route', undefined, { token: null }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    expectProblem(
      await call(t.app, 'GET', '/api/v1/services', undefined, { token: 'trellis_not-a-token' }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    expectProblem(
      await call(t.app, 'GET', '/api/v1/services', undefined, {
        token: null,
        headers: { authorization: 'Basic YTpi' },
      }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    expect((await call(t.app, 'GET', '/healthz', undefined, { token: null })).status).toBe(200);
    expect((await call(t.app, 'GET', '/readyz', undefined, { token: null })).status).toBe(200);
    expect((await login('admin', ADMIN_PASSWORD)).statusCode).toBe(200);
  });

  it('viewer reads but may not write (403 naming the role); editor edits routes but not users; admin does both', async () => {
    expect((await call(t.app, 'POST', '/api/v1/services', { name: 'svc', port: 80 })).status).toBe(201);
    const viewer = await newToken('viewer');
    const editor = await newToken('editor');
    const admin = await newToken('admin');

    expect((await call(t.app, 'GET', '/api/v1/services', undefined, { token: viewer })).status).toBe(200);
    expect((await call(t.app, 'GET', '/api/v1/revisions', undefined, { token: viewer })).status).toBe(200);
    const denied = await call(t.app, 'POST', '/api/v1/routes', route('by-viewer'), { token: viewer });
    expectProblem(denied, 403, 'TRELLIS_ERR_FORBIDDEN');
    expect(denied.body.detail).toContain('editor');
    expectProblem(
      await call(t.app, 'GET', '/api/v1/users', undefined, { token: viewer }),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    expect(await t.db.routeRule.count({ where: { name: 'by-viewer' } })).toBe(0);

    expect((await call(t.app, 'POST', '/api/v1/routes', route('by-editor'), { token: editor })).status).toBe(
      201,
    );
    expect(
      (await call(t.app, 'DELETE', '/api/v1/routes/by-editor', undefined, { token: editor })).status,
    ).toBe(204);
    const users = await call(t.app, 'GET', '/api/v1/users', undefined, { token: editor });
    expectProblem(users, 403, 'TRELLIS_ERR_FORBIDDEN');
    expect(users.body.detail).toContain('admin');
    expectProblem(
      await call(
        t.app,
        'POST',
        '/api/v1/users',
        { username: 'eve', role: 'admin', password: 'x'.repeat(12) },
        { token: editor },
      ),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    expectProblem(
      await call(t.app, 'POST', '/api/v1/tokens', { name: 'x', role: 'admin' }, { token: editor }),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    expectProblem(
      await call(t.app, 'GET', '/api/v1/join-tokens', undefined, { token: editor }),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );

    expect((await call(t.app, 'POST', '/api/v1/routes', route('by-admin'), { token: admin })).status).toBe(
      201,
    );
    expect((await call(t.app, 'GET', '/api/v1/users', undefined, { token: admin })).status).toBe(200);
  });

  it('an expired token and a revoked token get 401', async () => {
    const soon = await newToken('viewer', { expiresInDays: 1 });
    expect((await call(t.app, 'GET', '/api/v1/services', undefined, { token: soon })).status).toBe(200);
    now += 86_400_000 + 1000;
    expectProblem(
      await call(t.app, 'GET', '/api/v1/services', undefined, { token: soon }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );

    const created = await call(t.app, 'POST', '/api/v1/tokens', { name: 'to-revoke', role: 'editor' });
    expect(
      (await call(t.app, 'GET', '/api/v1/services', undefined, { token: created.body.token })).status,
    ).toBe(200);
    expect((await call(t.app, 'DELETE', `/api/v1/tokens/${created.body.id}`)).status).toBe(204);
    expectProblem(
      await call(t.app, 'GET', '/api/v1/services', undefined, { token: created.body.token }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    const listed = await call(t.app, 'GET', '/api/v1/tokens');
    expect(listed.body.items.find((i: { id: string }) => i.id === created.body.id).revokedAt).not.toBeNull();
    expectProblem(await call(t.app, 'DELETE', '/api/v1/tokens/not-an-id'), 404, 'TRELLIS_ERR_NOT_FOUND');
  });

  it('shows a token once: the list never has it and the database holds only its SHA-256', async () => {
    const created = await call(t.app, 'POST', '/api/v1/tokens', {
      name: 'ci',
      role: 'editor',
      expiresInDays: 30,
    });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^trellis_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({
      name: 'ci',
      role: 'editor',
      createdBy: 'token:TRELLIS_ADMIN_TOKEN',
      revokedAt: null,
    });
    expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt)).toBe(30 * 86_400_000);

    const listed = await call(t.app, 'GET', '/api/v1/tokens');
    const item = listed.body.items.find((i: { id: string }) => i.id === created.body.id);
    expect(item).toMatchObject({ name: 'ci', role: 'editor', lastUsedAt: null });
    expect(item.token).toBeUndefined();
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

    const row = await t.db.apiToken.findUniqueOrThrow({ where: { id: created.body.id } });
    expect(row.tokenHash).toBe(createHash('sha256').update(created.body.token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(created.body.token.slice('trellis_'.length));

    await call(t.app, 'GET', '/api/v1/services', undefined, { token: created.body.token });
    const used = await call(t.app, 'GET', '/api/v1/tokens');
    expect(used.body.items.find((i: { id: string }) => i.id === created.body.id).lastUsedAt).toBe(
      clock().toISOString(),
    );

    expectProblem(
      await call(t.app, 'POST', '/api/v1/tokens', { name: 'x', role: 'root' }),
      400,
      'TRELLIS_ERR_VALIDATION',
    );
    const bad = await call(t.app, 'POST', '/api/v1/tokens', { name: 'x', role: 'viewer', expiresInDays: 0 });
    expectProblem(bad, 400, 'TRELLIS_ERR_VALIDATION');
    expect(bad.body.errors[0].path).toBe('expiresInDays');
  });
});

describe('console sessions', () => {
  it('logs in with a cookie; a cookie write needs the CSRF header; a bearer write does not', async () => {
    const res = await login('admin', ADMIN_PASSWORD);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toEqual({ username: 'admin', role: 'admin' });
    expect(Date.parse(body.expiresAt) - now).toBe(12 * 3600_000);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^trellis_session=[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure');
    const s: Session = { cookie: setCookie.split(';')[0] as string, csrf: body.csrfToken, setCookie };

    const me = await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(s, null));
    expect(me.body).toEqual({
      kind: 'session',
      username: 'admin',
      role: 'admin',
      csrfToken: s.csrf,
      tokenName: null,
    });
    expect((await call(t.app, 'GET', '/api/v1/services', undefined, withCookie(s, null))).status).toBe(200);

    const noCsrf = await call(
      t.app,
      'POST',
      '/api/v1/services',
      { name: 'from-console', port: 80 },
      withCookie(s, null),
    );
    expectProblem(noCsrf, 403, 'TRELLIS_ERR_CSRF');
    expectProblem(
      await call(
        t.app,
        'POST',
        '/api/v1/services',
        { name: 'from-console', port: 80 },
        withCookie(s, 'wrong'),
      ),
      403,
      'TRELLIS_ERR_CSRF',
    );
    expect(await t.db.service.count({ where: { name: 'from-console' } })).toBe(0);
    expect(
      (await call(t.app, 'POST', '/api/v1/services', { name: 'from-console', port: 80 }, withCookie(s)))
        .status,
    ).toBe(201);

    // Behind a TLS-terminating proxy the cookie is Secure.
    const tls = await login('admin', ADMIN_PASSWORD, '127.0.0.1', { 'x-forwarded-proto': 'https' });
    expect(String(tls.headers['set-cookie'])).toContain('; Secure');

    const viaToken = await call(t.app, 'GET', '/api/v1/auth/me');
    expect(viaToken.body).toEqual({
      kind: 'token',
      username: null,
      role: 'admin',
      csrfToken: null,
      tokenName: 'TRELLIS_ADMIN_TOKEN',
    });
  });

  it('logout ends the session and clears the cookie', async () => {
    const s = await session('admin', ADMIN_PASSWORD);
    expectProblem(
      await call(t.app, 'POST', '/api/v1/auth/logout', undefined, withCookie(s, null)),
      403,
      'TRELLIS_ERR_CSRF',
    );
    const out = await call(t.app, 'POST', '/api/v1/auth/logout', undefined, withCookie(s));
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^trellis_session=; .*Max-Age=0/);
    expectProblem(
      await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(s, null)),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
  });

  it('a session expires 12 h after login', async () => {
    const s = await session('admin', ADMIN_PASSWORD);
    now += 12 * 3600_000 - 1000;
    expect((await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(s, null))).status).toBe(200);
    now += 2000;
    expectProblem(
      await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(s, null)),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
  });

  it('answers a wrong password and an unknown user alike, and rate-limits after 5 failures', async () => {
    forgetFailures();
    const wrong = await login('admin', 'wrong-password-here');
    const unknown = await login('nobody', 'wrong-password-here');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().detail).toBe(wrong.json().detail);
    expect(unknown.headers['set-cookie']).toBeUndefined();

    forgetFailures();
    for (let i = 0; i < 5; i++) {
      expect((await login('admin', 'wrong-password-here', `10.0.0.${i}`)).statusCode).toBe(401);
    }
    // The sixth, even with the right password and from yet another address, is refused.
    const limited = await login('admin', ADMIN_PASSWORD, '10.0.0.99');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('TRELLIS_ERR_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);

    // One address trying many usernames is limited too.
    forgetFailures();
    for (let i = 0; i < 5; i++)
      expect((await login(`user-${i}`, 'wrong-password-here', '10.9.9.9')).statusCode).toBe(401);
    expect((await login('admin', ADMIN_PASSWORD, '10.9.9.9')).statusCode).toBe(429);
    expect((await login('admin', ADMIN_PASSWORD, '10.9.9.10')).statusCode).toBe(200);

    forgetFailures();
    expect((await login('admin', ADMIN_PASSWORD)).statusCode).toBe(200);
  });

  it("changes one's own password (sessions only), ending other sessions and removing the first-run file", async () => {
    forgetFailures();
    const mine = await session('admin', ADMIN_PASSWORD);
    const other = await session('admin', ADMIN_PASSWORD);
    const wrong = await call(
      t.app,
      'POST',
      '/api/v1/auth/password',
      { currentPassword: 'nope', newPassword: 'x'.repeat(12) },
      withCookie(mine),
    );
    expectProblem(wrong, 400, 'TRELLIS_ERR_VALIDATION');
    expect(wrong.body.errors[0].path).toBe('currentPassword');
    const short = await call(
      t.app,
      'POST',
      '/api/v1/auth/password',
      { currentPassword: ADMIN_PASSWORD, newPassword: 'short' },
      withCookie(mine),
    );
    expectProblem(short, 400, 'TRELLIS_ERR_VALIDATION');
    expect(short.body.errors[0].path).toBe('newPassword');
    expectProblem(
      await call(t.app, 'POST', '/api/v1/auth/password', {
        currentPassword: ADMIN_PASSWORD,
        newPassword: 'y'.repeat(12),
      }),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    await expect(fs.access(passwordFile)).resolves.toBeUndefined();

    const changed = await call(
      t.app,
      'POST',
      '/api/v1/auth/password',
      { currentPassword: ADMIN_PASSWORD, newPassword: 'the-new-admin-password' },
      withCookie(mine),
    );
    expect(changed.status).toBe(204);
    await expect(fs.access(passwordFile)).rejects.toThrow();
    expect((await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(mine, null))).status).toBe(200);
    expect((await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(other, null))).status).toBe(
      401,
    );
    expect((await login('admin', ADMIN_PASSWORD)).statusCode).toBe(401);
    expect((await login('admin', 'the-new-admin-password')).statusCode).toBe(200);
    // Put it back for the other tests.
    const again = await session('admin', 'the-new-admin-password');
    await call(
      t.app,
      'POST',
      '/api/v1/auth/password',
      { currentPassword: 'the-new-admin-password', newPassword: ADMIN_PASSWORD },
      withCookie(again),
    );
    forgetFailures();
  });
});

describe('users', () => {
  it('lists, creates, changes and deletes users; never the last admin', async () => {
    const created = await call(t.app, 'POST', '/api/v1/users', {
      username: 'alice',
      role: 'viewer',
      password: 'alice-password-1',
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ username: 'alice', role: 'viewer', createdAt: clock().toISOString() });
    expect(created.body.password).toBeUndefined();
    expectProblem(
      await call(t.app, 'POST', '/api/v1/users', {
        username: 'alice',
        role: 'viewer',
        password: 'alice-password-1',
      }),
      409,
      'TRELLIS_ERR_ALREADY_EXISTS',
    );
    const bad = await call(t.app, 'POST', '/api/v1/users', {
      username: 'Alice!',
      role: 'viewer',
      password: 'short',
    });
    expectProblem(bad, 400, 'TRELLIS_ERR_VALIDATION');
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['password', 'username']);

    const list = await call(t.app, 'GET', '/api/v1/users');
    expect(list.body).toEqual({
      items: [
        { username: 'admin', role: 'admin', createdAt: expect.any(String) },
        { username: 'alice', role: 'viewer', createdAt: expect.any(String) },
      ],
      nextCursor: null,
    });
    const page = await call(t.app, 'GET', '/api/v1/users?limit=1');
    expect(page.body.items).toHaveLength(1);
    expect(page.body.nextCursor).toEqual(expect.any(String));

    const alice = await session('alice', 'alice-password-1');
    expectProblem(
      await call(t.app, 'POST', '/api/v1/routes', route('by-alice'), withCookie(alice)),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    // Promotion takes effect at once, on the same session.
    expect((await call(t.app, 'PUT', '/api/v1/users/alice', { role: 'editor' })).body.role).toBe('editor');
    expect((await call(t.app, 'POST', '/api/v1/routes', route('by-alice'), withCookie(alice))).status).toBe(
      201,
    );
    const revision = await t.db.revision.findFirstOrThrow({ orderBy: { revision: 'desc' } });
    expect(revision.actor).toBe('user:alice');

    // A password set by an admin signs the user out.
    expect((await call(t.app, 'PUT', '/api/v1/users/alice', { password: 'alice-password-2' })).status).toBe(
      200,
    );
    expect((await call(t.app, 'GET', '/api/v1/auth/me', undefined, withCookie(alice, null))).status).toBe(
      401,
    );
    expect((await login('alice', 'alice-password-2')).statusCode).toBe(200);

    const demote = await call(t.app, 'PUT', '/api/v1/users/admin', { role: 'editor' });
    expectProblem(demote, 409, 'TRELLIS_ERR_CONFLICT');
    expect(demote.body.detail).toContain('last admin');
    expectProblem(await call(t.app, 'DELETE', '/api/v1/users/admin'), 409, 'TRELLIS_ERR_CONFLICT');
    expect((await t.db.user.findUniqueOrThrow({ where: { username: 'admin' } })).role).toBe('admin');

    // With a second admin, the first may go.
    await call(t.app, 'PUT', '/api/v1/users/alice', { role: 'admin' });
    expect((await call(t.app, 'PUT', '/api/v1/users/admin', { role: 'viewer' })).status).toBe(200);
    expectProblem(await call(t.app, 'DELETE', '/api/v1/users/alice'), 409, 'TRELLIS_ERR_CONFLICT');
    await call(t.app, 'PUT', '/api/v1/users/admin', { role: 'admin' });
    expect((await call(t.app, 'DELETE', '/api/v1/users/alice')).status).toBe(204);
    expectProblem(await call(t.app, 'DELETE', '/api/v1/users/alice'), 404, 'TRELLIS_ERR_NOT_FOUND');
    expect(await t.db.session.count({ where: { user: { username: 'alice' } } })).toBe(0);
  });

  it('records who changed what: user:<name> for a session, token:<name> for a token', async () => {
    forgetFailures();
    const s = await session('admin', ADMIN_PASSWORD);
    const byUser = await call(
      t.app,
      'POST',
      '/api/v1/services',
      { name: 'audited-by-user', port: 80 },
      withCookie(s),
    );
    const token = await call(t.app, 'POST', '/api/v1/tokens', { name: 'deployer', role: 'editor' });
    const byToken = await call(
      t.app,
      'POST',
      '/api/v1/services',
      { name: 'audited-by-token', port: 80 },
      { token: token.body.token },
    );
    const history = await call(t.app, 'GET', '/api/v1/revisions?limit=5');
    const actorAt = (r: ApiResponse) =>
      history.body.items.find(
        (i: { revision: number }) => i.revision === Number(r.headers['x-trellis-revision']),
      ).actor;
    expect(actorAt(byUser)).toBe('user:admin');
    expect(actorAt(byToken)).toBe('token:deployer');
    const audit = await call(t.app, 'GET', '/api/v1/audit?kind=service&resourceName=audited-by-token');
    expect(audit.body.items[0].actor).toBe('token:deployer');
  });
});

describe('join tokens', () => {
  it('are made for an existing service, shown once, listed and revoked', async () => {
    expectProblem(
      await call(t.app, 'POST', '/api/v1/join-tokens', { service: 'no-such-service' }),
      422,
      'TRELLIS_ERR_UNKNOWN_REFERENCE',
    );
    const created = await call(t.app, 'POST', '/api/v1/join-tokens', { service: 'svc', expiresInDays: 7 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      service: 'svc',
      createdBy: 'token:TRELLIS_ADMIN_TOKEN',
      revokedAt: null,
    });
    expect(created.body.token).toMatch(/^trellis_join_[A-Za-z0-9_-]{43}$/);
    const listed = await call(t.app, 'GET', '/api/v1/join-tokens');
    expect(listed.body.items.map((i: { id: string }) => i.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    const row = await t.db.joinToken.findUniqueOrThrow({ where: { id: created.body.id } });
    expect(row.tokenHash).toBe(createHash('sha256').update(created.body.token).digest('hex'));
    expect((await call(t.app, 'DELETE', `/api/v1/join-tokens/${created.body.id}`)).status).toBe(204);
    const after = await call(t.app, 'GET', '/api/v1/join-tokens');
    expect(after.body.items.find((i: { id: string }) => i.id === created.body.id).revokedAt).not.toBeNull();
    // A join token is not an API token.
    expectProblem(
      await call(t.app, 'GET', '/api/v1/services', undefined, { token: created.body.token }),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
  });
});

describe('route roles', () => {
  it('every registered route declares a role', () => {
    const routes = registeredRoutes(t.app);
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.filter((r) => r.access === undefined).map((r) => `${r.method} ${r.url}`)).toEqual([]);
    const publics = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
    expect(publics.sort()).toEqual([
      'GET /api/v1/docs',
      'GET /api/v1/docs/:asset',
      'GET /api/v1/openapi.json',
      'GET /healthz',
      'GET /readyz',
      'HEAD /api/v1/docs',
      'HEAD /api/v1/docs/:asset',
      'HEAD /api/v1/openapi.json',
      'HEAD /healthz',
      'HEAD /readyz',
      'POST /api/v1/auth/login',
    ]);
  });

  it('refuses a route that declares no role to everyone, admin included', async () => {
    const app = await buildApp({
      db: t.db,
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      pendingMigrations: async () => [],
      adminToken: 'another-admin-token-0123456789abcdef',
    });
    app.get('/api/v1/undeclared', async () => ({ secret: true }));
    app.get('/api/v1/declared', { config: { role: 'viewer' } }, async () => ({ ok: true }));
    try {
      expect(registeredRoutes(app).find((r) => r.url === '/api/v1/undeclared')?.access).toBeUndefined();
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/undeclared',
        headers: bearer('another-admin-token-0123456789abcdef'),
      });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('TRELLIS_ERR_FORBIDDEN');
      const ok = await app.inject({
        method: 'GET',
        url: '/api/v1/declared',
        headers: bearer('another-admin-token-0123456789abcdef'),
      });
      expect(ok.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
