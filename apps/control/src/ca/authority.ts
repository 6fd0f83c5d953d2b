/**
 * The mesh's certificate authority. Proxies make their own keys and send a CSR over their stream; the CA signs
 * a short-lived certificate (default 24 h) whose only identity is the SPIFFE ID of the service the proxy
 * registered as, so a proxy can never obtain another service's identity, whatever its CSR asks for.
 *
 * The root (ECDSA P-256, 10 years) lives in Postgres so every control-plane replica signs with the same one; its
 * private key is stored encrypted with AES-256-GCM under a 32-byte key from configuration, never in clear. The
 * first replica to start creates it (under a table lock, so two starting together make one). `rotate()` makes a
 * new active root and keeps the old one trusted for an overlap window: proxies are sent both in their trust
 * bundle, so certificates signed by either verify while proxies renew onto the new root.
 */
import 'reflect-metadata';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { spiffeId } from '@trellis/schema';
import type { Db } from '../db/client.ts';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const ROOT_LIFETIME_MS = 10 * 365 * 86_400_000;
/** Certificates start this long in the past, for clocks a little behind the control plane's. */
const BACKDATE_MS = 60_000;
const SAN_OID = '2.5.29.17';

export class CertificateRefused extends Error {
  override name = 'CertificateRefused';
}

export interface IssuedCertificate {
  /** The SPIFFE ID the certificate carries. */
  identity: string;
  /** Leaf first, PEM. */
  chain: string[];
  /** Every root proxies should trust now, PEM. */
  roots: string[];
  expiresAt: Date;
}

/** A TLS server certificate of the control plane, with its key (PEM). */
export interface ServingCertificate {
  key: string;
  cert: string;
  roots: string[];
  expiresAt: Date;
}

export interface AuthorityOptions {
  db: Db;
  /** 32 bytes: encrypts the roots' private keys at rest. */
  key: Buffer;
  trustDomain: string;
  certificateTtlMs: number;
  clock: () => Date;
}

interface LoadedRoot {
  id: string;
  cert: x509.X509Certificate;
  pem: string;
  privateKey: CryptoKey | null;
  trustUntil: Date;
  active: boolean;
}

