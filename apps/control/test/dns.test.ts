/**
 * DNS discovery against a real control plane (REST over Postgres) and a real DNS server on a UDP socket: endpoints
 * found for A, AAAA and SRV names show in the endpoints API with source "dns", each set change is one revision
 * by system:dns-discovery, an unchanged answer makes none (also with two replicas resolving), a failing server
 * keeps what was found, NXDOMAIN removes it after ABSENT_LIMIT answers, and removing `dns` removes it.
 */
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { ABSENT_LIMIT, DNS_ACTOR, lookupDns } from '../src/discovery/dns.ts';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { addr, TestDnsServer } from './support/dns-server.ts';
import { eventually, getJson, sendJson, startPlane } from './support/proxy-client.ts';

let dns: TestDnsServer;
let databaseUrl: string;
let plane: ControlPlane;

beforeAll(async () => {
  dns = await TestDnsServer.start();
  databaseUrl = await createDatabase('dns');
  plane = await startPlane(databaseUrl, { seed: false, dnsServers: [dns.address] });
});

afterAll(async () => {
  await plane?.stop();
  await dns?.close();
});

const api = (path: string) => `${plane.url}/api/v1${path}`;

interface Ep {
  id: string;
  address: string;
  port: number;
  weight: number;
  source: string;
  version: number;
}

async function endpoints(service: string): Promise<Ep[]> {
  const { status, body } = await getJson(api(`/services/${service}/endpoints?limit=500`));
  expect(status).toBe(200);
  return (body.items as Ep[]).sort((a, b) =>
    `${a.address}:${a.port}`.localeCompare(`${b.address}:${b.port}`),
  );
}

const dnsOnly = async (service: string) => (await endpoints(service)).filter((e) => e.source === 'dns');
const where = (eps: Ep[]) =>
  eps.map((e) => `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`);

/** Waits until the service's dns endpoints are exactly `expected` (address:port, sorted). */
function dnsEndpointsBecome(service: string, expected: string[]): Promise<Ep[]> {
  return eventually(
    async () => {
      const eps = await dnsOnly(service);
      return JSON.stringify(where(eps)) === JSON.stringify(expected) ? eps : undefined;
    },
    `${service} dns endpoints to be ${expected.join(', ') || 'none'}`,
    10_000,
  );
}

/** The revisions by DNS discovery that changed `service`'s endpoints, oldest first. */
async function dnsRevisions(service: string): Promise<number[]> {
  const { body } = await getJson(api('/revisions?limit=500&kind=endpoints'));
  const mine: number[] = [];
  for (const r of body.items as { revision: number; actor: string }[]) {
    if (r.actor !== DNS_ACTOR) continue;
    const full = await getJson(api(`/revisions/${r.revision}`));
    if (full.body.endpoints && service in full.body.endpoints) mine.push(r.revision);
  }
  return mine.sort((a, b) => a - b);
}

async function auditOf(revision: number): Promise<{ action: string; resourceName: string; actor: string }[]> {
  return (await getJson(api(`/audit?revision=${revision}&limit=100`))).body.items;
}

/** Waits for `n` more lookups of name/type than now: the first n-1 of them have been fully acted on. */
async function lookups(name: string, type: 'A' | 'AAAA' | 'SRV', n: number): Promise<void> {
  const start = dns.queries(name, type);
  for (let i = 1; i <= n; i++) await dns.queried(name, type, start + i - 1);
}

