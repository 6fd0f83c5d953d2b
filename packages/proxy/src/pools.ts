/**
 * Upstream connection pools (undici Pool: HTTP/1.1 keep-alive, one request per connection at a time), one per
 * endpoint address and connection settings. Pools outlive config snapshots so that a swap drops no connection;
 * after a swap, pools no snapshot refers to are closed gracefully (in-flight requests finish first).
 */
import { Pool } from 'undici';

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
}

export class Pools {
  private readonly pools = new Map<string, Pool>();

  static key(address: string, port: number, options: PoolOptions): string {
    return `${address}:${port}|${options.connections}|${options.connectTimeoutMs}`;
  }

  get(address: string, port: number, options: PoolOptions): Pool {
    const key = Pools.key(address, port, options);
    let pool = this.pools.get(key);
    if (!pool) {
      const host = address.includes(':') ? `[${address}]` : address;
      pool = new Pool(`http://${host}:${port}`, {
        connections: options.connections,
        pipelining: 1,
        connect: { timeout: options.connectTimeoutMs },
        headersTimeout: 0,
        bodyTimeout: 0,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        strictContentLength: true,
      });
      this.pools.set(key, pool);
    }
    return pool;
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
