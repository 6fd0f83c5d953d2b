/**
 * The proxy's workload identity: a private key made here and never sent anywhere, and a short-lived certificate
 * for `spiffe://<trust domain>/ns/default/sa/<service>` signed by the mesh's CA, obtained by sending a CSR over
 * the control-plane stream. A new key and certificate are requested at two thirds of the current one's lifetime
 * (as Istio and Linkerd do), so a renewal that fails has a third of the lifetime left to be retried; the current
 * certificate stays in use until the new one arrives, and those who use it hear of the change.
 *
 * An answer is accepted only if it is for the request outstanding, its leaf carries exactly the expected identity
 * and the key of that request, and it chains to one of the roots sent with it.
 */
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509, randomBytes } from 'node:crypto';
import { type IdentityMessage, spiffeId } from '@trellis/schema';
import type { Logger } from 'pino';
import { certificationRequest, ecKeyPair, pem } from './csr.ts';
import { markStarted } from './started.ts';

export interface WorkloadCertificate {
  spiffeId: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** Leaf first. */
  chainPem: string[];
  /** The roots to trust for peers' certificates. */
  rootsPem: string[];
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** When it arrived: renewal counts from here, not from notBefore, which the CA backdates for clock skew. */
  receivedAt: Date;
}

export interface IdentityOptions {
  service: string;
  trustDomain: string;
  logger: Logger;
  /** Wall clock (certificates are dated); injected by tests. */
  now?: () => Date;
}

interface Pending {
  id: string;
  keyPem: string;
  publicKeyDer: Buffer;
}

export class IdentityManager {
  readonly spiffeId: string;
  readonly trustDomain: string;
  private cert: WorkloadCertificate | undefined;
  private pending: Pending | undefined;
  private readonly listeners = new Set<(cert: WorkloadCertificate) => void>();
  private readonly now: () => Date;
  /** Issued and refused answers, for /certs and tests. */
  readonly counts = { requested: 0, issued: 0, refused: 0 };
  lastError: string | undefined;

  constructor(private readonly options: IdentityOptions) {
    this.spiffeId = spiffeId(options.trustDomain, options.service);
    this.trustDomain = options.trustDomain;
    this.now = options.now ?? (() => new Date());
  }

  get current(): WorkloadCertificate | undefined {
    return this.cert;
  }

  get awaiting(): boolean {
    return this.pending !== undefined;
  }

  /** Calls `listener` with every new certificate; returns the function that stops it. */
  onChange(listener: (cert: WorkloadCertificate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** When the current certificate should be replaced (ms since the epoch); 0 when there is none. */
  renewAt(): number {
    const cert = this.cert;
    if (!cert) return 0;
    const from = Math.max(cert.notBefore.getTime(), cert.receivedAt.getTime());
    return from + ((cert.notAfter.getTime() - from) * 2) / 3;
  }

  /** Whether a request should be sent now: none outstanding and no certificate, or one due for renewal. */
  due(): boolean {
    return this.pending === undefined && this.now().getTime() >= this.renewAt();
  }

  /** A new key and a CSR for it; the key is kept until the answer comes (or the next request replaces it). */
  async request(): Promise<{ type: 'csr'; id: string; csr: string }> {
    const { publicKey, privateKey } = await ecKeyPair();
    const csr = certificationRequest(this.options.service, this.spiffeId, publicKey, privateKey);
    const id = randomBytes(8).toString('hex');
    this.pending = {
      id,
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }),
    };
    this.counts.requested += 1;
    return { type: 'csr', id, csr: pem('CERTIFICATE REQUEST', csr) };
  }

  /** Forgets the outstanding request (its connection closed: the answer will never come). */
  abandon(): void {
    this.pending = undefined;
  }

