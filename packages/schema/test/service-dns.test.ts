/** The `dns` field of a service (DNS discovery): defaults, and every refusal with its field path and message. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DNS_REFRESH_MS, ServiceSpec, toFieldErrors } from '../src/index.ts';

function errorsOf(dns: unknown) {
  const result = ServiceSpec.safeParse({ name: 'ext', port: 5432, dns });
  return result.success ? [] : toFieldErrors(result.error);
}

describe('service dns', () => {
  it('defaults to A and AAAA lookups every 30 s, on the service port', () => {
    const spec = ServiceSpec.parse({ name: 'ext', port: 5432, dns: { hostname: 'db.example.com' } });
    expect(spec.dns).toEqual({
      hostname: 'db.example.com',
      type: 'A_AAAA',
      refreshMs: DEFAULT_DNS_REFRESH_MS,
    });
    expect(DEFAULT_DNS_REFRESH_MS).toBe(30_000);
  });

  it('is optional, and absent when not given', () => {
    expect(ServiceSpec.parse({ name: 'ext', port: 5432 })).not.toHaveProperty('dns');
  });

  it.each([
    ['db.example.com', 'A'],
    ['db.example.com.', 'AAAA'],
    ['_postgres._tcp.example.com', 'SRV'],
    ['localhost', 'A_AAAA'],
    [`${'a'.repeat(63)}.example.com`, 'A'],
  ])('accepts %s (%s)', (hostname, type) => {
    expect(errorsOf({ hostname, type })).toEqual([]);
  });

  it('accepts a port and refreshMs with A records', () => {
    const spec = ServiceSpec.parse({
      name: 'ext',
      port: 5432,
      dns: { hostname: 'db.example.com', type: 'A', port: 6432, refreshMs: 1000 },
    });
    expect(spec.dns).toEqual({ hostname: 'db.example.com', type: 'A', port: 6432, refreshMs: 1000 });
  });

  it.each<[string, unknown, string, string | RegExp]>([
    ['hostname missing', {}, 'dns.hostname', 'is required'],
    ['hostname empty', { hostname: '' }, 'dns.hostname', 'must not be empty'],
    ['hostname an IPv4 address', { hostname: '10.0.0.1' }, 'dns.hostname', /not an IP address/],
    ['hostname an IPv6 address', { hostname: 'fd00::1' }, 'dns.hostname', /must be a DNS name/],
    ['hostname with a space', { hostname: 'db example.com' }, 'dns.hostname', /must be a DNS name/],
    ['hostname with an empty label', { hostname: 'db..example.com' }, 'dns.hostname', /must be a DNS name/],
    ['hostname label too long', { hostname: `${'a'.repeat(64)}.com` }, 'dns.hostname', /must be a DNS name/],
    ['hostname too long', { hostname: `${'a.'.repeat(127)}com` }, 'dns.hostname', /253 characters/],
    ['hostname a number', { hostname: 7 }, 'dns.hostname', 'must be a string'],
    [
      'type unknown',
      { hostname: 'x.test', type: 'MX' },
      'dns.type',
      'must be "A", "AAAA", "A_AAAA" or "SRV"',
    ],
    [
      'refreshMs too small',
      { hostname: 'x.test', refreshMs: 999 },
      'dns.refreshMs',
      'must be between 1000 and 86400000',
    ],
    [
      'refreshMs fractional',
      { hostname: 'x.test', refreshMs: 1000.5 },
      'dns.refreshMs',
      'must be an integer',
    ],
    ['port out of range', { hostname: 'x.test', port: 0 }, 'dns.port', 'must be between 1 and 65535'],
    [
      'port with SRV',
      { hostname: '_x._tcp.test', type: 'SRV', port: 80 },
      'dns.port',
      /SRV records carry their own ports/,
    ],
    ['unknown field', { hostname: 'x.test', ttl: 5 }, 'dns.ttl', 'is not a known field'],
  ])('refuses %s', (_what, dns, path, message) => {
    const hit = errorsOf(dns).find((e) => e.path === path);
    expect(hit, JSON.stringify(errorsOf(dns))).toBeDefined();
    if (typeof message === 'string') expect(hit?.message).toBe(message);
    else expect(hit?.message).toMatch(message);
  });
});
