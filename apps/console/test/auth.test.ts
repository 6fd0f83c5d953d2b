import { describe, expect, it } from 'vitest';
import {
  allowed,
  loginFailureText,
  validateLogin,
  validatePasswordChange,
} from '../src/features/auth/form.ts';
import { meOf } from '../src/features/auth/queries.ts';
import { ApiError } from '../src/lib/api.ts';
import { loginPath, safeNext } from '../src/lib/login.ts';

describe('validateLogin', () => {
  it('trims the username and refuses empty fields with the API’s messages', () => {
    expect(validateLogin({ username: ' admin ', password: 'pw' })).toEqual({
      ok: true,
      body: { username: 'admin', password: 'pw' },
    });
    const refused = validateLogin({ username: '  ', password: '' });
    expect(refused.ok).toBe(false);
    if (!refused.ok)
      expect(refused.errors).toEqual([
        { path: 'username', message: 'must not be empty' },
        { path: 'password', message: 'must not be empty' },
      ]);
  });
});

describe('loginFailureText', () => {
  it('tells a wrong password from too many tries, with the wait', () => {
    expect(loginFailureText(new ApiError('bad', 401))).toBe('Wrong username or password.');
    expect(loginFailureText(new ApiError('slow down', 429, undefined, 'TRELLIS_ERR_RATE_LIMITED', 30))).toBe(
      'Too many failed logins. Try again in 30 seconds.',
    );
    expect(loginFailureText(new ApiError('slow down', 429))).toBe('Too many failed logins. Try again later.');
    expect(loginFailureText(new ApiError('fetch failed', 0))).toMatch(/unreachable/);
  });
});

describe('validatePasswordChange', () => {
  it('needs 12 characters and the same new password twice', () => {
    const short = validatePasswordChange({ currentPassword: 'old', newPassword: 'short', confirm: 'short' });
    expect(short.ok).toBe(false);
    if (!short.ok)
      expect(short.errors).toEqual([{ path: 'newPassword', message: 'must be at least 12 characters' }]);
    const mismatch = validatePasswordChange({
      currentPassword: 'old',
      newPassword: 'a-long-new-password',
      confirm: 'a-long-new-passwort',
    });
    expect(mismatch.ok).toBe(false);
    if (!mismatch.ok) expect(mismatch.errors.map((e) => e.path)).toEqual(['confirm']);
    expect(
      validatePasswordChange({
        currentPassword: 'old',
        newPassword: 'a-long-new-password',
        confirm: 'a-long-new-password',
      }),
    ).toEqual({ ok: true, body: { currentPassword: 'old', newPassword: 'a-long-new-password' } });
  });
});

describe('allowed', () => {
  it('orders the roles: viewers read, editors edit, admins administer; nobody before the role is known', () => {
    expect(allowed('viewer', 'read')).toBe(true);
    expect(allowed('viewer', 'edit')).toBe(false);
    expect(allowed('editor', 'edit')).toBe(true);
    expect(allowed('editor', 'admin')).toBe(false);
    expect(allowed('admin', 'admin')).toBe(true);
    expect(allowed(undefined, 'read')).toBe(false);
  });
});

describe('the login redirect', () => {
  it('brings the browser back to the console page it came from, and nowhere else', () => {
    expect(loginPath('/services/service-c?x=1')).toBe('/login?next=%2Fservices%2Fservice-c%3Fx%3D1');
    expect(loginPath('/')).toBe('/login');
    expect(safeNext('/history')).toBe('/history');
    expect(safeNext('//evil.example/')).toBe('/');
    expect(safeNext('/\\evil.example/')).toBe('/');
    expect(safeNext('https://evil.example/')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});

describe('meOf', () => {
  it('is the identity of a login’s answer, as GET /auth/me gives it', () => {
    expect(
      meOf({
        user: { username: 'ana', role: 'editor' },
        csrfToken: 'c',
        expiresAt: '2026-11-27T00:00:00.000Z',
      }),
    ).toEqual({ kind: 'session', username: 'ana', role: 'editor', csrfToken: 'c', tokenName: null });
  });
});