  /** Takes the control plane's answer; returns the error when it is refused or unusable. */
  accept(message: IdentityMessage): { ok: true } | { ok: false; error: string } {
    const pending = this.pending;
    if (!pending || message.id !== pending.id)
      return { ok: false, error: `no request ${message.id} is outstanding` };
    this.pending = undefined;
    const fail = (error: string) => {
      this.counts.refused += 1;
      this.lastError = error;
      this.options.logger.warn({ error }, 'no certificate for this proxy');
      return { ok: false as const, error };
    };
    if (message.type === 'certificate-error')
      return fail(`the control plane refused the request: ${message.error}`);
    const checked = this.check(pending.publicKeyDer, message.chain, message.roots);
    if (!checked.ok) return fail(checked.error);
    this.use(pending.keyPem, message.chain, message.roots, checked.leaf);
    // The first certificate from the control plane is the last step of a joined proxy's start.
    markStarted();
    return { ok: true };
  }

  /**
   * Installs a certificate issued outside the control-plane stream (files an operator gives a proxy that runs
   * without a control plane): the same checks as for an answer to a CSR, with the key it comes with. It is not
   * renewed; replacing the files and restarting the proxy is how it changes.
   */
  installIssued(
    keyPem: string,
    chainPem: string[],
    rootsPem: string[],
  ): { ok: true } | { ok: false; error: string } {
    let publicKeyDer: Buffer;
    try {
      publicKeyDer = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    } catch (error) {
      return { ok: false, error: `unreadable private key: ${(error as Error).message}` };
    }
    const checked = this.check(publicKeyDer, chainPem, rootsPem);
    if (!checked.ok) return checked;
    this.use(keyPem, chainPem, rootsPem, checked.leaf);
    return { ok: true };
  }

  /** The leaf names this identity, is for `publicKeyDer` and chains to one of `rootsPem`. */
  private check(
    publicKeyDer: Buffer,
    chainPem: string[],
    rootsPem: string[],
  ): { ok: true; leaf: NodeX509 } | { ok: false; error: string } {
    let leaf: NodeX509;
    let roots: NodeX509[];
    try {
      leaf = new NodeX509(chainPem[0] as string);
      roots = rootsPem.map((pem) => new NodeX509(pem));
    } catch (error) {
      return { ok: false, error: `unreadable certificate: ${(error as Error).message}` };
    }
    if (leaf.subjectAltName !== `URI:${this.spiffeId}`) {
      return {
        ok: false,
        error: `the certificate names ${leaf.subjectAltName ?? 'nothing'}, not ${this.spiffeId}`,
      };
    }
    const leafKey = leaf.publicKey.export({ type: 'spki', format: 'der' });
    if (!Buffer.from(leafKey).equals(publicKeyDer))
      return { ok: false, error: 'the certificate is not for the key of the request' };
    if (!roots.some((root) => leaf.checkIssued(root) && leaf.verify(root.publicKey))) {
      return { ok: false, error: 'the certificate does not chain to any of the roots sent with it' };
    }
    return { ok: true, leaf };
  }

  private use(keyPem: string, chainPem: string[], rootsPem: string[], leaf: NodeX509): void {
    this.cert = {
      spiffeId: this.spiffeId,
      keyPem,
      chainPem,
      rootsPem,
      serial: leaf.serialNumber,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
      receivedAt: this.now(),
    };
    this.counts.issued += 1;
    this.lastError = undefined;
    this.options.logger.info(
      { identity: this.spiffeId, serial: leaf.serialNumber, notAfter: leaf.validTo },
      'obtained a certificate',
    );
    for (const listener of this.listeners) listener(this.cert);
  }

  /** What /certs shows: the identity and its certificate's dates, never the key. */
  status() {
    const cert = this.cert;
    return {
      identity: this.spiffeId,
      certificate: cert
        ? {
            serial: cert.serial,
            notBefore: cert.notBefore.toISOString(),
            notAfter: cert.notAfter.toISOString(),
            renewAt: new Date(this.renewAt()).toISOString(),
            roots: cert.rootsPem.length,
          }
        : null,
      awaiting: this.awaiting,
      lastError: this.lastError ?? null,
      ...this.counts,
    };
  }
}
