/**
 * Identities no one can forge: each attack here was carried out against a running mesh and worked before this
 * suite existed. A proxy's identity is bound to a credential for exactly one service (a per-service join token);
 * the mesh-wide token exists only when configured; another credential can neither replace a connected instance
 * nor take the address another proxy holds; telemetry is taken only for a proxy's own edges; and every join,
 * leave, refusal and certificate is in the security log.
 */
import { X509Certificate } from 'node:crypto';
import { spiffeId, TelemetryFrame } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { ControlPlane } from '../../src/server.ts';
import { makeCsr } from '../support/csr.ts';
import { createDatabase } from '../support/db.ts';
import {
  deadline,
  eventually,
  FakeProxy,
  getJson,
  sendJson,
  startPlane,
  streamUrl,
} from '../support/proxy-client.ts';
import { edge } from '../support/telemetry.ts';

let plane: ControlPlane;
const open: FakeProxy[] = [];

beforeAll(async () => {
  // As `npm start` runs it: no mesh-wide join token.
  plane = await startPlane(await createDatabase('sec_identity'), { joinToken: undefined });
});
afterAll(async () => {
  for (const p of open) await p.close().catch(() => undefined);
  await plane?.stop();
});

async function joinToken(service: string): Promise<{ id: string; token: string }> {
  const created = await sendJson('POST', `${plane.url}/api/v1/join-tokens`, { service });
  expect(created.status).toBe(201);
  return created.body;
}

async function join(
  node: { service: string; instance: string; address?: string; port?: number },
  token: string,
): Promise<FakeProxy> {
  const proxy = await FakeProxy.join(streamUrl(plane), node, { token });
  open.push(proxy);
  return proxy;
}

async function securityEvents(query = ''): Promise<any[]> {
  const { status, body } = await getJson(`${plane.url}/api/v1/security-events?limit=500${query}`);
  expect(status).toBe(200);
  return body.items;
}

async function endpointsOf(service: string): Promise<any[]> {
  return (await getJson(`${plane.url}/api/v1/services/${service}/endpoints`)).body.items;
}

describe('the mesh-wide join token', () => {
  it('does not exist unless configured: the old development token admits no one, and the refusal is logged', async () => {
    expect(loadConfig({}).joinToken).toBeUndefined();
    const attacker = await join(
      { service: 'service-b', instance: 'b-forged', address: '10.66.0.1', port: 9801 },
      'trellis-dev-join-token',
    );
    const closed = await deadline(attacker.closed, 5000, 'the forged hello to be refused');
    expect(closed).toEqual({ code: 4001, reason: 'invalid join token' });
    expect((await endpointsOf('service-b')).map((e) => e.address)).not.toContain('10.66.0.1');
    const refused = await eventually(async () => {
      const events = await securityEvents('&action=proxy.refused');
      return events.find((e) => e.subject === 'service-b/b-forged');
    }, 'the refusal in the security log');
    expect(refused).toMatchObject({
      actor: 'anonymous',
      outcome: 'refused',
      service: 'service-b',
      detail: { reason: 'invalid join token', address: '10.66.0.1', port: 9801 },
    });
    expect(refused.remote).toMatch(/^(::ffff:)?127\.0\.0\.1:\d+$/);
  });
});

describe('a per-service join token', () => {
  it('admits its own service only, and its certificate is signed for that service only', async () => {
    const { id, token } = await joinToken('service-a');
    const impostor = await join({ service: 'service-c', instance: 'c-rogue', address: '10.66.0.2' }, token);
    expect((await deadline(impostor.closed, 5000, 'the impostor refused')).code).toBe(4001);

    const proxy = await join(
      { service: 'service-a', instance: 'a-sec', address: '10.66.0.3', port: 9803 },
      token,
    );
    await proxy.snapshot();
    const domain = plane.certificates.trustDomain;
    const theirs = await makeCsr([{ type: 'url', value: spiffeId(domain, 'service-b') }]);
    proxy.send({ type: 'csr', id: 'theirs', csr: theirs.csr });
    expect((await proxy.waitFor((m) => m.id === 'theirs', 'the CSR for service-b answered')).data.type).toBe(
      'certificate-error',
    );
    const own = await makeCsr([{ type: 'url', value: spiffeId(domain, 'service-a') }]);
    proxy.send({ type: 'csr', id: 'own', csr: own.csr });
    const issued = await proxy.waitFor((m) => m.id === 'own', 'the CSR for service-a answered');
    expect(new X509Certificate(issued.data.chain[0]).subjectAltName).toBe(
      `URI:${spiffeId(domain, 'service-a')}`,
    );

    const events = await eventually(async () => {
      const all = await securityEvents('&service=service-a');
      return all.some((e) => e.action === 'certificate.issued') ? all : undefined;
    }, 'the certificate in the security log');
    const credential = `join-token:${id}`;
    expect(events.find((e) => e.action === 'proxy.join' && e.subject === 'service-a/a-sec')).toMatchObject({
      actor: credential,
      outcome: 'allowed',
      detail: { address: '10.66.0.3', port: 9803 },
    });
    expect(events.find((e) => e.action === 'certificate.issued')).toMatchObject({
      subject: spiffeId(domain, 'service-a'),
      outcome: 'allowed',
      detail: { instance: 'a-sec', credential },
    });
    expect(events.find((e) => e.action === 'certificate.refused')).toMatchObject({
      subject: 'service-a/a-sec',
      outcome: 'refused',
    });
    const refusedHello = (await securityEvents('&service=service-c&action=proxy.refused')).find(
      (e) => e.subject === 'service-c/c-rogue',
    );
    expect(refusedHello).toMatchObject({
      actor: credential,
      detail: { reason: expect.stringContaining('service-a') },
    });

    await proxy.close();
    await eventually(
      async () => (await securityEvents('&action=proxy.leave')).find((e) => e.subject === 'service-a/a-sec'),
      'the leave in the security log',
    );
  });
});

