/**
 * M8 §4: who signed in, who tried, and who changed users, roles, tokens and join tokens, all in the security log
 * (GET /api/v1/security-events), each with its actor, subject, address and outcome; mesh settings changes in the
 * mesh's audit log (GET /api/v1/audit). The attack this answers: guessing passwords and minting tokens left no
 * trace an operator could read.
 */
import type { SecurityEvent } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/auth/rate-limit.ts';
import { call } from '../support/api.ts';
import { type TestControl, testControl } from '../support/db.ts';

let t: TestControl;

beforeAll(async () => {
  t = await testControl({ loginLimiter: new LoginLimiter({ max: 2 }) });
});
afterAll(async () => {
  await t.close();
});

const ATTACKER = '198.51.100.7';
const BROWSER = '203.0.113.20';

function login(username: string, password: string, remoteAddress: string) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ username, password }),
  });
}

async function events(): Promise<SecurityEvent[]> {
  const res = await call(t.app, 'GET', '/api/v1/security-events?limit=500');
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The one event of `action` about `subject`. */
function one(all: SecurityEvent[], action: string, subject: string, extra: Partial<SecurityEvent> = {}) {
  const found = all.filter((e) => e.action === action && e.subject === subject);
  expect(
    found,
    `${action} ${subject} in ${JSON.stringify(all.map((e) => `${e.action} ${e.subject}`))}`,
  ).toHaveLength(1);
  expect(found[0]).toMatchObject(extra);
  return found[0] as SecurityEvent;
}

describe('the security log', () => {
  it('records logins that failed, were throttled and succeeded, logouts and password changes', async () => {
    const made = await call(t.app, 'POST', '/api/v1/users', {
      username: 'dana',
      role: 'editor',
      password: 'dana-password-01',
    });
    expect(made.status).toBe(201);
    expect((await login('dana', 'wrong-guess-1', ATTACKER)).statusCode).toBe(401);
    expect((await login('dana', 'wrong-guess-2', ATTACKER)).statusCode).toBe(401);
    expect((await login('nobody', 'wrong-guess-3', ATTACKER)).statusCode).toBe(429);
    // The username's failures count wherever its next login comes from, the right password included.
    expect((await login('dana', 'dana-password-01', BROWSER)).statusCode).toBe(429);
    const fresh = await call(t.app, 'POST', '/api/v1/users', {
      username: 'erin',
      role: 'viewer',
      password: 'erin-password-01',
    });
    expect(fresh.status).toBe(201);
    const ok = await login('erin', 'erin-password-01', BROWSER);
    expect(ok.statusCode).toBe(200);
    const session = {
      token: null,
      headers: {
        cookie: String(ok.headers['set-cookie']).split(';')[0] as string,
        'x-trellis-csrf': ok.json().csrfToken,
      },
    };
    const changed = await call(
      t.app,
      'POST',
      '/api/v1/auth/password',
      { currentPassword: 'erin-password-01', newPassword: 'erin-password-02' },
      session,
    );
    expect(changed.status).toBe(204);
    expect((await call(t.app, 'POST', '/api/v1/auth/logout', undefined, session)).status).toBe(204);

    const all = await events();
    const failures = all.filter((e) => e.action === 'login.failure');
    expect(failures.map((e) => [e.subject, e.remote, e.outcome, e.detail?.reason])).toEqual(
      expect.arrayContaining([
        ['dana', ATTACKER, 'refused', 'wrong username or password'],
        ['dana', ATTACKER, 'refused', 'wrong username or password'],
        ['nobody', ATTACKER, 'refused', 'rate limited'],
        ['dana', BROWSER, 'refused', 'rate limited'],
      ]),
    );
    expect(failures).toHaveLength(4);
    for (const f of failures) expect(f.actor).toBe('anonymous');
    one(all, 'login.success', 'erin', { actor: 'user:erin', remote: BROWSER, outcome: 'allowed' });
    one(all, 'password.change', 'erin', { actor: 'user:erin', outcome: 'allowed' });
    one(all, 'logout', 'erin', { actor: 'user:erin', outcome: 'allowed' });
  });

  it('records users created, their role and password changed by an admin, and deleted', async () => {
    const created = await call(t.app, 'POST', '/api/v1/users', {
      username: 'frank',
      role: 'viewer',
      password: 'frank-password-1',
    });
    expect(created.status).toBe(201);
    expect((await call(t.app, 'PUT', '/api/v1/users/frank', { role: 'editor' })).status).toBe(200);
    expect((await call(t.app, 'PUT', '/api/v1/users/frank', { password: 'frank-password-2' })).status).toBe(
      200,
    );
    expect((await call(t.app, 'DELETE', '/api/v1/users/frank')).status).toBe(204);

    const all = await events();
    const actor = 'token:TRELLIS_ADMIN_TOKEN';
    one(all, 'user.create', 'frank', { actor, outcome: 'allowed', detail: { role: 'viewer' } });
    one(all, 'user.update', 'frank', { actor, detail: { role: { from: 'viewer', to: 'editor' } } });
    one(all, 'password.change', 'frank', { actor, outcome: 'allowed' });
    one(all, 'user.delete', 'frank', {
      actor,
      outcome: 'allowed',
      detail: { role: 'editor', tokensRevoked: 0 },
    });
  });

  it('records API tokens and join tokens made and revoked', async () => {
    const token = await call(t.app, 'POST', '/api/v1/tokens', { name: 'ci', role: 'editor' });
    expect(token.status).toBe(201);
    expect((await call(t.app, 'DELETE', `/api/v1/tokens/${token.body.id}`)).status).toBe(204);
    expect((await call(t.app, 'POST', '/api/v1/services', { name: 'shop', port: 80 })).status).toBe(201);
    const join = await call(t.app, 'POST', '/api/v1/join-tokens', { service: 'shop' });
    expect(join.status).toBe(201);
    expect((await call(t.app, 'DELETE', `/api/v1/join-tokens/${join.body.id}`)).status).toBe(204);

    const all = await events();
    const actor = 'token:TRELLIS_ADMIN_TOKEN';
    one(all, 'token.create', token.body.id, { actor, detail: { name: 'ci', role: 'editor' } });
    one(all, 'token.revoke', token.body.id, { actor, detail: { name: 'ci' } });
    one(all, 'join-token.create', join.body.id, { actor, service: 'shop' });
    one(all, 'join-token.revoke', join.body.id, { actor, service: 'shop' });
    // No secret is ever written to the log.
    expect(JSON.stringify(all)).not.toContain(token.body.token);
    expect(JSON.stringify(all)).not.toContain(join.body.token);
    expect(JSON.stringify(all)).not.toContain('password-0');
  });

  it('mesh settings changes are in the mesh audit log, with their actor and what changed', async () => {
    const now = await call(t.app, 'GET', '/api/v1/mesh/settings');
    const put = await call(t.app, 'PUT', '/api/v1/mesh/settings', {
      ...now.body,
      mtls: { mode: 'strict' },
      updatedAt: undefined,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const audit = await call(t.app, 'GET', '/api/v1/audit?kind=mesh-settings');
    expect(audit.status).toBe(200);
    const entry = audit.body.items.find((e: { kind: string }) => e.kind === 'mesh-settings');
    expect(entry).toMatchObject({
      actor: 'token:TRELLIS_ADMIN_TOKEN',
      action: 'update',
      before: { mtls: { mode: 'permissive' } },
      after: { mtls: { mode: 'strict' } },
    });
  });
});
