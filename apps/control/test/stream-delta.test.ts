/**
 * What each proxy is sent after a change, on a real control plane and Postgres with `ws` clients as proxies:
 * endpoint-only changes go out as `endpoints` deltas carrying only the services that changed, serialised once;
 * a proxy whose service declares its dependencies gets only those services and is sent nothing for changes
 * outside them (yet counts as SYNCED); a refused delta is followed by the whole slice; a proxy coming back
 * with a recent revision is caught up with a delta. Endpoint revisions store the changed lists, not the mesh.
 */
import { EndpointsMessage, MeshSlice } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import {
  eventually,
  FakeProxy,
  getJson,
  proxyStatus,
  sendJson,
  startPlane,
  streamUrl,
} from './support/proxy-client.ts';

let plane: ControlPlane;
const open: FakeProxy[] = [];

async function join(
  node: Parameters<typeof FakeProxy.join>[1],
  extra?: Parameters<typeof FakeProxy.join>[2],
) {
  const proxy = await FakeProxy.join(streamUrl(plane), node, extra);
  open.push(proxy);
  return proxy;
}

/** Joins, waits for the first snapshot and acknowledges it, and (unless told not to) every later message. */
async function ready(node: Parameters<typeof FakeProxy.join>[1], autoAck = true) {
  const proxy = await join(node);
  const { data } = await proxy.snapshot();
  proxy.ack(data);
  if (autoAck) {
    proxy.ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'endpoints' || message.type === 'snapshot') proxy.ack(message);
    });
  }
  await proxy.flush();
  return { proxy, slice: MeshSlice.parse(data.slice), revision: data.revision as number };
}

async function addEndpoint(service: string, address: string): Promise<number> {
  const res = await sendJson('POST', `${plane.url}/api/v1/services/${service}/endpoints`, {
    address,
    port: 8080,
  });
  expect(res.status).toBe(201);
  return res.revision;
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('streamdelta'));
  for (const [name, dependencies] of [
    ['shop', ['cart']],
    ['cart', []],
    ['ledger', undefined],
  ] as const) {
    const res = await sendJson('POST', `${plane.url}/api/v1/services`, {
      name,
      port: 8080,
      ...(dependencies ? { dependencies } : {}),
    });
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await plane?.stop();
});