describe('DNS discovery (A records)', () => {
  const name = 'a.ext.test';

  it('finds, changes, keeps on failure, removes on NXDOMAIN, and stops with the spec', async () => {
    dns.set(name, 'A', [addr('10.0.0.1', 1), addr('10.0.0.2', 1), addr('10.0.0.50', 1)]);
    expect((await sendJson('POST', api('/services'), { name: 'ext-a', port: 5432 })).status).toBe(201);
    // An endpoint registered by other means at an address DNS also names: it stays as it is.
    const fixed = await sendJson('POST', api('/services/ext-a/endpoints'), {
      address: '10.0.0.50',
      port: 9000,
      source: 'static',
    });
    expect(fixed.status).toBe(201);
    const put = await sendJson('PUT', api('/services/ext-a'), {
      name: 'ext-a',
      port: 5432,
      dns: { hostname: name, type: 'A', refreshMs: 1000, port: 9000 },
      version: 1,
    });
    expect(put.status).toBe(200);
    expect(put.body.dns).toEqual({ hostname: name, type: 'A', refreshMs: 1000, port: 9000 });

    const first = await dnsEndpointsBecome('ext-a', ['10.0.0.1:9000', '10.0.0.2:9000']);
    expect(first.every((e) => e.weight === 1)).toBe(true);
    const all = await endpoints('ext-a');
    expect(all.find((e) => e.address === '10.0.0.50')).toMatchObject({ source: 'static', version: 1 });
    const [created] = await dnsRevisions('ext-a');
    expect(await dnsRevisions('ext-a')).toHaveLength(1);
    const entries = await auditOf(created as number);
    expect(entries.map((e) => `${e.action} ${e.resourceName} ${e.actor}`).sort()).toEqual([
      `create ext-a/10.0.0.1:9000 ${DNS_ACTOR}`,
      `create ext-a/10.0.0.2:9000 ${DNS_ACTOR}`,
    ]);

    // An unchanged answer: lookups go on (every TTL) but write nothing.
    await lookups(name, 'A', 3);
    expect(await dnsRevisions('ext-a')).toHaveLength(1);

    // A changed answer after the TTL: one revision adds .3 and removes .1; .2 is the same endpoint as before.
    dns.set(name, 'A', [addr('10.0.0.2', 1), addr('10.0.0.3', 1)]);
    const second = await dnsEndpointsBecome('ext-a', ['10.0.0.2:9000', '10.0.0.3:9000']);
    expect(second.find((e) => e.address === '10.0.0.2')?.id).toBe(
      first.find((e) => e.address === '10.0.0.2')?.id,
    );
    const revisions = await dnsRevisions('ext-a');
    expect(revisions).toHaveLength(2);
    expect(
      (await auditOf(revisions[1] as number)).map((e) => `${e.action} ${e.resourceName}`).sort(),
    ).toEqual(['create ext-a/10.0.0.3:9000', 'delete ext-a/10.0.0.1:9000']);

    // A failing server: the endpoints last found stay.
    dns.set(name, 'A', 'SERVFAIL');
    await lookups(name, 'A', 3);
    expect(where(await dnsOnly('ext-a'))).toEqual(['10.0.0.2:9000', '10.0.0.3:9000']);
    expect(await dnsRevisions('ext-a')).toHaveLength(2);

    // NXDOMAIN: kept for ABSENT_LIMIT - 1 answers, removed (one revision) at the ABSENT_LIMIT-th.
    dns.set(name, 'A', 'NXDOMAIN');
    const before = dns.queries(name, 'A');
    await lookups(name, 'A', ABSENT_LIMIT - 1);
    expect(where(await dnsOnly('ext-a'))).toEqual(['10.0.0.2:9000', '10.0.0.3:9000']);
    await dnsEndpointsBecome('ext-a', []);
    expect(dns.queries(name, 'A') - before).toBeGreaterThanOrEqual(ABSENT_LIMIT);
    expect(await dnsRevisions('ext-a')).toHaveLength(3);

    // The name comes back; then `dns` is taken off the service: its dns endpoints go, the static one stays.
    dns.set(name, 'A', [addr('10.0.0.4', 1)]);
    await dnsEndpointsBecome('ext-a', ['10.0.0.4:9000']);
    const current = await getJson(api('/services/ext-a'));
    const off = await sendJson('PUT', api('/services/ext-a'), {
      name: 'ext-a',
      port: 5432,
      version: current.body.version,
    });
    expect(off.status).toBe(200);
    expect(off.body.dns).toBeUndefined();
    await dnsEndpointsBecome('ext-a', []);
    expect((await endpoints('ext-a')).map((e) => `${e.address} ${e.source} ${e.version}`)).toEqual([
      '10.0.0.50 static 1',
    ]);
  });
});

