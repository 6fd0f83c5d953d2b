/**
 * The control-plane processes sharing one database. Each proxy streams from one of them, so what a proxy has
 * acknowledged is known only to that process; to answer "every proxy" (GET /api/v1/proxies, like
 * `istioctl proxy-status` asking every istiod) a replica asks the others. Replicas find each other here: each
 * writes its URL on start, refreshes it every `heartbeatMs`, and removes it on stop; a row not refreshed for
 * three heartbeats belongs to a process that died and is ignored (and deleted by whoever notices).
 */
import type { Logger } from 'pino';
import type { Db } from './db/client.ts';

export const REPLICA_HEARTBEAT_MS = 5000;

export interface Replica {
  id: string;
  url: string;
}

export interface ReplicaRegistryOptions {
  db: Db;
  clock: () => Date;
  logger: Logger;
  id: string;
  heartbeatMs?: number;
}

export class ReplicaRegistry {
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeatMs: number;
  /** Where the other replicas reach this one's HTTP API; known once it listens. */
  private url = '';

  constructor(private readonly options: ReplicaRegistryOptions) {
    this.heartbeatMs = options.heartbeatMs ?? REPLICA_HEARTBEAT_MS;
  }

  get self(): Replica {
    return { id: this.options.id, url: this.url };
  }

  async start(url: string): Promise<void> {
    this.url = url;
    const { db, clock, id } = this.options;
    const now = clock();
    await db.controlReplica.upsert({
      where: { id },
      create: { id, url, startedAt: now, heartbeatAt: now },
      update: { url, heartbeatAt: now },
    });
    this.timer = setInterval(() => {
      this.beat().catch((err) =>
        this.options.logger.warn({ err }, 'could not refresh this replica; will retry'),
      );
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /**
   * The other live replicas: refreshed within `staleAfterMs` (default three heartbeats; less to suspect a crashed
   * replica sooner, e.g. before its proxies' grace period runs out).
   */
  async others(staleAfterMs = 3 * this.heartbeatMs): Promise<Replica[]> {
    const { db, clock, id } = this.options;
    const stale = new Date(clock().getTime() - staleAfterMs);
    const rows = await db.controlReplica.findMany({
      where: { heartbeatAt: { gt: stale } },
      orderBy: { startedAt: 'asc' },
    });
    return rows.filter((r) => r.id !== id).map((r) => ({ id: r.id, url: r.url }));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.options.db.controlReplica.deleteMany({ where: { id: this.options.id } });
  }

  private async beat(): Promise<void> {
    const { db, clock, id } = this.options;
    const url = this.url;
    const now = clock();
    const { count } = await db.controlReplica.updateMany({ where: { id }, data: { heartbeatAt: now } });
    if (count === 0) await db.controlReplica.create({ data: { id, url, startedAt: now, heartbeatAt: now } });
    await db.controlReplica.deleteMany({
      where: { heartbeatAt: { lt: new Date(now.getTime() - 6 * this.heartbeatMs) } },
    });
  }
}