describe('deltas and scoped slices', () => {
  it('a service with declared dependencies gets only them and itself', async () => {
    const { slice } = await ready({ service: 'shop', instance: 'shop-1', address: '10.9.0.1' });
    expect(slice.services.map((s) => s.name).sort()).toEqual(['cart', 'shop']);
    expect(slice.endpoints.every((e) => e.service === 'shop' || e.service === 'cart')).toBe(true);
    const { slice: whole } = await ready({ service: 'ledger', instance: 'ledger-1', address: '10.9.0.2' });
    expect(whole.services.map((s) => s.name)).toEqual(expect.arrayContaining(['cart', 'service-a', 'shop']));
  });

  it('an endpoint change goes out once as a delta with only that service, and only to proxies that see it', async () => {
    const shop = await ready({ service: 'shop', instance: 'shop-2', address: '10.9.1.1' });
    const ledger = await ready({ service: 'ledger', instance: 'ledger-2', address: '10.9.1.2' });
    const cart = await ready({ service: 'cart', instance: 'cart-2', address: '10.9.1.3' });
    const marks = [shop, ledger, cart].map((p) => p.proxy.received.length);

    const revision = await addEndpoint('service-c', '10.9.1.50');
    const got = await ledger.proxy.waitFor((m) => m.revision === revision, 'the delta', 5000, marks[1]);
    const delta = EndpointsMessage.parse(got.data);
    const touched = [...Object.keys(delta.services), ...Object.keys(delta.changes)];
    expect(touched).toEqual(['service-c']);
    expect(ledger.proxy.view?.endpoints.map((e) => e.address)).toContain('10.9.1.50');
    expect(got.raw.length).toBeLessThan(2048);
    expect(plane.stream.slices.serialisationsFor(revision)).toBe(1);

    // shop and cart do not see service-c: nothing is sent to them, and they are still current.
    await Promise.all([shop.proxy.flush(), cart.proxy.flush()]);
    expect(shop.proxy.received.length).toBe(marks[0]);
    expect(cart.proxy.received.length).toBe(marks[2]);
    for (const instance of ['shop-2', 'ledger-2']) {
      await eventually(async () => {
        const s = await proxyStatus(plane, instance.split('-')[0] as string, instance);
        return s?.status === 'SYNCED' && s.ackedRevision === revision ? s : undefined;
      }, `${instance} to be SYNCED at ${revision}`);
    }

    // An endpoint of cart, which shop depends on, reaches shop as a delta.
    const next = await addEndpoint('cart', '10.9.1.60');
    const forShop = await shop.proxy.waitFor((m) => m.revision === next, 'the cart delta', 5000, marks[0]);
    expect(forShop.data.type).toBe('endpoints');
    expect([...Object.keys(forShop.data.services), ...Object.keys(forShop.data.changes)]).toEqual(['cart']);
    expect(shop.proxy.view?.endpoints.map((e) => e.address)).toContain('10.9.1.60');
  });

  it('a config change outside a scope sends nothing; inside it sends the configuration alone', async () => {
    const shop = await ready({ service: 'shop', instance: 'shop-3', address: '10.9.2.1' });
    const mark = shop.proxy.received.length;
    const outside = await sendJson('POST', `${plane.url}/api/v1/services`, { name: 'audit', port: 9 });
    expect(outside.status).toBe(201);
    await eventually(
      async () =>
        (await proxyStatus(plane, 'shop', 'shop-3'))?.ackedRevision === outside.revision ? 1 : undefined,
      'shop-3 to count as current without being sent anything',
    );
    await shop.proxy.flush();
    expect(shop.proxy.received.length).toBe(mark);

    const current = await getJson(`${plane.url}/api/v1/services/cart`);
    const inside = await sendJson('PUT', `${plane.url}/api/v1/services/cart`, {
      ...current.body,
      id: undefined,
      createdAt: undefined,
      updatedAt: undefined,
      description: 'now described',
    });
    expect(inside.status).toBe(200);
    const got = await shop.proxy.update(inside.revision);
    expect(got.data.type).toBe('config');
    expect(got.raw.toString()).not.toContain('"endpoints"');
    const slice = MeshSlice.parse(got.view);
    expect(slice.services.find((s) => s.name === 'cart')?.description).toBe('now described');
    expect(slice.endpoints.length).toBeGreaterThan(0); // kept from what it had
  });

  it('a refused delta is followed at once by the whole slice', async () => {
    const ledger = await ready({ service: 'ledger', instance: 'ledger-4', address: '10.9.3.1' }, false);
    const mark = ledger.proxy.received.length;
    const revision = await addEndpoint('service-b', '10.9.3.50');
    const delta = await ledger.proxy.waitFor((m) => m.revision === revision, 'the delta', 5000, mark);
    expect(delta.data.type).toBe('endpoints');
    ledger.proxy.send({ type: 'nack', revision, nonce: delta.data.nonce, error: 'cannot apply', errors: [] });
    const whole = await ledger.proxy.waitFor(
      (m) => m.type === 'snapshot' && m.revision >= revision,
      'the whole slice after the refusal',
      5000,
      mark,
    );
    ledger.proxy.ack(whole.data);
    await eventually(
      async () => ((await proxyStatus(plane, 'ledger', 'ledger-4'))?.status === 'SYNCED' ? 1 : undefined),
      'ledger-4 to be SYNCED again',
    );
  });

  it('a proxy that comes back with a recent revision is caught up with a delta, not its whole slice', async () => {
    const first = await ready({ service: 'ledger', instance: 'ledger-5', address: '10.9.4.1' });
    const mesh = first.proxy.received[0]?.data.mesh as string;
    await first.proxy.close();
    const had = plane.stream.currentRevision;
    await addEndpoint('service-c', '10.9.4.50');
    const back = await join(
      { service: 'ledger', instance: 'ledger-5', address: '10.9.4.1' },
      { revision: had, mesh },
    );
    const got = await back.waitFor((m) => m.type === 'snapshot' || m.type === 'endpoints', 'a first message');
    expect(got.data.type).toBe('endpoints');
    expect([...Object.keys(got.data.services), ...Object.keys(got.data.changes)]).toContain('service-c');
  });

  it('an endpoint revision stores the changed endpoint lists, not the mesh', async () => {
    const revision = await addEndpoint('cart', '10.9.5.1');
    const { body } = await getJson(`${plane.url}/api/v1/revisions/${revision}`);
    expect(body.kind).toBe('endpoints');
    expect(body.snapshot).toBeNull();
    expect(Object.keys(body.endpoints)).toEqual(['cart']);
    expect(body.endpoints.cart.map((e: { address: string }) => e.address)).toContain('10.9.5.1');
    const config = await sendJson('POST', `${plane.url}/api/v1/services`, { name: 'billing', port: 1 });
    const { body: full } = await getJson(`${plane.url}/api/v1/revisions/${config.revision}`);
    expect(full.kind).toBe('config');
    expect(full.snapshot.services.map((s: { name: string }) => s.name)).toContain('billing');
    expect(full.endpoints).toBeNull();
  });

  it("a proxy reconnecting does not undo an operator's draining", async () => {
    const node = { service: 'cart', instance: 'cart-drain', address: '10.9.6.1', port: 9600 };
    const first = await ready(node);
    const list = await getJson(`${plane.url}/api/v1/services/cart/endpoints?limit=500`);
    const mine = list.body.items.find((e: { address: string }) => e.address === '10.9.6.1');
    const { id, service: _s, lastSeen: _l, expiresAt: _e, createdAt: _c, updatedAt: _u, ...spec } = mine;
    const put = await sendJson('PUT', `${plane.url}/api/v1/services/cart/endpoints/${id}`, {
      ...spec,
      health: 'draining',
    });
    expect(put.status).toBe(200);
    await first.proxy.close();
    await ready(node);
    const after = await getJson(`${plane.url}/api/v1/services/cart/endpoints/${id}`);
    expect(after.body.health).toBe('draining');
  });

  it('proxies joining together are registered together: fewer revisions than proxies, each audited as itself', async () => {
    const before = plane.stream.currentRevision;
    const nodes = Array.from({ length: 20 }, (_, i) => ({
      service: 'cart',
      instance: `cart-storm-${i}`,
      address: `10.9.7.${i + 1}`,
      port: 9700,
    }));
    const proxies = await Promise.all(nodes.map((n) => join(n)));
    const stray = await join({ service: 'no-such-service', instance: 'stray', address: '10.9.7.200' });
    await Promise.all(proxies.map((p) => p.snapshot()));
    expect((await stray.closed).reason).toContain('unknown service "no-such-service"');
    const created = plane.stream.currentRevision - before;
    expect(created).toBeGreaterThanOrEqual(1);
    expect(created).toBeLessThan(nodes.length);
    const list = await getJson(`${plane.url}/api/v1/services/cart/endpoints?limit=500`);
    for (const n of nodes) {
      expect(list.body.items.some((e: { address: string }) => e.address === n.address)).toBe(true);
    }
    const audit = await getJson(`${plane.url}/api/v1/audit?kind=endpoint&resourceName=cart/10.9.7.7:9700`);
    expect(audit.body.items[0]).toMatchObject({ action: 'create', actor: 'proxy:cart/cart-storm-6' });
  });

  it('in a service of many endpoints, a delta carries the one that changed, not the whole list', async () => {
    for (let i = 1; i <= 6; i++) await addEndpoint('audit', `10.9.8.${i}`);
    const ledger = await ready({ service: 'ledger', instance: 'ledger-8', address: '10.9.8.100' });
    const mark = ledger.proxy.received.length;
    const revision = await addEndpoint('audit', '10.9.8.7');
    const got = await ledger.proxy.waitFor((m) => m.revision === revision, 'the delta', 5000, mark);
    const delta = EndpointsMessage.parse(got.data);
    expect(delta.services).toEqual({});
    expect(delta.changes.audit?.set.map((e) => e.address)).toEqual(['10.9.8.7']);
    expect(delta.changes.audit?.remove).toEqual([]);
    const list = await getJson(`${plane.url}/api/v1/services/audit/endpoints`);
    const gone = list.body.items.find((e: { address: string }) => e.address === '10.9.8.3');
    const removed = await sendJson('DELETE', `${plane.url}/api/v1/services/audit/endpoints/${gone.id}`);
    const next = await ledger.proxy.waitFor(
      (m) => m.revision === removed.revision,
      'the removal',
      5000,
      mark,
    );
    expect(EndpointsMessage.parse(next.data).changes.audit?.remove).toEqual([
      { address: '10.9.8.3', port: 8080 },
    ]);
    const held = ledger.proxy.view?.endpoints.filter((e) => e.service === 'audit').map((e) => e.address);
    expect(held?.sort()).toEqual(['10.9.8.1', '10.9.8.2', '10.9.8.4', '10.9.8.5', '10.9.8.6', '10.9.8.7']);
  });

  it('a refusal of an earlier update, answered after a later one was sent, still brings the whole slice', async () => {
    const ledger = await ready({ service: 'ledger', instance: 'ledger-9', address: '10.9.9.1' }, false);
    const mark = ledger.proxy.received.length;
    const r1 = await addEndpoint('audit', '10.9.9.50');
    const m1 = await ledger.proxy.waitFor((m) => m.revision === r1, 'the first update', 5000, mark);
    const r2 = await addEndpoint('audit', '10.9.9.51');
    await ledger.proxy.waitFor((m) => m.revision === r2, 'the second update', 5000, mark);
    const before = ledger.proxy.received.length;
    ledger.proxy.send({
      type: 'nack',
      revision: r1,
      nonce: m1.data.nonce,
      error: 'could not apply',
      errors: [],
    });
    const whole = await ledger.proxy.waitFor((m) => m.type === 'snapshot', 'the whole slice', 5000, before);
    expect(whole.data.revision).toBeGreaterThanOrEqual(r2);
    const status = await proxyStatus(plane, 'ledger', 'ledger-9');
    expect(status.lastNack).toMatchObject({ revision: r1, error: 'could not apply' });
  });

  it('a refused whole slice is sent again on the next resync, even when nothing changed', async () => {
    const proxy = await join({ service: 'ledger', instance: 'ledger-10', address: '10.9.10.1' });
    const first = await proxy.snapshot();
    proxy.send({
      type: 'nack',
      revision: first.data.revision,
      nonce: first.data.nonce,
      error: 'busy',
      errors: [],
    });
    await proxy.flush();
    expect((await proxyStatus(plane, 'ledger', 'ledger-10')).status).toBe('NACKED');
    const mark = proxy.received.length;
    plane.stream.resync();
    const again = await proxy.waitFor((m) => m.type === 'snapshot', 'the slice again', 5000, mark);
    proxy.ack(again.data);
    await eventually(
      async () => ((await proxyStatus(plane, 'ledger', 'ledger-10'))?.status === 'SYNCED' ? 1 : undefined),
      'SYNCED after the retry',
    );
  });
});