describe('a connected instance and its address', () => {
  it('another credential can neither replace a connected instance nor take its address', async () => {
    const owner = await joinToken('service-c');
    const other = await joinToken('service-c');
    const node = { service: 'service-c', instance: 'c-owned', address: '10.66.0.4', port: 9804 };
    const proxy = await join(node, owner.token);
    await proxy.snapshot();

    // The same instance, another credential: refused, and the connected proxy is not cut off.
    const replacer = await join(node, other.token);
    const refused = await deadline(replacer.closed, 5000, 'the replacement refused');
    expect(refused.code).toBe(4001);
    expect(refused.reason).toContain('another credential');

    // Another instance of the same service at the same address: refused while the owner is alive.
    const squatter = await join({ ...node, instance: 'c-squatter' }, other.token);
    const conflict = await deadline(squatter.closed, 5000, 'the squatter refused');
    expect(conflict.code).toBe(4009);
    expect(conflict.reason).toContain('service-c/c-owned');

    expect(proxy.ws.readyState).toBe(proxy.ws.OPEN);
    const held = (await endpointsOf('service-c')).filter((e) => e.address === '10.66.0.4');
    expect(held).toHaveLength(1);
    expect(held[0].health).toBe('healthy');
    const status = await getJson(`${plane.url}/api/v1/proxies?scope=local`);
    expect(
      status.body.items.filter((p: any) => p.node.instance === 'c-owned' && p.status !== 'DISCONNECTED'),
    ).toHaveLength(1);
    expect(
      status.body.items.some((p: any) => p.node.instance === 'c-squatter' && p.status !== 'DISCONNECTED'),
    ).toBe(false);

    // The same credential may replace it (a restarted proxy whose old connection is not yet gone).
    const restarted = await join(node, owner.token);
    await restarted.snapshot();
    expect((await deadline(proxy.closed, 5000, 'the old connection replaced')).code).toBe(4003);
  });
});

describe('telemetry', () => {
  it('is taken only for edges where the reporting proxy is the source or the destination', async () => {
    const { token } = await joinToken('service-a');
    const proxy = await join(
      { service: 'service-a', instance: 'a-tel', address: '10.66.0.5', port: 9805 },
      token,
    );
    await proxy.snapshot();
    // A settled second inside the live view's window (it leaves out the seconds still arriving).
    const windowStart = Date.now() - 4000;
    const mixed = TelemetryFrame.parse({
      node: { service: 'service-a', instance: 'a-tel' },
      windowStart,
      windowMs: 1000,
      edges: [edge('service-a', 'service-b', { ok: 5 }), edge('service-b', 'service-c', { ok: 36 })],
      ejections: 0,
      ejected: [],
      activeRequests: 0,
    });
    const foreign = TelemetryFrame.parse({ ...mixed, node: { service: 'service-c', instance: 'c-1' } });
    proxy.send({ type: 'telemetry', frames: [mixed, foreign] });
    await eventually(
      async () => (plane.stream.telemetryOf('service-a', 'a-tel').length > 0 ? true : undefined),
      'the telemetry taken',
    );
    const kept = plane.stream.telemetryOf('service-a', 'a-tel');
    expect(kept).toHaveLength(1);
    expect(kept[0]?.edges.map((e) => `${e.source}→${e.destination}`)).toEqual(['service-a→service-b']);
    expect(plane.stream.telemetryOf('service-c', 'c-1')).toEqual([]);
    const topology = await plane.telemetry.topology();
    // service-b → service-c is declared, so it is drawn, but idle: nobody who could have seen it reported it.
    const bc = topology.edges.find((e) => e.source === 'service-b' && e.destination === 'service-c');
    expect(bc?.idle ?? true).toBe(true);
    expect(topology.edges.find((e) => e.source === 'service-a' && e.destination === 'service-b')?.idle).toBe(
      false,
    );
    const logged = await eventually(
      async () =>
        (await securityEvents('&action=telemetry.refused')).find((e) => e.subject === 'service-a/a-tel'),
      'the refusal in the security log',
    );
    expect(logged.outcome).toBe('refused');
  });
});
