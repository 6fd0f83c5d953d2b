/**
 * One endpoint's connection pool: HTTP/1.1 keep-alive connections (undici Clients, one request at a time each), at
 * most `connections` of them, of which at most `maxConnecting` are being opened at any moment.
 *
 * undici's own Pool opens a new connection for every request that finds all connections busy, and binds that
 * request to it. A burst of a hundred requests then starts a hundred connections at once: with mutual TLS that
 * is a hundred handshakes, each costing both proxies milliseconds of CPU on Node, while the connections already
 * open free up within milliseconds. On a busy machine that burst of handshakes is itself the slowdown that makes
 * the next burst: requests pile up, per-try timeouts fire and healthy endpoints are ejected. Here a request that
 * finds every connection busy waits in the pool's queue and goes to the first connection that is free, an
 * existing one or a new one, as in Envoy's pools; new connections are opened a few at a time while requests
 * wait. A waiting request whose signal aborts (a per-try timeout) leaves the queue at once.
 *
 * A connection that closes (the upstream's idle timeout, an error) leaves the pool; a new one is opened when
 * requests need it.
 */
import { type buildConnector, Client, Dispatcher, errors } from 'undici';

export interface ConnectionPoolOptions {
  connections: number;
  /** Connections being opened at once; requests beyond them wait for the first free connection. */
  maxConnecting: number;
  /** Each connection's options. `connect` is one function shared by all (it holds the TLS session cache). */
  client: Client.Options & { connect: buildConnector.connector };
  /** Called for each connection the pool starts to open. */
  onOpen?: () => void;
}

/** What the pool needs of a request's signal: AbortSignal, or the request path's lighter look-alike. */
interface Abortable {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

function abortable(signal: unknown): Abortable | undefined {
  const s = signal as Partial<Abortable> | null | undefined;
  return typeof s?.addEventListener === 'function' && typeof s.aborted === 'boolean'
    ? (s as Abortable)
    : undefined;
}

interface Waiting {
  options: Dispatcher.DispatchOptions;
  handler: Dispatcher.DispatchHandler;
  signal: Abortable | undefined;
  onAbort: (() => void) | undefined;
}

/** The handlers undici's request API passes take errors through onError; newer ones through onResponseError. */
function fail(handler: Dispatcher.DispatchHandler, error: Error): void {
  const legacy = handler as { onError?: (error: Error) => void };
  if (typeof legacy.onError === 'function') legacy.onError(error);
  else handler.onResponseError?.(undefined as never, error);
}

export class ConnectionPool extends Dispatcher {
  private readonly clients = new Set<Client>();
  /** Connected, idle connections; the most recently used last, so that the least used ones time out. */
  private readonly free: Client[] = [];
  private readonly queue: Waiting[] = [];
  /** Connections whose socket is up. */
  private readonly connected = new WeakSet<Client>();
  /** Connections being opened for the first time. */
  private readonly opening = new Set<Client>();
  private state: 'open' | 'closing' | 'destroyed' = 'open';
  private whenDrained: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  /** The origin as the connector takes it, as undici's Client passes it (an IPv6 address without brackets). */
  private readonly target: buildConnector.Options;

  constructor(
    private readonly origin: string,
    private readonly options: ConnectionPoolOptions,
  ) {
    super();
    const url = new URL(origin);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.target = { hostname, host: url.host, protocol: url.protocol, port: url.port };
  }

  /**
   * Opens a connection to the origin exactly as the pool's own are opened (the same connector: mutual TLS or
   * plaintext, the peer identity it accepts, the connect timeout, the TLS session cache), for a caller that keeps
   * it outside the pool: a connection upgrade, whose connection becomes a tunnel and never carries a request again.
   */
  connectDetached(callback: buildConnector.Callback): void {
    this.options.client.connect(this.target, callback);
  }

  /** Connections open or opening, and requests waiting for one. */
  get stats(): { connections: number; connecting: number; free: number; queued: number } {
    return {
      connections: this.clients.size,
      connecting: this.opening.size,
      free: this.free.length,
      queued: this.queue.length,
    };
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.state !== 'open') {
      fail(
        handler,
        this.state === 'closing' ? new errors.ClientClosedError() : new errors.ClientDestroyedError(),
      );
      return false;
    }
    const client = this.free.pop() ?? (this.canOpen() ? this.open() : undefined);
    if (client) this.send(client, options, handler);
    else this.wait(options, handler);
    return true;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | undefined {
    this.closing ??= this.closeAll();
    const closed = this.closing;
    if (!callback) return closed;
    closed.then(callback, callback);
    return undefined;
  }

