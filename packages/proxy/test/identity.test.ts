/**
 * The proxy's side of workload identity: it asks for exactly its SPIFFE ID with a fresh key, accepts only the
 * answer to its outstanding request whose leaf names it, carries that request's key and chains to a root sent
 * with it, and plans renewal at two thirds of the lifetime counted from receipt.
 */
import 'reflect-metadata';
import { type webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { IdentityManager } from '../src/identity.ts';
import {
  issuedFiles,
  keys,
  makeRoot as makeTestRoot,
  sign as signLeaf,
  type TestRoot,
} from './support/ca.ts';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const HOUR = 3_600_000;

const makeRoot = () => makeTestRoot(NOW);
const sign = (root: TestRoot, csr: string, uri: string, publicKey?: webcrypto.CryptoKey) =>
  signLeaf(root, csr, uri, { now: NOW, ...(publicKey ? { publicKey } : {}) });

function manager() {
  return new IdentityManager({
    service: 'service-a',
    trustDomain: 'unit.mesh',
    logger: pino({ level: 'silent' }),
    now: () => new Date(NOW),
  });
}

const ID = 'spiffe://unit.mesh/ns/default/sa/service-a';

describe('IdentityManager', () => {
  it('asks for exactly its SPIFFE ID, and takes a good answer: key kept, renewal at 2/3 from receipt', async () => {
    const m = manager();
    expect(m.due()).toBe(true);
    const request = await m.request();
    const csr = new x509.Pkcs10CertificateRequest(request.csr);
    expect(await csr.verify()).toBe(true);
    const san = new x509.SubjectAlternativeNameExtension(
      csr.getExtension('2.5.29.17')?.rawData as ArrayBuffer,
    );
    expect(san.names.items.map((n) => `${n.type}:${n.value}`)).toEqual([`url:${ID}`]);
    expect(m.due()).toBe(false);

    const root = await makeRoot();
    const chain = [await sign(root, request.csr, ID)];
    expect(
      m.accept({
        type: 'certificate',
        id: request.id,
        chain,
        roots: [root.pem],
        expiresAt: new Date(NOW + 24 * HOUR).toISOString(),
      }),
    ).toEqual({ ok: true });
    const cert = m.current;
    expect(cert?.keyPem).toContain('BEGIN PRIVATE KEY');
    expect(
      new X509Certificate(cert?.chainPem[0] as string).checkPrivateKey(
        await importKey(cert?.keyPem as string),
      ),
    ).toBe(true);
    expect(m.renewAt()).toBe(NOW + 16 * HOUR);
    expect(m.status()).toMatchObject({ identity: ID, certificate: { roots: 1 }, issued: 1, requested: 1 });
    expect(JSON.stringify(m.status())).not.toContain('PRIVATE');
  });

  it('refuses an answer to another request, for another identity, for another key, or from an unknown root', async () => {
    const root = await makeRoot();
    const stranger = await makeRoot();
    const cases: [
      string,
      (csr: string, id: string) => Promise<{ id: string; chain: string[]; roots: string[] }>,
    ][] = [
      ['no request', async (csr) => ({ id: 'other', chain: [await sign(root, csr, ID)], roots: [root.pem] })],
      [
        'names',
        async (csr, id) => ({
          id,
          chain: [await sign(root, csr, 'spiffe://unit.mesh/ns/default/sa/service-b')],
          roots: [root.pem],
        }),
      ],
      [
        'not for the key',
        async (csr, id) => ({
          id,
          chain: [await sign(root, csr, ID, (await keys()).publicKey)],
          roots: [root.pem],
        }),
      ],
      [
        'does not chain',
        async (csr, id) => ({ id, chain: [await sign(stranger, csr, ID)], roots: [root.pem] }),
      ],
    ];
    for (const [expected, answer] of cases) {
      const m = manager();
      const request = await m.request();
      const result = m.accept({
        type: 'certificate',
        expiresAt: new Date(NOW + HOUR).toISOString(),
        ...(await answer(request.csr, request.id)),
      });
      expect(result.ok, expected).toBe(false);
      expect(result.ok ? '' : result.error).toContain(expected);
      expect(m.current).toBeUndefined();
    }
  });

  it('a refusal from the control plane is kept as the last error; abandon forgets the request', async () => {
    const m = manager();
    const request = await m.request();
    expect(
      m.accept({ type: 'certificate-error', id: request.id, error: 'may only be issued x' }),
    ).toMatchObject({ ok: false });
    expect(m.lastError).toContain('may only be issued x');
    await m.request();
    expect(m.awaiting).toBe(true);
    m.abandon();
    expect(m.awaiting).toBe(false);
    expect(m.due()).toBe(true);
  });

  it('installs an operator-issued key and certificate only when they name it, match and chain to a given root', async () => {
    const root = await makeRoot();
    const other = await makeRoot();
    const files = await issuedFiles(root, ID, { now: NOW });
    const mismatched = await issuedFiles(root, ID, { now: NOW });
    const wrongName = await issuedFiles(root, 'spiffe://unit.mesh/ns/default/sa/service-b', { now: NOW });

    const m = manager();
    const seen: string[] = [];
    m.onChange((cert) => seen.push(cert.serial));
    expect(m.installIssued(files.keyPem, [wrongName.certPem], [root.pem])).toEqual({
      ok: false,
      error: `the certificate names URI:spiffe://unit.mesh/ns/default/sa/service-b, not ${ID}`,
    });
    expect(m.installIssued(mismatched.keyPem, [files.certPem], [root.pem])).toEqual({
      ok: false,
      error: 'the certificate is not for the key of the request',
    });
    expect(m.installIssued(files.keyPem, [files.certPem], [other.pem])).toEqual({
      ok: false,
      error: 'the certificate does not chain to any of the roots sent with it',
    });
    expect(m.installIssued('not a key', [files.certPem], [root.pem]).ok).toBe(false);
    expect(m.current).toBeUndefined();

    expect(m.installIssued(files.keyPem, [files.certPem], [other.pem, root.pem])).toEqual({ ok: true });
    expect(m.current?.keyPem).toBe(files.keyPem);
    expect(m.current?.rootsPem).toHaveLength(2);
    expect(seen).toEqual([m.current?.serial]);
  });
});

async function importKey(pem: string) {
  const { createPrivateKey } = await import('node:crypto');
  return createPrivateKey(pem);
}
