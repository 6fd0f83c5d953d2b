/**
 * Endpoints that no proxy registers, static ones (REST, `source: "static"`) and DNS ones, live until they are
 * deleted (or, for DNS, until DNS says so): the TTL reaper and the proxy liveness sweep, however late, remove
 * only the endpoints of their own sources, and all of them are listed side by side in the same API view.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { syncDnsEndpoints } from '../src/discovery/dns.ts';
import { reapExpiredEndpoints } from '../src/store/endpoints.ts';
import { registerProxyEndpoint, sweepProxyEndpoints } from '../src/stream/registry.ts';
import { call } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let now = Date.parse('2026-01-01T00:00:00Z');
let t: TestControl;
beforeAll(async () => {
  t = await testControl({ clock: () => new Date(now) });
  expect((await call(t.app, 'POST', '/api/v1/services', { name: 'mixed', port: 80 })).status).toBe(201);
});
afterAll(() => t.close());

it('only the TTL reaper and the liveness sweep remove api and proxy endpoints; static and dns stay', async () => {
  const post = (body: object) => call(t.app, 'POST', '/api/v1/services/mixed/endpoints', body);
  expect((await post({ address: '10.0.0.1', port: 80, source: 'static' })).status).toBe(201);
  expect((await post({ address: '10.0.0.2', port: 80, ttlSeconds: 5 })).status).toBe(201);
  await registerProxyEndpoint(t.store, {
    service: 'mixed',
    instance: 'm-1',
    address: '10.0.0.3',
    port: 80,
    zone: '',
    labels: {},
  });
  await syncDnsEndpoints(t.store, 'mixed', [{ address: '10.0.0.4', port: 80, weight: 1 }]);
  const listed = async () =>
    (
      (await call(t.app, 'GET', '/api/v1/services/mixed/endpoints')).body.items as {
        address: string;
        source: string;
      }[]
    )
      .map((e) => `${e.address} ${e.source}`)
      .sort();
  expect(await listed()).toEqual(['10.0.0.1 static', '10.0.0.2 api', '10.0.0.3 proxy', '10.0.0.4 dns']);

  now += 365 * 86_400_000;
  expect(await reapExpiredEndpoints(t.store)).toBe(1);
  expect(await sweepProxyEndpoints(t.store, { graceMs: 1000, ttlMs: 2000, keep: new Set() })).toEqual({
    unhealthy: 0,
    removed: 1,
  });
  expect(await listed()).toEqual(['10.0.0.1 static', '10.0.0.4 dns']);
});
