/** A new snapshot swaps in atomically: 100 changes under steady load fail no request; a bad one is refused. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let v1: Upstream;
let v2: Upstream;
let proxy: TrellisProxy;
let port: number;

const config = (w1: number, revision: number) =>
  meshConfig({
    revision,
    services: [
      {
        name: 'svc',
        endpoints: [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ],
      },
    ],
    routes: [
      {
        name: 'split',
        service: 'svc',
        destinations: [
          { subset: { version: 'v1' }, weight: w1 },
          { subset: { version: 'v2' }, weight: 100 - w1 },
        ],
      },
    ],
  });

beforeAll(async () => {
  [v1, v2] = await Promise.all([startUpstream('v1'), startUpstream('v2')]);
  const started = await startProxy(config(50, 1));
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [v1, v2]));

describe('hot swap', () => {
  it('100 route-weight changes during steady load: zero failed requests', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (!stop) {
        try {
          const res = await send(port, 'svc', '/load');
          if (res.status === 200) ok += 1;
          else failures.push(`${res.status} ${res.text}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 100; i++) {
      const result = await proxy.apply(config(i % 2 === 0 ? 100 : 0, i + 2));
      expect(result.ok).toBe(true);
      await new Promise((r) => setTimeout(r, 5));
    }
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect(proxy.snapshot.config.revision).toBe(101);
  });

  it('the new weights apply to new requests at once', async () => {
    await proxy.apply(config(0, 200));
    for (let i = 0; i < 20; i++) expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v2');
    await proxy.apply(config(100, 201));
    for (let i = 0; i < 20; i++) expect(JSON.parse((await send(port, 'svc', '/')).text).upstream).toBe('v1');
  });

  it('refuses an invalid snapshot with the field path and keeps serving the previous one', async () => {
    const bad = config(100, 300) as { routes: { destinations: { weight: number }[] }[] };
    const first = bad.routes[0]?.destinations[0];
    if (first) first.weight = 70;
    const result = await proxy.apply(bad);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toContainEqual({
        path: 'routes[0].destinations',
        message: 'weights must sum to 100, got 70',
      });
    }
    expect(proxy.snapshot.config.revision).toBe(201);
    expect((await send(port, 'svc', '/')).status).toBe(200);
  });

  it('refuses a snapshot whose new listener cannot bind, keeping the old listeners', async () => {
    const taken = proxy.address('out')?.port ?? 0;
    const clash = config(100, 400) as { listeners: object[] };
    clash.listeners = [
      { name: 'out', mode: 'outbound', port: 0 },
      { name: 'second', mode: 'outbound', address: '127.0.0.1', port: taken },
    ];
    const result = await proxy.apply(clash);
    expect(result.ok).toBe(false);
    expect(proxy.snapshot.config.revision).toBe(201);
    expect((await send(port, 'svc', '/')).status).toBe(200);
  });
});
