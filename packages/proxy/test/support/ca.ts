/** A small certificate authority for tests: a root, and leaves signed for a CSR's key with any SPIFFE ID. */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pino } from 'pino';
import { IdentityManager } from '../../src/identity.ts';

x509.cryptoProvider.set(webcrypto as never);
export const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;

export async function keys() {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

export interface TestRoot {
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
  pem: string;
}

export async function makeRoot(now = Date.now()): Promise<TestRoot> {
  const k = await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test root',
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 100 * HOUR),
    signingAlgorithm: ALG,
    keys: k,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  return { keys: k, cert, pem: cert.toString('pem') };
}

/** Signs a leaf for the key of `csrPem` (or `publicKey`) naming `uri`, valid for a day from `now`. */
export async function sign(
  root: TestRoot,
  csrPem: string,
  uri: string,
  options: { publicKey?: webcrypto.CryptoKey; now?: number; serial?: string } = {},
): Promise<string> {
  const now = options.now ?? Date.now();
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: options.serial ?? '0a',
    subject: 'CN=leaf',
    issuer: root.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * HOUR),
    signingAlgorithm: ALG,
    publicKey: options.publicKey ?? csr.publicKey,
    signingKey: root.keys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
    ],
  });
  return leaf.toString('pem');
}

/** An identity for `service` holding a certificate from `root` (naming `uri`, by default its own ID). */
export async function issuedIdentity(
  root: TestRoot,
  service: string,
  trustDomain: string,
  options: { uri?: string; serial?: string } = {},
): Promise<IdentityManager> {
  const identity = new IdentityManager({ service, trustDomain, logger: pino({ level: 'silent' }) });
  await renew(identity, root, options);
  return identity;
}

/** Gives `identity` a new key and certificate from `root`, as a renewal would (with `trust` as its roots). */
export async function renew(
  identity: IdentityManager,
  root: TestRoot,
  options: { uri?: string; serial?: string; trust?: TestRoot[] } = {},
): Promise<void> {
  const request = await identity.request();
  const chain = [
    await sign(root, request.csr, options.uri ?? identity.spiffeId, { serial: options.serial ?? '0b' }),
  ];
  const answer = identity.accept({
    type: 'certificate',
    id: request.id,
    chain,
    // The trust bundle sent with it: the signing root alone, or (during a rotation) several.
    roots: (options.trust ?? [root]).map((r) => r.pem),
    expiresAt: new Date(Date.now() + 24 * HOUR).toISOString(),
  });
  if (!answer.ok && !options.uri) throw new Error(answer.error);
}

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body.trimEnd()}\n-----END ${label}-----\n`;
}

/** A key and a certificate from `root` naming `uri`, as the PEM files an operator would give a proxy. */
export async function issuedFiles(
  root: TestRoot,
  uri: string,
  options: { now?: number; serial?: string } = {},
): Promise<{ keyPem: string; certPem: string }> {
  const k = await keys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=files',
    keys: k,
    signingAlgorithm: ALG,
  });
  const certPem = await sign(root, csr.toString('pem'), uri, { ...options, publicKey: k.publicKey });
  return { keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', k.privateKey)), certPem };
}

/** A TLS server key and certificate from `root` for 127.0.0.1 and localhost (a control plane's, say). */
export async function serverFiles(root: TestRoot): Promise<{ keyPem: string; certPem: string }> {
  const k = await keys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0c',
    subject: 'CN=server',
    issuer: root.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * HOUR),
    signingAlgorithm: ALG,
    publicKey: k.publicKey,
    signingKey: root.keys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return {
    keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', k.privateKey)),
    certPem: cert.toString('pem'),
  };
}
