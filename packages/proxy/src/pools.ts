/**
 * Upstream connection pools (HTTP/1.1 keep-alive, one request per connection at a time; see engine/upstream.ts),
 * one per endpoint address and connection settings. Pools outlive config snapshots so that a swap drops no connection;
 * after a swap, pools no snapshot refers to are closed gracefully (in-flight requests finish first).
 */

import { UpstreamPool } from './engine/upstream.ts';
import type { ParserLimits } from './http1/parser.ts';
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
 * What an upstream's answers may hold: heads up to 64 KiB (Envoy's max_response_headers_kb is 60) and 500 fields.
 * Beyond it the answer is malformed to the proxy: 502.
 */
const RESPONSE_LIMITS: ParserLimits = {
  maxHeadBytes: 64 * 1024,
  maxHeaders: 500,
  maxStartLineBytes: 8 * 1024,
};

/** An idle pooled connection is closed after this long (undici's keepAliveTimeout was 30 s too). */
const IDLE_TIMEOUT_MS = 30_000;

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
  private readonly pools = new Map<string, UpstreamPool>();
  /** Connections opened per origin ("address:port"), across the pools it has had (certificate renewals). */
  private readonly opened = new Map<string, number>();

  static key(address: string, port: number, options: PoolOptions): string {
    // The TLS part last: a certificate generation, and whether plaintext is allowed as a fallback.
    const tls = options.tls ? `${options.tls.generation}${options.tls.fallback ? 'p' : 's'}` : '0';
    return `${address}:${port}|${options.connections}|${options.connectTimeoutMs}|${tls}`;
  }

  get(address: string, port: number, options: PoolOptions): UpstreamPool {
    const key = Pools.key(address, port, options);
    let pool = this.pools.get(key);
    if (!pool) {
      const tls = options.tls;
      const origin = `${address}:${port}`;
      if (tls) this.retireOlder(`${origin}|`, tls.generation);
      pool = new UpstreamPool({
        host: address.startsWith('[') ? address.slice(1, -1) : address,
        port,
        connectTimeoutMs: options.connectTimeoutMs,
        // One pool per certificate generation: it holds the TLS session (resumption) its connections share.
        tls: tls ? { connect: tls.connect, fallback: tls.fallback } : undefined,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        limits: RESPONSE_LIMITS,
        connections: options.connections,
        maxConnecting: MAX_CONNECTING,
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
