import { describe, expect, it } from 'vitest';
import { tokenState, validateJoinToken, validateToken, validateUser } from '../src/features/admin/form.ts';

describe('validateUser', () => {
  it('checks the username and the password with the API’s schema', () => {
    const refused = validateUser({ username: 'Ana Lee', role: 'editor', password: 'short' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors.map((e) => e.path)).toEqual(['username', 'password']);
    expect(validateUser({ username: ' ana ', role: 'viewer', password: 'twelve-chars!' })).toEqual({
      ok: true,
      body: { username: 'ana', role: 'viewer', password: 'twelve-chars!' },
    });
  });
});

describe('validateToken', () => {
  it('leaves the expiry out when empty and checks its range otherwise', () => {
    expect(validateToken({ name: 'ci', role: 'editor', expiresInDays: '' })).toEqual({
      ok: true,
      body: { name: 'ci', role: 'editor' },
    });
    expect(validateToken({ name: 'ci', role: 'editor', expiresInDays: '30' })).toEqual({
      ok: true,
      body: { name: 'ci', role: 'editor', expiresInDays: 30 },
    });
    const refused = validateToken({ name: 'ci:deploy', role: 'admin', expiresInDays: '0' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors.map((e) => e.path).sort()).toEqual(['expiresInDays', 'name']);
  });
});

describe('validateJoinToken', () => {
  it('needs a service', () => {
    const refused = validateJoinToken({ service: '', expiresInDays: '' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(new Set(refused.errors.map((e) => e.path))).toEqual(new Set(['service']));
    expect(validateJoinToken({ service: 'service-a', expiresInDays: '7' })).toEqual({
      ok: true,
      body: { service: 'service-a', expiresInDays: 7 },
    });
  });
});

describe('tokenState', () => {
  const now = Date.parse('2026-11-26T12:00:00.000Z');
  it('is revoked, expired or active by its dates', () => {
    expect(tokenState({ revokedAt: '2026-11-26T11:00:00.000Z', expiresAt: null }, now)).toBe('revoked');
    expect(tokenState({ revokedAt: null, expiresAt: '2026-11-26T11:59:59.000Z' }, now)).toBe('expired');
    expect(tokenState({ revokedAt: null, expiresAt: '2026-11-27T00:00:00.000Z' }, now)).toBe('active');
    expect(tokenState({ revokedAt: null, expiresAt: null }, now)).toBe('active');
  });
});