describe('DNS discovery (AAAA and SRV)', () => {
  it('AAAA records give endpoints on the service port', async () => {
    dns.set('v6.ext.test', 'AAAA', [addr('fd00::1', 30), addr('fd00::2', 30)]);
    const res = await sendJson('POST', api('/services'), {
      name: 'ext-v6',
      port: 6379,
      dns: { hostname: 'v6.ext.test', type: 'AAAA' },
    });
    expect(res.status).toBe(201);
    expect(res.body.dns).toEqual({ hostname: 'v6.ext.test', type: 'AAAA', refreshMs: 30_000 });
    const eps = await dnsEndpointsBecome('ext-v6', ['[fd00::1]:6379', '[fd00::2]:6379']);
    expect(eps.every((e) => e.source === 'dns')).toBe(true);
    expect(await dnsRevisions('ext-v6')).toHaveLength(1);
  });

  it('SRV records give port and weight, lowest priority only, targets resolved to A and AAAA', async () => {
    dns.set('_pg._tcp.srv.test', 'SRV', [
      { priority: 10, weight: 60, port: 8001, target: 'a1.srv.test', ttl: 30 },
      { priority: 10, weight: 0, port: 8002, target: 'a2.srv.test', ttl: 30 },
      { priority: 20, weight: 100, port: 8003, target: 'backup.srv.test', ttl: 30 },
    ]);
    dns.set('a1.srv.test', 'A', [addr('10.1.0.1', 30)]);
    dns.set('a2.srv.test', 'A', [addr('10.1.0.2', 30)]);
    dns.set('a2.srv.test', 'AAAA', [addr('fd01::2', 30)]);
    dns.set('backup.srv.test', 'A', [addr('10.1.0.3', 30)]);
    const res = await sendJson('POST', api('/services'), {
      name: 'ext-srv',
      port: 5432,
      dns: { hostname: '_pg._tcp.srv.test', type: 'SRV', refreshMs: 1000 },
    });
    expect(res.status).toBe(201);
    const eps = await dnsEndpointsBecome('ext-srv', ['10.1.0.1:8001', '10.1.0.2:8002', '[fd01::2]:8002']);
    expect(eps.map((e) => e.weight)).toEqual([60, 1, 1]);
    expect(await dnsRevisions('ext-srv')).toHaveLength(1);

    // A new weight is an update of the same endpoint, in one revision.
    dns.set('_pg._tcp.srv.test', 'SRV', [
      { priority: 10, weight: 30, port: 8001, target: 'a1.srv.test', ttl: 30 },
      { priority: 10, weight: 0, port: 8002, target: 'a2.srv.test', ttl: 30 },
    ]);
    const after = await eventually(async () => {
      const now = await dnsOnly('ext-srv');
      return now[0]?.weight === 30 ? now : undefined;
    }, 'the new SRV weight');
    expect(after[0]).toMatchObject({ id: eps[0]?.id, version: 2 });
    const revisions = await dnsRevisions('ext-srv');
    expect(revisions).toHaveLength(2);
    expect((await auditOf(revisions[1] as number)).map((e) => `${e.action} ${e.resourceName}`)).toEqual([
      'update ext-srv/10.1.0.1:8001',
    ]);
  });

  it('SRV weights above 128 are scaled into 1–128, keeping their ratio', async () => {
    dns.set('_big._tcp.srv.test', 'SRV', [
      { priority: 0, weight: 1000, port: 1, target: 'big1.srv.test', ttl: 30 },
      { priority: 0, weight: 250, port: 2, target: 'big2.srv.test', ttl: 30 },
      { priority: 0, weight: 1, port: 3, target: 'big3.srv.test', ttl: 30 },
    ]);
    for (const [i, ip] of ['10.2.0.1', '10.2.0.2', '10.2.0.3'].entries())
      dns.set(`big${i + 1}.srv.test`, 'A', [addr(ip, 7)]);
    const resolver = new Resolver();
    resolver.setServers([dns.address]);
    const answer = await lookupDns(
      resolver,
      { hostname: '_big._tcp.srv.test', type: 'SRV', refreshMs: 1000 },
      80,
    );
    expect(answer.targets.map((t) => `${t.address}:${t.port} ${t.weight}`).sort()).toEqual([
      '10.2.0.1:1 128',
      '10.2.0.2:2 32',
      '10.2.0.3:3 1',
    ]);
    expect(answer.ttlSeconds).toBe(7);
  });
});