export function encryptKey(key: Buffer, plain: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function decryptKey(key: Buffer, stored: string): Buffer {
  const raw = Buffer.from(stored, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
}

function serial(): string {
  // Positive (top bit clear), 16 random bytes, as RFC 5280 recommends.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

export class CertificateAuthority {
  private roots: LoadedRoot[] = [];

  private constructor(private readonly options: AuthorityOptions) {}

  /** Loads the roots, creating the first one if the mesh has none. */
  static async load(options: AuthorityOptions): Promise<CertificateAuthority> {
    if (options.key.length !== 32) throw new Error('the CA key must be 32 bytes');
    const ca = new CertificateAuthority(options);
    await options.db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('LOCK TABLE "CaRoot" IN EXCLUSIVE MODE');
      if ((await tx.caRoot.count({ where: { active: true } })) === 0) await ca.createRoot(tx);
    });
    await ca.reload();
    return ca;
  }

  /** The roots proxies must trust now (PEM), the active one first. */
  get trustBundle(): string[] {
    const now = this.options.clock().getTime();
    return this.roots.filter((r) => r.active || r.trustUntil.getTime() > now).map((r) => r.pem);
  }

  get trustDomain(): string {
    return this.options.trustDomain;
  }

  /** Re-reads the roots (another replica may have rotated). */
  async reload(): Promise<void> {
    const rows = await this.options.db.caRoot.findMany({
      orderBy: [{ active: 'desc' }, { createdAt: 'desc' }],
    });
    const roots: LoadedRoot[] = [];
    for (const row of rows) {
      let plain: Buffer;
      try {
        plain = decryptKey(this.options.key, row.keyCiphertext);
      } catch {
        throw new Error(
          'the CA key does not decrypt the stored root: every control-plane replica must run with the same TRELLIS_CA_KEY',
        );
      }
      const privateKey = row.active
        ? await webcrypto.subtle.importKey('pkcs8', plain, ALGORITHM, false, ['sign'])
        : null;
      roots.push({
        id: row.id,
        cert: new x509.X509Certificate(row.certPem),
        pem: row.certPem,
        privateKey,
        trustUntil: row.trustUntil,
        active: row.active,
      });
    }
    this.roots = roots;
  }

  /**
   * Makes a new active root; the previous active one stays trusted for `overlapMs` more (its certificates keep
   * verifying while proxies renew), then drops out of the trust bundle.
   */
  async rotate(overlapMs: number): Promise<void> {
    const now = this.options.clock();
    await this.options.db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('LOCK TABLE "CaRoot" IN EXCLUSIVE MODE');
      await tx.caRoot.updateMany({
        where: { active: true },
        data: { active: false, trustUntil: new Date(now.getTime() + overlapMs) },
      });
      await this.createRoot(tx);
    });
    await this.reload();
  }

  /** Signs a certificate for `service` with the key of `csrPem`, if the CSR is well signed and asks for nothing else. */
  async issue(csrPem: string, service: string): Promise<IssuedCertificate> {
    const signer = this.roots.find((r) => r.active);
    if (!signer?.privateKey) throw new CertificateRefused('the certificate authority has no active root');
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (error) {
      throw new CertificateRefused(`not a PKCS#10 certificate request: ${(error as Error).message}`);
    }
    if (!(await csr.verify())) throw new CertificateRefused('the request is not signed by its own key');
    const identity = spiffeId(this.options.trustDomain, service);
    const raw = csr.getExtension(SAN_OID);
    const asked = raw
      ? new x509.SubjectAlternativeNameExtension(raw.rawData).names.items.map((n) => `${n.type}:${n.value}`)
      : [];
    if (asked.length !== 1 || asked[0] !== `url:${identity}`) {
      throw new CertificateRefused(
        `this proxy may only be issued ${identity}; the request asks for ${asked.join(', ') || 'no identity'}`,
      );
    }
    const now = this.options.clock().getTime();
    const notAfter = new Date(Math.min(now + this.options.certificateTtlMs, signer.cert.notAfter.getTime()));
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${service}`,
      issuer: signer.cert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: csr.publicKey,
      signingKey: signer.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], true),
        await x509.AuthorityKeyIdentifierExtension.create(signer.cert, false),
      ],
    });
    return { identity, chain: [leaf.toString('pem')], roots: this.trustBundle, expiresAt: notAfter };
  }

  /**
   * A certificate for the control plane's own TLS listeners, under the mesh root that proxies are given: DNS names
   * and IP addresses in its SAN, server auth only. The key is made here and never leaves this process.
   */
  async issueServing(names: readonly string[], lifetimeMs: number): Promise<ServingCertificate> {
    const signer = this.roots.find((r) => r.active);
    if (!signer?.privateKey) throw new CertificateRefused('the certificate authority has no active root');
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const now = this.options.clock().getTime();
    const notAfter = new Date(Math.min(now + lifetimeMs, signer.cert.notAfter.getTime()));
    const san = [...new Set(names)].map((name) =>
      isIP(name) !== 0 ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name },
    );
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=Trellis control plane, O=${this.options.trustDomain}`,
      issuer: signer.cert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: signer.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(san, false),
        await x509.AuthorityKeyIdentifierExtension.create(signer.cert, false),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')
      .replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
    return { key, cert: leaf.toString('pem'), roots: this.trustBundle, expiresAt: notAfter };
  }

  private async createRoot(tx: Pick<Db, 'caRoot'>): Promise<void> {
    const now = this.options.clock().getTime();
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const notAfter = new Date(now + ROOT_LIFETIME_MS);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=Trellis mesh root CA ${new Date(now).toISOString().slice(0, 10)}, O=${this.options.trustDomain}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    await tx.caRoot.create({
      data: {
        id: randomUUID(),
        certPem: cert.toString('pem'),
        keyCiphertext: encryptKey(this.options.key, pkcs8),
        createdAt: new Date(now),
        notAfter,
        trustUntil: notAfter,
        active: true,
      },
    });
  }
}
