/**
 * The mesh's certificate authority on a real Postgres: one root per mesh, made once and kept with its private key
 * encrypted; certificates only for the identity of the service a proxy registered as, whatever the CSR asks; a
 * rotation that keeps the old root trusted for its overlap window; and the same over a real proxy stream.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { spiffeId } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, CertificateRefused, decryptKey } from '../src/ca/authority.ts';
import type { ControlPlane } from '../src/server.ts';
import { makeCsr } from './support/csr.ts';
import { createDatabase, type TestControl, testControl } from './support/db.ts';
import { FakeProxy, startPlane, streamUrl, TEST_CA_KEY } from './support/proxy-client.ts';
import { ManualClock } from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 26, 0, 0, 0);
const TTL = 3_600_000;
let t: TestControl;
const clock = new ManualClock(T0);
const open: FakeProxy[] = [];
let plane: ControlPlane | undefined;

function authority(key = TEST_CA_KEY) {
  return CertificateAuthority.load({
    db: t.db,
    key,
    trustDomain: 'test.mesh',
    certificateTtlMs: TTL,
    clock: clock.now,
  });
}

beforeAll(async () => {
  t = await testControl();
});
afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await plane?.stop();
  await t?.close();
});

describe('certificate authority', () => {
  it('makes one root per mesh, keeps its key encrypted, and every loader uses the same root', async () => {
    const [a, b] = await Promise.all([authority(), authority()]);
    expect(await t.db.caRoot.count()).toBe(1);
    expect(a.trustBundle).toEqual(b.trustBundle);
    const row = await t.db.caRoot.findFirstOrThrow();
    expect(row.keyCiphertext).not.toContain('PRIVATE KEY');
    expect(() =>
      createPrivateKey({ key: Buffer.from(row.keyCiphertext, 'base64'), format: 'der', type: 'pkcs8' }),
    ).toThrow();
    expect(
      createPrivateKey({ key: decryptKey(TEST_CA_KEY, row.keyCiphertext), format: 'der', type: 'pkcs8' })
        .asymmetricKeyType,
    ).toBe('ec');
    const root = new X509Certificate(row.certPem);
    expect(root.ca).toBe(true);
  });

  it('refuses to start with another key than the one the root was stored with', async () => {
    await expect(authority(Buffer.alloc(32, 9))).rejects.toThrow(/TRELLIS_CA_KEY/);
  });

  it('signs the identity of the registered service: SPIFFE URI SAN, both EKUs, chained to the root, with the TTL', async () => {
    const ca = await authority();
    const identity = spiffeId('test.mesh', 'service-c');
    const { csr } = await makeCsr([{ type: 'url', value: identity }]);
    const issued = await ca.issue(csr, 'service-c');
    const leaf = new X509Certificate(issued.chain[0] as string);
    const root = new X509Certificate(issued.roots[0] as string);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.subjectAltName).toBe(`URI:${identity}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(issued.expiresAt.getTime()).toBe(T0 + TTL);
    expect(new Date(leaf.validTo).getTime()).toBe(T0 + TTL);
  });

  it("never signs another service's identity, extra names, no name, a forged signature or garbage", async () => {
    const ca = await authority();
    const other = await makeCsr([{ type: 'url', value: spiffeId('test.mesh', 'service-b') }]);
    await expect(ca.issue(other.csr, 'service-c')).rejects.toThrow(
      /may only be issued spiffe:\/\/test\.mesh\/ns\/default\/sa\/service-c; the request asks for url:spiffe:\/\/test\.mesh\/ns\/default\/sa\/service-b/,
    );
    const extra = await makeCsr([
      { type: 'url', value: spiffeId('test.mesh', 'service-c') },
      { type: 'dns', value: 'evil.example' },
    ]);
    await expect(ca.issue(extra.csr, 'service-c')).rejects.toBeInstanceOf(CertificateRefused);
    const none = await makeCsr([]);
    await expect(ca.issue(none.csr, 'service-c')).rejects.toThrow(/no identity/);
    const good = await makeCsr([{ type: 'url', value: spiffeId('test.mesh', 'service-c') }]);
    const body = good.csr.split('\n').slice(1, -2).join('');
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(ca.issue(forged, 'service-c')).rejects.toBeInstanceOf(CertificateRefused);
    await expect(
      ca.issue('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', 'service-c'),
    ).rejects.toBeInstanceOf(CertificateRefused);
  });

  it('rotation: a new root signs, the old one stays trusted for the overlap, then drops out', async () => {
    const ca = await authority();
    const [oldRoot] = ca.trustBundle;
    await ca.rotate(600_000);
    expect(ca.trustBundle).toHaveLength(2);
    const [newRoot] = ca.trustBundle;
    expect(newRoot).not.toBe(oldRoot);
    const { csr } = await makeCsr([{ type: 'url', value: spiffeId('test.mesh', 'service-a') }]);
    const issued = await ca.issue(csr, 'service-a');
    expect(issued.roots).toEqual([newRoot, oldRoot]);
    expect(
      new X509Certificate(issued.chain[0] as string).verify(new X509Certificate(newRoot as string).publicKey),
    ).toBe(true);
    clock.advance(600_001);
    expect(ca.trustBundle).toEqual([newRoot]);
    // Another replica loading now sees the same state.
    expect((await authority()).trustBundle).toEqual([newRoot]);
  });
});

describe('certificates over the proxy stream', () => {
  it('a proxy gets a certificate for its own service and is refused one for another', async () => {
    plane = await startPlane(await createDatabase('castream'));
    const proxy = await FakeProxy.join(streamUrl(plane), {
      service: 'service-c',
      instance: 'c-ca',
      address: '10.3.3.3',
      port: 9303,
    });
    open.push(proxy);
    await proxy.snapshot();
    const identity = spiffeId(plane.certificates.trustDomain, 'service-c');
    const own = await makeCsr([{ type: 'url', value: identity }]);
    proxy.send({ type: 'csr', id: 'r1', csr: own.csr });
    const answer = await proxy.waitFor((m) => m.id === 'r1', 'the answer to r1');
    expect(answer.data.type).toBe('certificate');
    expect(new X509Certificate(answer.data.chain[0]).subjectAltName).toBe(`URI:${identity}`);
    expect(answer.data.roots).toEqual(plane.certificates.trustBundle);

    const theirs = await makeCsr([
      { type: 'url', value: spiffeId(plane.certificates.trustDomain, 'service-b') },
    ]);
    proxy.send({ type: 'csr', id: 'r2', csr: theirs.csr });
    const refused = await proxy.waitFor((m) => m.id === 'r2', 'the answer to r2');
    expect(refused.data).toMatchObject({ type: 'certificate-error', id: 'r2' });
    expect(refused.data.error).toContain('may only be issued');

    // Two at once: the second waits for nothing, it is refused.
    proxy.send({ type: 'csr', id: 'r3', csr: own.csr });
    proxy.send({ type: 'csr', id: 'r4', csr: own.csr });
    const r4 = await proxy.waitFor((m) => m.id === 'r4', 'the answer to r4');
    expect(r4.data).toMatchObject({
      type: 'certificate-error',
      error: expect.stringContaining('already being signed'),
    });
    expect((await proxy.waitFor((m) => m.id === 'r3', 'the answer to r3')).data.type).toBe('certificate');
  });

  it('a malformed CSR message closes the stream with a protocol error naming the field', async () => {
    if (!plane) throw new Error('no plane');
    const proxy = await FakeProxy.join(streamUrl(plane), {
      service: 'service-c',
      instance: 'c-ca2',
      address: '10.3.3.4',
      port: 9304,
    });
    open.push(proxy);
    await proxy.snapshot();
    proxy.send({ type: 'csr', id: 'x', csr: 'not a pem' });
    const closed = await proxy.closed;
    expect(closed.code).toBe(4002);
    expect(closed.reason).toContain('csr');
  });
});