describe('DNS discovery: services and replicas', () => {
  it('deleting a service with dns endpoints removes them with it', async () => {
    dns.set('gone.ext.test', 'A', [addr('10.3.0.1', 1)]);
    await sendJson('POST', api('/services'), {
      name: 'ext-gone',
      port: 80,
      dns: { hostname: 'gone.ext.test', type: 'A', refreshMs: 1000 },
    });
    await dnsEndpointsBecome('ext-gone', ['10.3.0.1:80']);
    expect((await sendJson('DELETE', api('/services/ext-gone'))).status).toBe(204);
    expect((await getJson(api('/services/ext-gone/endpoints'))).status).toBe(404);
    // Discovery carries on for the other services.
    dns.set('v6.ext.test', 'AAAA', [addr('fd00::1', 30)]);
    const v6 = await getJson(api('/services/ext-v6'));
    await sendJson('PUT', api('/services/ext-v6'), {
      ...{ name: 'ext-v6', port: 6379, dns: { hostname: 'v6.ext.test', type: 'AAAA', refreshMs: 1000 } },
      version: v6.body.version,
    });
    await dnsEndpointsBecome('ext-v6', ['[fd00::1]:6379']);
  });

  it('two replicas resolving the same name make one revision, not two', async () => {
    const second = await startPlane(databaseUrl, { seed: false, dnsServers: [dns.address] });
    try {
      dns.set('shared.ext.test', 'A', [addr('10.4.0.1', 1), addr('10.4.0.2', 1)]);
      await sendJson('POST', api('/services'), {
        name: 'ext-shared',
        port: 80,
        dns: { hostname: 'shared.ext.test', type: 'A', refreshMs: 1000 },
      });
      await dnsEndpointsBecome('ext-shared', ['10.4.0.1:80', '10.4.0.2:80']);
      // Both replicas look the name up about once a second: several lookups later, still one revision.
      await lookups('shared.ext.test', 'A', 5);
      expect(await dnsRevisions('ext-shared')).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});

describe('DNS discovery: bad specs', () => {
  const cases: [string, unknown, string][] = [
    ['an IP address as hostname', { hostname: '10.0.0.1' }, 'dns.hostname'],
    ['a hostname with a space', { hostname: 'a b.test' }, 'dns.hostname'],
    ['no hostname', { type: 'A' }, 'dns.hostname'],
    ['an unknown record type', { hostname: 'x.test', type: 'MX' }, 'dns.type'],
    ['refreshMs under a second', { hostname: 'x.test', refreshMs: 10 }, 'dns.refreshMs'],
    ['a port with SRV', { hostname: '_x._tcp.test', type: 'SRV', port: 80 }, 'dns.port'],
    ['port out of range', { hostname: 'x.test', port: 70000 }, 'dns.port'],
    ['an unknown field', { hostname: 'x.test', ttl: 5 }, 'dns.ttl'],
    ['not an object', 'x.test', 'dns'],
  ];
  it.each(cases)('%s → 400 at %s', async (_what, spec, path) => {
    const res = await sendJson('POST', api('/services'), { name: 'ext-bad', port: 80, dns: spec });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('TRELLIS_ERR_VALIDATION');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });
});

describe('TRELLIS_DNS_SERVERS', () => {
  it('takes ip, ip:port and [ipv6]:port, comma-separated; unset is the system resolvers', () => {
    expect(loadConfig({ TRELLIS_DNS_SERVERS: '10.0.0.53, 127.0.0.1:5353,[fd00::53]:53' }).dnsServers).toEqual(
      ['10.0.0.53', '127.0.0.1:5353', '[fd00::53]:53'],
    );
    expect(loadConfig({}).dnsServers).toBeUndefined();
  });

  it.each(['dns.example.com', '127.0.0.1:0', '127.0.0.1:70000', '10.0.0.1,', 'fd00::53:abc:'])(
    'refuses %j',
    (value) => {
      expect(() => loadConfig({ TRELLIS_DNS_SERVERS: value })).toThrow(ConfigError);
      expect(() => loadConfig({ TRELLIS_DNS_SERVERS: value })).toThrow(/TRELLIS_DNS_SERVERS/);
    },
  );
});
