/**
 * Upstream connection pools (HTTP/1.1 keep-alive, one request per connection at a time; see connection-pool.ts),
 * one per endpoint address and connection settings. Pools outlive config snapshots so that a swap drops no connection;
 * after a swap, pools no snapshot refers to are closed gracefully (in-flight requests finish first).
 */
import { buildConnector } from 'undici';
import { ConnectionPool } from './connection-pool.ts';
import type { ClientTls } from './mtls.ts';

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
  /** Mutual TLS to a mesh proxy; its generation changes with each certificate. */
  tls?: ClientTls;
}

/**
 * Connects with mutual TLS; when the peer refuses the handshake and plaintext is allowed (permissive mode), with
 * plaintext instead. A mesh proxy answers TLS only once it holds a certificate: one just started, or restarted
 * while the control plane is away, must not turn its callers' certificates into failed requests. The fallback
 * happens before any request is written on the connection, so nothing is sent twice.
 */
/**
 * Connections being opened at once per endpoint. Loopback connects take well under a millisecond, mutual-TLS ones a
 * few milliseconds of CPU on each side; two at a time let a pool grow by hundreds a second when requests keep
 * waiting, without a burst of requests turning into a burst of handshakes.
 */
const MAX_CONNECTING = 2;

const HANDSHAKE_REFUSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function meshConnector(tls: ClientTls, timeout: number): buildConnector.connector {
  const secure = buildConnector({ ...tls.connect, timeout });
  const plain = buildConnector({ timeout });
  return (options, callback) => {
    secure(options, (error, socket) => {
      // Only a peer that cut the handshake off (it has no certificate yet); never one that presented the wrong
      // identity or an untrusted certificate.
      const refused = error !== null && HANDSHAKE_REFUSED.has((error as NodeJS.ErrnoException).code ?? '');
      if (!error || !tls.fallback || !refused) {
        if (error) callback(error, null);
        else callback(null, socket as NonNullable<typeof socket>);
        return;
      }
      plain({ ...options, protocol: 'http:' }, callback);
    });
  };
}

export class Pools {
  private readonly pools = new Map<string, ConnectionPool>();

  static key(address: string, port: number, options: PoolOptions): string {
    // The TLS part last: a certificate generation, and whether plaintext is allowed as a fallback.
    const tls = options.tls ? `${options.tls.generation}${options.tls.fallback ? 'p' : 's'}` : '0';
    return `${address}:${port}|${options.connections}|${options.connectTimeoutMs}|${tls}`;
  }

  get(address: string, port: number, options: PoolOptions): ConnectionPool {
    const key = Pools.key(address, port, options);
    let pool = this.pools.get(key);
    if (!pool) {
      const host = address.includes(':') ? `[${address}]` : address;
      const tls = options.tls;
      if (tls) this.retireOlder(`${address}:${port}|`, tls.generation);
      pool = new ConnectionPool(`${tls ? 'https' : 'http'}://${host}:${port}`, {
        connections: options.connections,
        maxConnecting: MAX_CONNECTING,
        client: {
          pipelining: 1,
          // One connector per pool, shared by its connections: it holds the TLS session cache (resumption).
          connect: tls
            ? meshConnector(tls, options.connectTimeoutMs)
            : buildConnector({ timeout: options.connectTimeoutMs }),
          headersTimeout: 0,
          bodyTimeout: 0,
          keepAliveTimeout: 30_000,
          keepAliveMaxTimeout: 600_000,
          strictContentLength: true,
        },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** A new certificate: pools of the origin made with older ones close once their requests finish. */
  private retireOlder(origin: string, generation: number): void {
    for (const [key, pool] of this.pools) {
      if (!key.startsWith(origin)) continue;
      const made = Number.parseInt(key.slice(key.lastIndexOf('|') + 1), 10);
      if (made > 0 && made < generation) {
        this.pools.delete(key);
        pool.close().catch(() => {});
      }
    }
  }

  /** Closes, gracefully, the pools of origins ("address:port") not in `live`. */
  async retainOnly(live: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.pools) {
      if (!live.has(key.slice(0, key.indexOf('|')))) {
        this.pools.delete(key);
        closing.push(pool.close().catch(() => {}));
      }
    }
    await Promise.all(closing);
  }

  get size(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}
