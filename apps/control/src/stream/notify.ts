/**
 * Hears about committed revisions through Postgres LISTEN/NOTIFY (see REVISION_CHANNEL in store/change.ts), so
 * that a change committed by any control-plane process on the same database reaches the proxies connected here.
 *
 * LISTEN needs a session of its own: a pooled connection goes back to the pool and stops listening. So this is a
 * dedicated pg.Client. If it drops, it reconnects with capped exponential backoff and jitter; notifications sent
 * while it was away are lost, so `onListening` fires after every (re)connect for the caller to re-read the
 * current state instead.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { REVISION_CHANNEL } from '../store/change.ts';

export interface RevisionListenerOptions {
  connectionString: string;
  logger: Logger;
  onRevision: (revision: number) => void;
  /** Called each time LISTEN is (re-)established. */
  onListening: () => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class RevisionListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The Postgres backend pid of the listening session (for diagnostics and tests); undefined while away. */
  backendPid: number | undefined;

  constructor(private readonly options: RevisionListenerOptions) {}

  /** Connects and starts listening. A failed first attempt is retried in the background, like a later drop. */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.backendPid = undefined;
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const log = this.options.logger;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: 'trellis-control-listen',
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (this.client === client) {
        this.client = undefined;
        this.backendPid = undefined;
      }
      client.end().catch(() => undefined);
      if (this.stopped) return;
      log.warn({ err }, 'lost the LISTEN connection to Postgres; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel !== REVISION_CHANNEL) return;
      const revision = Number(msg.payload);
      if (Number.isSafeInteger(revision) && revision >= 0) this.options.onRevision(revision);
      else log.warn({ payload: msg.payload }, 'ignored a revision notification with a bad payload');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVISION_CHANNEL}`);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      if (this.stopped || lost) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.backendPid = rows[0]?.pid;
      this.attempt = 0;
      log.debug({ channel: REVISION_CHANNEL }, 'listening for revisions');
      this.options.onListening();
    } catch (err) {
      onLost(err);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const initial = this.options.initialBackoffMs ?? 100;
    const max = this.options.maxBackoffMs ?? 5000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
  }
}
