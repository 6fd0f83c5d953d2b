/**
 * Workload identity end to end: a real proxy (createProxy + ControlClient) joins a real control plane, makes its
 * own key, sends a CSR and gets a certificate for spiffe://<trust domain>/ns/default/sa/<its service>, chained to
 * the mesh root; it renews at two thirds of the lifetime with a new key; after a root rotation its renewal chains
 * to the new root while the old one is still sent for the overlap; a proxy configured with another trust domain
 * is refused and says why. The proxy's admin /certs shows the identity, never the key.
 */
import { X509Certificate } from 'node:crypto';
import { ControlClient, createProxy, IdentityManager, type TrellisProxy } from '@trellis/proxy';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { createDatabase } from './support/db.ts';
import { eventually, JOIN_TOKEN, startPlane, streamUrl } from './support/proxy-client.ts';

const TTL_MS = 3000;
let plane: ControlPlane;
const started: { client: ControlClient; proxy: TrellisProxy }[] = [];

async function sidecar(service: string, instance: string, trustDomain: string) {
  const bootstrap = {
    node: { service, instance },
    listeners: [{ name: 'out', mode: 'outbound' as const, port: 0 }],
  };
  const proxy = await createProxy(bootstrap, { admin: { port: 0 }, drainTimeoutMs: 200 });
  const workload = new IdentityManager({ service, trustDomain, logger: pino({ level: 'silent' }) });
  proxy.useIdentity(workload);
  const client = new ControlClient({
    url: streamUrl(plane),
    token: JOIN_TOKEN,
    identity: {
      service,
      instance,
      address: '127.0.0.1',
      port: 15_100 + started.length,
      zone: '',
      labels: {},
    },
    bootstrap,
    proxy,
    workload,
    logger: pino({ level: 'silent' }),
  });
  started.push({ client, proxy });
  await client.start();
  return { proxy, workload };
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('identity'), {
    certificateTtlMs: TTL_MS,
    trustDomain: 'e2e.mesh',
  });
});

afterAll(async () => {
  for (const { client, proxy } of started) {
    await client.stop();
    await proxy.close();
  }
  await plane?.stop();
});

describe('workload identity', () => {
  it('a proxy obtains a certificate for its service, renews it with a new key, and follows a root rotation', async () => {
    const { proxy, workload } = await sidecar('service-a', 'a-id', 'e2e.mesh');
    const first = await eventually(async () => workload.current, 'a first certificate', 10_000);
    const leaf = new X509Certificate(first.chainPem[0] as string);
    expect(leaf.subjectAltName).toBe('URI:spiffe://e2e.mesh/ns/default/sa/service-a');
    expect(leaf.verify(new X509Certificate(first.rootsPem[0] as string).publicKey)).toBe(true);
    expect(first.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(TTL_MS);

    const certs = await (await fetch(`${proxy.adminUrl}/certs`)).json();
    expect(certs).toMatchObject({
      identity: 'spiffe://e2e.mesh/ns/default/sa/service-a',
      certificate: { serial: first.serial, roots: 1 },
      issued: 1,
    });
    expect(JSON.stringify(certs)).not.toContain('PRIVATE KEY');

    // Renewal at 2/3 of the 3 s lifetime: a new certificate for a new key.
    const second = await eventually(
      async () =>
        workload.current && workload.current.serial !== first.serial ? workload.current : undefined,
      'a renewed certificate',
      10_000,
    );
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(second.notBefore.getTime()).toBeGreaterThanOrEqual(first.notBefore.getTime());

    const [oldRoot] = plane.certificates.trustBundle;
    await plane.certificates.rotate(60_000);
    const [newRoot] = plane.certificates.trustBundle;
    const third = await eventually(
      async () => (workload.current?.rootsPem.length === 2 ? workload.current : undefined),
      'a certificate from the new root',
      10_000,
    );
    expect(third.rootsPem).toEqual([newRoot, oldRoot]);
    expect(
      new X509Certificate(third.chainPem[0] as string).verify(
        new X509Certificate(newRoot as string).publicKey,
      ),
    ).toBe(true);
  });

  it('a proxy with another trust domain is refused, and says why', async () => {
    const { workload } = await sidecar('service-b', 'b-id', 'other.mesh');
    await eventually(async () => (workload.counts.refused > 0 ? true : undefined), 'a refusal', 10_000);
    expect(workload.current).toBeUndefined();
    expect(workload.lastError).toContain('may only be issued spiffe://e2e.mesh/ns/default/sa/service-b');
  });
});
