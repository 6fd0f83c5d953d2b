/**
 * M8 §4: a token never outlives its creator's rights. The attacks: an admin makes an admin API token, is then
 * demoted (or deleted), and keeps admin rights through the token; a token made by a token outlives its creator's
 * revocation. Here a token's effective role is the lower of its own and its creator's current role (a user, the
 * token that made it, or the static TRELLIS_ADMIN_TOKEN, which is admin); a token whose creator is gone is refused
 * 401; deleting a user revokes its tokens and ends its sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/auth/rate-limit.ts';
import { type ApiResponse, call } from '../support/api.ts';
import { type TestControl, testControl } from '../support/db.ts';

let t: TestControl;

beforeAll(async () => {
  t = await testControl({ loginLimiter: new LoginLimiter({ max: 1000 }) });
  // An admin who stays one, so that the others may be demoted and deleted.
  await user('root', 'admin');
});
afterAll(async () => {
  await t.close();
});

interface Session {
  cookie: string;
  csrf: string;
}

async function user(username: string, role: string): Promise<Session> {
  const password = `${username}-password-1`;
  expect((await call(t.app, 'POST', '/api/v1/users', { username, role, password })).status).toBe(201);
  const res = await call(t.app, 'POST', '/api/v1/auth/login', { username, password }, { token: null });
  expect(res.status).toBe(200);
  return { cookie: String(res.headers['set-cookie']).split(';')[0] as string, csrf: res.body.csrfToken };
}

const asSession = (s: Session) => ({ token: null, headers: { cookie: s.cookie, 'x-trellis-csrf': s.csrf } });

async function tokenBy(
  by: { token?: string | null; headers?: Record<string, string> },
  name: string,
  role = 'admin',
): Promise<string> {
  const res = await call(t.app, 'POST', '/api/v1/tokens', { name, role }, by);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.token;
}

const me = (token: string) => call(t.app, 'GET', '/api/v1/auth/me', undefined, { token });
const setRole = (username: string, role: string) => call(t.app, 'PUT', `/api/v1/users/${username}`, { role });

function expectRefused(res: ApiResponse, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
}

describe("a token's rights are bounded by its creator's", () => {
  it("a demoted admin's admin token is demoted with them, at once, and back again", async () => {
    const alice = await user('alice', 'admin');
    const token = await tokenBy(asSession(alice), 'alice-automation');
    expect((await me(token)).body.role).toBe('admin');

    expect((await setRole('alice', 'viewer')).status).toBe(200);
    expect((await me(token)).body.role).toBe('viewer');
    expectRefused(
      await call(
        t.app,
        'POST',
        '/api/v1/users',
        { username: 'mallory', role: 'admin', password: 'mallory-pw-0001' },
        { token },
      ),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    expectRefused(
      await call(t.app, 'POST', '/api/v1/services', { name: 'by-alice', port: 80 }, { token }),
      403,
      'TRELLIS_ERR_FORBIDDEN',
    );
    // Reading is within a viewer's rights.
    expect((await call(t.app, 'GET', '/api/v1/services', undefined, { token })).status).toBe(200);

    expect((await setRole('alice', 'editor')).status).toBe(200);
    expect((await me(token)).body.role).toBe('editor');
    expect(
      (await call(t.app, 'POST', '/api/v1/services', { name: 'by-alice', port: 80 }, { token })).status,
    ).toBe(201);
    // Never above the token's own role, whatever the creator's.
    const viewerToken = await tokenBy(asSession(await user('vera', 'admin')), 'vera-readonly', 'viewer');
    expect((await me(viewerToken)).body.role).toBe('viewer');
  });

  it("deleting a user revokes the user's tokens and ends the user's sessions", async () => {
    const bob = await user('bob', 'admin');
    const token = await tokenBy(asSession(bob), 'bob-automation');
    expect((await me(token)).status).toBe(200);
    expect((await call(t.app, 'GET', '/api/v1/auth/me', undefined, asSession(bob))).status).toBe(200);

    expect((await call(t.app, 'DELETE', '/api/v1/users/bob')).status).toBe(204);
    expectRefused(await me(token), 401, 'TRELLIS_ERR_UNAUTHENTICATED');
    expectRefused(
      await call(t.app, 'GET', '/api/v1/auth/me', undefined, asSession(bob)),
      401,
      'TRELLIS_ERR_UNAUTHENTICATED',
    );
    const listed = await call(t.app, 'GET', '/api/v1/tokens');
    const row = listed.body.items.find((i: { name: string }) => i.name === 'bob-automation');
    expect(row.revokedAt).not.toBeNull();
    // A new user of the same name does not bring the old user's tokens back.
    await user('bob', 'admin');
    expectRefused(await me(token), 401, 'TRELLIS_ERR_UNAUTHENTICATED');
  });

  it('a token made by a token: bounded by its creator, and dead once its creator is revoked', async () => {
    const carol = await user('carol', 'admin');
    const parent = await tokenBy(asSession(carol), 'carol-parent');
    const child = await tokenBy({ token: parent }, 'carol-child');
    // Another token of the same name, made by an admin who stays one, changes nothing for the child.
    await tokenBy({}, 'carol-parent');
    expect((await me(child)).body.role).toBe('admin');

    expect((await setRole('carol', 'editor')).status).toBe(200);
    expect((await me(parent)).body.role).toBe('editor');
    expect((await me(child)).body.role).toBe('editor');

    const parentId = (await call(t.app, 'GET', '/api/v1/tokens')).body.items.find(
      (i: { name: string; createdBy: string }) => i.name === 'carol-parent' && i.createdBy === 'user:carol',
    ).id;
    expect((await call(t.app, 'DELETE', `/api/v1/tokens/${parentId}`)).status).toBe(204);
    expectRefused(await me(child), 401, 'TRELLIS_ERR_UNAUTHENTICATED');
  });

  it('a token made with TRELLIS_ADMIN_TOKEN is as good as its own role; one whose creator is unknown is dead', async () => {
    const automation = await tokenBy({}, 'from-static-admin');
    expect((await me(automation)).body.role).toBe('admin');
    const editor = await tokenBy({ token: automation }, 'from-automation', 'editor');
    expect((await me(editor)).body.role).toBe('editor');

    const orphan = await tokenBy({}, 'orphan');
    await t.db.apiToken.updateMany({ where: { name: 'orphan' }, data: { createdBy: 'user:nobody-ever' } });
    expectRefused(await me(orphan), 401, 'TRELLIS_ERR_UNAUTHENTICATED');
  });
});
