import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, newNonce, SECURITY_HEADERS } from '../src/security.ts';

describe('the security headers', () => {
  it('forbid framing and sniffing and keep the referrer to the console', () => {
    const headers = Object.fromEntries(SECURITY_HEADERS.map((h) => [h.key, h.value]));
    expect(headers['X-Frame-Options']).toBe('DENY');
    expect(headers['X-Content-Type-Options']).toBe('nosniff');
    expect(headers['Referrer-Policy']).toBe('same-origin');
    expect(headers['Permissions-Policy']).toContain('camera=()');
  });

  it('the CSP lets only the nonce’s scripts run, and nothing frame the console', () => {
    const csp = contentSecurityPolicy('abc123');
    const directives = Object.fromEntries(
      csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]),
    );
    expect(directives['script-src']).toBe("'self' 'nonce-abc123' 'strict-dynamic'");
    expect(directives['frame-ancestors']).toBe("'none'");
    expect(directives['object-src']).toBe("'none'");
    expect(directives['connect-src']).toBe("'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(contentSecurityPolicy('abc123', true)).toContain("'unsafe-eval'");
  });

  it('makes a new nonce each time', () => {
    const a = newNonce();
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(newNonce()).not.toBe(a);
  });
});
