/** Configuration is read once from the environment, with defaults and clear errors. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, REPO_ROOT } from '../src/config.ts';

describe('config', () => {
  it('has working defaults: embedded Postgres under .trellis in the repo, API on 127.0.0.1:7070', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 7070,
      databaseUrl: undefined,
      dataDir: path.join(REPO_ROOT, '.trellis'),
      embeddedPgPort: 54329,
      seed: true,
      bodyLimitBytes: 1024 * 1024,
    });
  });

  it('reads every variable and treats empty ones as unset', () => {
    const c = loadConfig({
      TRELLIS_CONTROL_HOST: '0.0.0.0',
      TRELLIS_CONTROL_PORT: '8000',
      DATABASE_URL: 'postgres://u:p@db:5432/mesh',
      TRELLIS_DATA_DIR: '/var/lib/trellis',
      TRELLIS_PG_PORT: '',
      TRELLIS_SEED: 'false',
      TRELLIS_LOG_LEVEL: 'warn',
      TRELLIS_ADVERTISE_URL: 'http://cp-1.internal:8000/',
    });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      advertiseUrl: 'http://cp-1.internal:8000',
      port: 8000,
      databaseUrl: 'postgres://u:p@db:5432/mesh',
      dataDir: '/var/lib/trellis',
      embeddedPgPort: 54329,
      seed: false,
      logLevel: 'warn',
    });
  });

  it.each([
    ['TRELLIS_CONTROL_PORT', '99999'],
    ['TRELLIS_CONTROL_PORT', 'http'],
    ['DATABASE_URL', 'mysql://x'],
    ['TRELLIS_SEED', 'maybe'],
    ['TRELLIS_LOG_LEVEL', 'loud'],
    ['TRELLIS_ADVERTISE_URL', 'ftp://cp-1'],
    ['TRELLIS_ADMIN_PASSWORD', 'short'],
    ['TRELLIS_ADMIN_TOKEN', 'too-short-for-a-token'],
    ['TRELLIS_ADMIN_TOKEN', `${'x'.repeat(32)} with spaces`],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
  it('has proxy-stream defaults: no mesh-wide join token, 10 s grace, 60 s TTL, 5 s pings, 10 s for hello', () => {
    expect(loadConfig({}).joinToken).toBeUndefined();
    expect(loadConfig({})).toMatchObject({
      proxyGraceMs: 10_000,
      proxyTtlMs: 60_000,
      proxyPingMs: 5000,
      proxyHelloTimeoutMs: 10_000,
    });
    expect(
      loadConfig({
        TRELLIS_JOIN_TOKEN: 's3cret',
        TRELLIS_PROXY_GRACE_MS: '2000',
        TRELLIS_PROXY_TTL_MS: '2000',
      }),
    ).toMatchObject({ joinToken: 's3cret', proxyGraceMs: 2000, proxyTtlMs: 2000 });
  });

  it('reads the first-run admin password and the static admin token; neither is set by default', () => {
    expect(loadConfig({})).toMatchObject({ adminPassword: undefined, adminToken: undefined });
    const token = 'a'.repeat(40);
    expect(
      loadConfig({ TRELLIS_ADMIN_PASSWORD: 'a-long-password', TRELLIS_ADMIN_TOKEN: token }),
    ).toMatchObject({ adminPassword: 'a-long-password', adminToken: token });
  });

  it('refuses a proxy TTL shorter than the grace period', () => {
    expect(() => loadConfig({ TRELLIS_PROXY_GRACE_MS: '5000', TRELLIS_PROXY_TTL_MS: '1000' })).toThrow(
      /TRELLIS_PROXY_TTL_MS: must be at least TRELLIS_PROXY_GRACE_MS/,
    );
  });
});