  override destroy(): Promise<void>;
  override destroy(error: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(
    errorOrCallback?: Error | null | (() => void),
    callback?: () => void,
  ): Promise<void> | undefined {
    const error = typeof errorOrCallback === 'function' ? null : (errorOrCallback ?? null);
    const done = typeof errorOrCallback === 'function' ? errorOrCallback : callback;
    const destroyed = this.destroyAll(error ?? new errors.ClientDestroyedError());
    if (!done) return destroyed;
    destroyed.then(done, done);
    return undefined;
  }

  private async closeAll(): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'closing';
    if (this.queue.length > 0) await new Promise<void>((resolve) => (this.whenDrained = resolve));
    await Promise.all([...this.clients].map((c) => c.close().catch(() => c.destroy())));
    this.clients.clear();
    this.free.length = 0;
  }

  private async destroyAll(error: Error): Promise<void> {
    this.state = 'destroyed';
    for (const waiting of this.queue.splice(0)) {
      this.unwatch(waiting);
      fail(waiting.handler, error);
    }
    this.whenDrained?.();
    const all = [...this.clients];
    this.clients.clear();
    this.free.length = 0;
    await Promise.all(all.map((c) => c.destroy(error).catch(() => {})));
  }

  private canOpen(): boolean {
    return this.clients.size < this.options.connections && this.opening.size < this.options.maxConnecting;
  }

  private open(): Client {
    const client = new Client(this.origin, this.options.client);
    this.options.onOpen?.();
    this.clients.add(client);
    this.opening.add(client);
    client.on('connect', () => {
      this.connected.add(client);
      this.opening.delete(client);
      this.serveQueue();
    });
    // A connection that closes, or fails to open, while it still holds a request is reconnected by undici (which
    // resends a request not yet written, or fails it); one holding none leaves the pool.
    const closed = () => {
      if (client.stats.size === 0) this.retire(client);
    };
    client.on('connectionError', closed);
    client.on('disconnect', () => {
      this.connected.delete(client);
      closed();
    });
    client.on('drain', () => this.release(client));
    return client;
  }

  /** The connection leaves the pool (closed or failed, holding no request); waiting requests may open another. */
  private retire(client: Client): void {
    this.opening.delete(client);
    if (!this.clients.delete(client)) return;
    const at = this.free.indexOf(client);
    if (at !== -1) this.free.splice(at, 1);
    client.destroy().catch(() => {});
    this.serveQueue();
  }

  private send(
    client: Client,
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): void {
    if (client.dispatch(options, handler)) {
      this.release(client);
      return;
    }
    // false: the connection is busy until it emits 'drain'; unless undici refused the request at once (a path it
    // cannot send, for one), having failed it through its handler: nothing is in flight and no 'drain' follows.
    if (client.stats.size > 0) return;
    if (this.connected.has(client)) this.release(client);
    else this.retire(client);
  }

  /** `client` can carry another request: the longest-waiting one, or it joins the free connections. */
  private release(client: Client): void {
    if (!this.clients.has(client)) return;
    if (this.queue.length > 0) {
      this.sendWaiting(client);
      this.drained();
      return;
    }
    this.free.push(client);
  }

  /** Sends the longest-waiting request on `client`. */
  private sendWaiting(client: Client): void {
    const waiting = this.queue.shift() as Waiting;
    this.unwatch(waiting);
    this.send(client, waiting.options, waiting.handler);
  }

  /** Opens connections for waiting requests while the limits allow, each taking the longest-waiting request. */
  private serveQueue(): void {
    while (this.queue.length > 0 && this.state !== 'destroyed') {
      const client = this.free.pop() ?? (this.canOpen() ? this.open() : undefined);
      if (!client) return;
      this.sendWaiting(client);
    }
    this.drained();
  }

  private wait(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const signal = abortable((options as { signal?: unknown }).signal);
    if (signal?.aborted) {
      fail(handler, signal.reason instanceof Error ? signal.reason : new errors.RequestAbortedError());
      return;
    }
    const waiting: Waiting = { options, handler, signal, onAbort: undefined };
    if (signal) {
      waiting.onAbort = () => {
        const at = this.queue.indexOf(waiting);
        if (at === -1) return;
        this.queue.splice(at, 1);
        fail(handler, signal.reason instanceof Error ? signal.reason : new errors.RequestAbortedError());
        this.drained();
      };
      signal.addEventListener('abort', waiting.onAbort);
    }
    this.queue.push(waiting);
  }

  private unwatch(waiting: Waiting): void {
    if (waiting.onAbort) waiting.signal?.removeEventListener('abort', waiting.onAbort);
  }

  private drained(): void {
    if (this.queue.length === 0 && this.whenDrained) {
      const resolve = this.whenDrained;
      this.whenDrained = undefined;
      resolve();
    }
  }
}
