/**
 * Upstream connection pools (HTTP/1.1 keep-alive, one request per connection at a time; see connection-pool.ts),
 * one per endpoint address and connection settings. Pools outlive config snapshots so that a swap drops no connection;
 * after a swap, pools no snapshot refers to are closed gracefully (in-flight requests finish first).
 */
import { buildConnector } from 'undici';
import { ConnectionPool } from './connection-pool.ts';
import type { ClientTls } from './mtls.ts';
import { hostPort } from './types.ts';

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
  /** Mutual TLS to a mesh proxy; its generation changes with each certificate. */
  tls?: ClientTls;
}

/**
 * Connections being opened at once per endpoint. Loopback connects take well under a millisecond, mutual-TLS ones a
 * few milliseconds of CPU on each side; two at a time let a pool grow by hundreds a second when requests keep
 * waiting, without a burst of requests turning into a burst of handshakes.
 */
const MAX_CONNECTING = 2;

/**
 * Connects with mutual TLS; when the peer refuses the handshake and plaintext is allowed (permissive mode), with
 * plaintext instead. A mesh proxy answers TLS only once it holds a certificate: one just started, or restarted
 * while the control plane is away, must not turn its callers' certificates into failed requests. The fallback
 * happens before any request is written on the connection, so nothing is sent twice.
 */
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

/** One endpoint's connections, as the proxy's metrics show them (Envoy's upstream_cx_* and upstream_rq_pending_*). */
export interface EndpointPoolStats {
  /** "address:port" */
  endpoint: string;
  /** Open or being opened. */
  connections: number;
  /** Requests waiting for a connection. */
  pending: number;
  /** Connections opened since the proxy started. */
  opened: number;
}

export class Pools {
  private readonly pools = new Map<string, ConnectionPool>();
  /** Connections opened per origin ("address:port"), across the pools it has had (certificate renewals). */
  private readonly opened = new Map<string, number>();

  static key(address: string, port: number, options: PoolOptions): string {
    // The TLS part last: a certificate generation, and whether plaintext is allowed as a fallback.
    const tls = options.tls ? `${options.tls.generation}${options.tls.fallback ? 'p' : 's'}` : '0';
    return `${address}:${port}|${options.connections}|${options.connectTimeoutMs}|${tls}`;
  }

  get(address: string, port: number, options: PoolOptions): ConnectionPool {
    const key = Pools.key(address, port, options);
    let pool = this.pools.get(key);
    if (!pool) {
      const tls = options.tls;
      const origin = `${address}:${port}`;
      if (tls) this.retireOlder(`${origin}|`, tls.generation);
      pool = new ConnectionPool(`${tls ? 'https' : 'http'}://${hostPort(address, port)}`, {
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
        onOpen: () => this.opened.set(origin, (this.opened.get(origin) ?? 0) + 1),
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
    for (const origin of this.opened.keys()) if (!live.has(origin)) this.opened.delete(origin);
    await Promise.all(closing);
  }

  /** Per endpoint, summed over its pools. */
  stats(): EndpointPoolStats[] {
    const by = new Map<string, EndpointPoolStats>();
    for (const [key, pool] of this.pools) {
      const origin = key.slice(0, key.indexOf('|'));
      let entry = by.get(origin);
      if (!entry) {
        const colon = origin.lastIndexOf(':');
        const endpoint = hostPort(origin.slice(0, colon), Number(origin.slice(colon + 1)));
        entry = { endpoint, connections: 0, pending: 0, opened: this.opened.get(origin) ?? 0 };
        by.set(origin, entry);
      }
      const { connections, queued } = pool.stats;
      entry.connections += connections;
      entry.pending += queued;
    }
    return [...by.values()];
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
