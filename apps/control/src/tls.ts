/**
 * The control plane's own TLS: the certificate its HTTPS API and its proxy-stream port (WSS) present. By default
 * the mesh CA issues it, so proxies verify the control plane against the same roots they get their identities
 * from (`--control-plane-ca <data dir>/ca.pem`) and no join token or certificate crosses a network in clear. An
 * operator can bring a certificate of their own instead (TRELLIS_TLS_CERT_FILE / TRELLIS_TLS_KEY_FILE).
 *
 * Certificates are renewed well before they expire and handed to every server through `setSecureContext`, so a
 * long-running control plane never serves an expired one.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CertificateAuthority } from './ca/authority.ts';
import type { Config } from './config.ts';

/** The file the mesh's trust bundle is written to, for proxies' --control-plane-ca and operators' curl --cacert. */
export const CA_BUNDLE_FILE = 'ca.pem';

/** Lifetime of a serving certificate issued by the mesh CA, and how often it is renewed (or files re-read). */
const SERVING_LIFETIME_MS = 30 * 86_400_000;
const RENEW_EVERY_MS = 86_400_000;

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** A server whose certificate can be replaced while it runs (https.Server, tls.Server). */
interface Renewable {
  setSecureContext(options: TlsMaterial): void;
}

/** The names a control plane on `host` is reached by, for its certificate's SAN. */
export function servingNames(host: string, extra: readonly string[]): string[] {
  const names = ['localhost', '127.0.0.1', '::1', hostname(), ...extra];
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare !== '0.0.0.0' && bare !== '::' && bare !== '') names.push(bare);
  return [...new Set(names)];
}

export class ControlTls {
  private servers: Renewable[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private material: TlsMaterial,
    private readonly load: () => Promise<TlsMaterial>,
    private readonly ca: CertificateAuthority,
    /** Where the mesh's trust bundle is written. */
    readonly caFile: string,
    private readonly logger: Logger,
  ) {}

  static async start(config: Config, ca: CertificateAuthority, logger: Logger): Promise<ControlTls> {
    const caFile = path.join(config.dataDir, CA_BUNDLE_FILE);
    const { tlsCertFile, tlsKeyFile } = config;
    const load =
      tlsCertFile !== undefined && tlsKeyFile !== undefined
        ? async () => ({ cert: await readFile(tlsCertFile, 'utf8'), key: await readFile(tlsKeyFile, 'utf8') })
        : async () => {
            const issued = await ca.issueServing(
              servingNames(config.host, config.tlsNames),
              SERVING_LIFETIME_MS,
            );
            return { key: issued.key, cert: issued.cert };
          };
    const tls = new ControlTls(await load(), load, ca, caFile, logger);
    await tls.writeBundle();
    tls.timer = setInterval(() => tls.renew(), RENEW_EVERY_MS);
    tls.timer.unref();
    return tls;
  }

  /** The key and certificate to create a server with. */
  get current(): TlsMaterial {
    return this.material;
  }

  /** Hands renewed certificates to `server` from now on. */
  serve(server: Renewable): void {
    this.servers.push(server);
  }

  /** Writes the roots proxies must trust now (after a rotation, old and new). */
  private async writeBundle(): Promise<void> {
    await mkdir(path.dirname(this.caFile), { recursive: true });
    await writeFile(this.caFile, this.ca.trustBundle.join(''), { mode: 0o644 });
  }

  async renew(): Promise<void> {
    try {
      await this.ca.reload();
      await this.writeBundle();
      this.material = await this.load();
      for (const server of this.servers) server.setSecureContext(this.material);
    } catch (err) {
      this.logger.error(
        { err },
        'could not renew the control plane TLS certificate; serving the current one',
      );
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
