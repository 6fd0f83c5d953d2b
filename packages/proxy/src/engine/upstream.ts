/**
 * Connections to one upstream endpoint, on raw `net`/`tls` sockets with Trellis's HTTP/1.1 codec: keep-alive,
 * one request at a time per connection, at most `connections` of them, at most `maxConnecting` being opened at
 * once. A request that finds every connection busy waits in the pool's queue and takes the first connection that
 * is free, an existing one or a new one, as in Envoy's pools: a burst of requests does not become a burst of
 * (mutual-TLS) handshakes. A waiting request whose signal aborts (a per-try timeout) leaves the queue at once. A
 * connection that fails to open fails the request that asked for it, so that the request path sees (and outlier
 * detection counts) the connect failure.
 *
 * Everything per request lives in the connection's own fields and the one promise the caller awaits; the parser's
 * events are the connection's methods, so no closure is made per request.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Http1Error } from '../http1/errors.ts';
import { Fields } from '../http1/fields.ts';
import { F_HOST, type FieldList } from '../http1/lookup.ts';
import { type MessageHead, type ParserLimits, ResponseParser } from '../http1/parser.ts';
import {
  type Framing,
  INLINE_BODY_BYTES,
  LAST_CHUNK,
  lastChunkWithTrailers,
  requestHead,
} from '../http1/serializer.ts';
import { type BodySource, PushBody, writeBodyPiece } from './body.ts';
import { copyOut, READ_BUFFER, readInto } from './socket-reads.ts';
import { writeOut } from './socket-writes.ts';

/** A request as the pool sends it. Hop-by-hop fields are dropped by the serializer, which writes its own framing. */
export interface OutboundRequest {
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  fields: Fields;
  body: Buffer | BodySource | null;
}

export interface UpstreamResponse {
  status: number;
  reason: string;
  fields: Fields;
  /**
   * null when the response has no body by its semantics (HEAD, 204, 304) or declared Content-Length: 0; a Buffer
   * when the whole body (up to INLINE_BODY_BYTES) arrived with the head, in the same read; else streamed.
   */
  body: Buffer | BodySource | null;
  /** The Content-Length the response declared, or -1 (a HEAD's answer keeps it). */
  declaredLength: number;
}

/** What the pool needs of a request's signal: AbortSignal, or the request path's lighter look-alike. */
export interface Abortable {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A failure of the transport, with a code the request path classifies (stages/connect.ts): connect errors carry
 * the socket's (ECONNREFUSED, …) or UPSTREAM_CONNECT_TIMEOUT; a connection lost before the response completed
 * carries UPSTREAM_CLOSED / ECONNRESET / EPIPE, and `stale` when it is the keep-alive race (a reused connection
 * closed before any byte of this response arrived).
 */
export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly stale = false,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamOptions {
  /** Address (IPv6 without brackets) and port. */
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Mutual TLS; `fallback`: a peer that cuts the handshake off is reached in plaintext (permissive mode). */
  tls?: { connect: tls.ConnectionOptions; fallback: boolean } | undefined;
  /** An idle pooled connection is closed after this long. */
  idleTimeoutMs: number;
  limits: ParserLimits;
}

export type ConnectCallback = (error: Error | null, socket: net.Socket | null) => void;

export interface UpstreamPoolOptions extends UpstreamOptions {
  connections: number;
  maxConnecting: number;
  /** Called for each connection the pool starts to open. */
  onOpen?: () => void;
  /**
   * Opens a connection in place of the pool's own connector (which takes `defaultConnect`): tests use it to decide
   * when each connection comes up.
   */
  connector?: (defaultConnect: (callback: ConnectCallback) => void, callback: ConnectCallback) => void;
}

/** Methods whose requests carry `content-length: 0` when they have no body, as undici and browsers send. */
const BODY_EXPECTED = new Set(['POST', 'PUT', 'PATCH']);
const NO_FRAMING: Framing = { kind: 'none' };
const CHUNKED: Framing = { kind: 'chunked' };
const ZERO_LENGTH: Framing = { kind: 'length', length: 0 };

/** A peer that cut the TLS handshake off: it has no certificate yet (permissive mode falls back). */
const HANDSHAKE_REFUSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

const CLOSED_BY_PEER = 'UPSTREAM_CLOSED';

/**
 * Pooled plaintext upstream sockets read through net's `onread` option rather than 'data' events: no Readable push,
 * addChunk and event per read (see socket-reads.ts for the accepted side), into the buffer every such socket shares.
 * A socket for an upgrade becomes a tunnel's stream and reads through 'data'.
 */
const READER = Symbol('upstreamReader');
type RawSocket = net.Socket & { [READER]?: UpstreamConnection | null };
function onUpstreamRead(this: RawSocket, nread: number, buf: Buffer): boolean {
  const conn = this[READER];
  if (conn == null) return true; // nothing is expected before the connection is attached
  conn.onBytes(copyOut(nread, buf));
  return true;
}
const ONREAD = { buffer: READ_BUFFER, callback: onUpstreamRead as (n: number, b: Uint8Array) => boolean };

/** Where the pool reports a request's response head, or its failure: one of the two, once. */
export interface PoolReply {
  resolve(response: UpstreamResponse): void;
  reject(error: unknown): void;
}

interface Waiting {
  request: OutboundRequest;
  /** A connection is being opened for this request: its failure is this request's. */
  owner: boolean;
  signal: Abortable | undefined;
  to: PoolReply;
  onAbort: (() => void) | undefined;
}

type Phase = 'connecting' | 'idle' | 'head' | 'body' | 'closed';

class UpstreamConnection {
  socket: net.Socket;
  phase: Phase = 'connecting';
  /** Responses completed on this connection. */
  served = 0;
  /** When it last joined the pool's free connections (ms, the pool's clock). */
  idleSince = 0;
  private readonly parser: ResponseParser;
  private waiting: Waiting | undefined;
  private body: PushBody | undefined;
  private keepAlive = true;
  /** The request's body has been written whole. */
  private requestWritten = false;
  /** Any byte of the current response arrived. */
  private answered = false;
  private pauseAfterExecute = false;
  private method = 'GET';
  private trailers: Fields | undefined;
  /**
   * A response whose whole body is small enough to arrive with its head: held back while the parser goes on
   * through the rest of the read, then handed over with its body in one Buffer, or streamed if the body did not
   * come whole (`promote`).
   */
  private early: { status: number; reason: string; fields: Fields; declaredLength: number } | undefined;
  private earlyChunks: Buffer[] = [];
  private readonly onAbort = () => this.aborted();
  private readonly onDrain = () => this.streaming?.resume();
  private streaming: BodySource | undefined;

  constructor(
    private readonly pool: UpstreamPool,
    socket: net.Socket,
    limits: ParserLimits,
  ) {
    this.socket = socket;
    this.parser = new ResponseParser(limits, this);
  }

  /** The socket is connected (and, with TLS, the handshake done). */
  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    if ((socket as RawSocket)[READER] === null) (socket as RawSocket)[READER] = this;
    else socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => this.parser.finish());
    socket.on('error', (error: NodeJS.ErrnoException) =>
      this.lost(new UpstreamError(error.code ?? CLOSED_BY_PEER, error.message, this.stale())),
    );
    socket.on('close', () =>
      this.lost(new UpstreamError(CLOSED_BY_PEER, 'the upstream closed the connection', this.stale())),
    );
    socket.on('drain', this.onDrain);
    this.phase = 'idle';
  }

  onBytes(chunk: Buffer): void {
    this.answered = true;
    this.parser.execute(chunk);
    if (this.early !== undefined) this.promote();
    if (this.pauseAfterExecute) {
      this.pauseAfterExecute = false;
      if (this.phase === 'body') this.socket.pause();
    }
  }

  /**
   * Sends `waiting`'s request. False when its head cannot be written (a field the proxy was asked to send holds
   * CR, LF or NUL): the request has failed, and the connection is still free.
   */
  send(waiting: Waiting): boolean {
    const { request, signal } = waiting;
    const body = request.body;
    // HTTP/1.1 needs a Host: a request that came without one (HTTP/1.0) names the endpoint, as undici did.
    if (!request.fields.hasKnown(F_HOST)) request.fields.set('host', this.pool.authority);
    const inline = Buffer.isBuffer(body) && body.length > 0 && body.length <= INLINE_BODY_BYTES;
    let head: Buffer;
    try {
      head = requestHead(
        request.method,
        request.path,
        request.fields,
        body === null
          ? BODY_EXPECTED.has(request.method)
            ? ZERO_LENGTH
            : NO_FRAMING
          : Buffer.isBuffer(body)
            ? { kind: 'length', length: body.length }
            : body.length < 0
              ? CHUNKED
              : { kind: 'length', length: body.length },
        inline ? (body as Buffer) : undefined,
      );
    } catch (error) {
      waiting.to.reject(error);
      return false;
    }
    this.waiting = waiting;
    this.phase = 'head';
    this.answered = false;
    this.keepAlive = true;
    this.requestWritten = false;
    if (signal !== undefined) signal.addEventListener('abort', this.onAbort);
    this.method = request.method;
    this.parser.expect(request.method);
    const socket = this.socket;
    if (body === null) {
      writeOut(socket, head);
      this.requestWritten = true;
    } else if (Buffer.isBuffer(body)) {
      if (inline || body.length === 0) writeOut(socket, head);
      else {
        socket.cork();
        socket.write(head);
        socket.write(body);
        socket.uncork();
      }
      this.requestWritten = true;
    } else {
      const chunked = body.length < 0;
      socket.write(head);
      this.streaming = body;
      body.pipe({
        data: (chunk) => {
          if (this.phase === 'closed' || this.streaming !== body) return true;
          return writeBodyPiece(socket, chunk, chunked);
        },
        end: (trailers) => {
          if (this.streaming !== body) return;
          this.streaming = undefined;
          if (chunked)
            socket.write(trailers && trailers.size > 0 ? lastChunkWithTrailers(trailers) : LAST_CHUNK);
          this.requestWritten = true;
          if (this.phase === 'idle') this.pool.release(this);
        },
        error: (error) => {
          if (this.streaming !== body) return;
          this.streaming = undefined;
          // The request can no longer be completed: the upstream must not take a truncated body for a whole one.
          this.destroy(new UpstreamError('REQUEST_BODY_ABORTED', error.message));
        },
      });
    }
    return true;
  }

  // ParserEvents
  onHead(head: MessageHead): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    if (head.status === 101) {
      this.destroy(
        new UpstreamError('UPSTREAM_PROTOCOL', '101 Switching Protocols to a request that did not upgrade'),
      );
      return;
    }
    if (head.status < 200) return; // interim (100 Continue, 103): the proxy answers the client's Expect itself
    this.keepAlive = head.keepAlive;
    const noBody =
      head.contentLength === 0 || this.method === 'HEAD' || head.status === 204 || head.status === 304;
    const fields = Fields.from(head);
    if (!noBody && head.contentLength > 0 && head.contentLength <= INLINE_BODY_BYTES) {
      this.early = { status: head.status, reason: head.reason, fields, declaredLength: head.contentLength };
      this.phase = 'body';
      return;
    }
    let body: PushBody | null = null;
    if (!noBody) {
      body = new PushBody(head.contentLength, this);
      this.body = body;
      this.phase = 'body';
    }
    this.unwatch(waiting);
    this.waiting = undefined;
    waiting.to.resolve({
      status: head.status,
      reason: head.reason,
      fields,
      body,
      declaredLength: head.contentLength,
    });
  }

  onBody(chunk: Buffer): void {
    if (this.early !== undefined) {
      this.earlyChunks.push(chunk);
      return;
    }
    const body = this.body;
    if (body !== undefined && !body.push(chunk)) this.pauseAfterExecute = true;
  }

  onTrailers(fields: FieldList): void {
    this.trailers = Fields.from(fields);
  }

  onComplete(): void {
    const early = this.early;
    if (early !== undefined) {
      const chunks = this.earlyChunks;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      chunks.length = 0;
      this.early = undefined;
      const waiting = this.waiting as Waiting;
      this.waiting = undefined;
      this.unwatch(waiting);
      waiting.to.resolve({
        status: early.status,
        reason: early.reason,
        fields: early.fields,
        body,
        declaredLength: early.declaredLength,
      });
    } else if (this.waiting !== undefined) return; // an interim response: the final one follows
    this.served += 1;
    const body = this.body;
    this.body = undefined;
    const trailers = this.trailers;
    this.trailers = undefined;
    body?.finish(trailers);
    this.phase = 'idle';
    if (!this.keepAlive) this.close();
    else if (this.requestWritten) {
      if (this.socket.isPaused()) this.socket.resume();
      this.pool.release(this);
    } else if (this.streaming !== undefined) {
      // Answered before the request's body was all sent (a 413, a redirect): stop sending; the connection cannot
      // carry another request with half a body in it.
      const streaming = this.streaming;
      this.streaming = undefined;
      streaming.abort();
      this.close();
    }
  }

  onError(error: Http1Error): void {
    this.destroy(new UpstreamError('UPSTREAM_PROTOCOL', `malformed response: ${error.reason}`));
  }

  /** The read ended before the small body was whole: the response goes on as a stream. */
  private promote(): void {
    const early = this.early as NonNullable<typeof this.early>;
    this.early = undefined;
    const body = new PushBody(early.declaredLength, this);
    this.body = body;
    for (const chunk of this.earlyChunks) if (!body.push(chunk)) this.pauseAfterExecute = true;
    this.earlyChunks.length = 0;
    const waiting = this.waiting as Waiting;
    this.waiting = undefined;
    this.unwatch(waiting);
    waiting.to.resolve({ ...early, body });
  }

  // PushBody's control
  pause(): void {
    this.pauseAfterExecute = true;
  }

  resume(): void {
    this.pauseAfterExecute = false;
    if (this.phase === 'body' && this.socket.isPaused()) this.socket.resume();
  }

  abort(): void {
    if (this.phase === 'body')
      this.destroy(new UpstreamError('BODY_ABORTED', 'the response body was abandoned'));
  }

  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.pool.forget(this);
    this.socket.end();
    this.socket.destroySoon?.();
  }

  destroy(error: UpstreamError): void {
    this.lost(error);
    this.socket.destroy();
  }

  private stale(): boolean {
    return this.served > 0 && !this.answered;
  }

  private aborted(): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    this.early = undefined;
    this.earlyChunks.length = 0;
    this.unwatch(waiting);
    waiting.to.reject(waiting.signal?.reason);
    this.lost(new UpstreamError('ABORTED', 'request aborted'));
    this.socket.destroy();
  }

  private unwatch(waiting: Waiting): void {
    waiting.signal?.removeEventListener('abort', this.onAbort);
  }

  /** The connection is gone: whatever it carried fails. */
  private lost(error: UpstreamError): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.early = undefined;
    this.earlyChunks.length = 0;
    this.pool.forget(this);
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      this.unwatch(waiting);
      waiting.to.reject(error);
    }
    const body = this.body;
    this.body = undefined;
    body?.fail(error);
    const streaming = this.streaming;
    this.streaming = undefined;
    streaming?.abort();
  }
}

export class UpstreamPool {
  private readonly all = new Set<UpstreamConnection>();
  /** Connected, idle connections; the most recently used last, so that the least used ones time out. */
  private readonly free: UpstreamConnection[] = [];
  private readonly queue: Waiting[] = [];
  private connecting = 0;
  private tlsSession: Buffer | undefined;
  closing = false;
  private destroyed = false;
  private whenIdle: (() => void) | undefined;

  /** The endpoint as a Host field names it. */
  readonly authority: string;

  constructor(readonly options: UpstreamPoolOptions) {
    const { host, port } = options;
    this.authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  /**
   * Connections open or being opened, those being opened, the free ones, and the requests waiting with no
   * connection being opened for them.
   */
  get stats(): { connections: number; connecting: number; free: number; queued: number } {
    return {
      connections: this.all.size + this.connecting,
      connecting: this.connecting,
      free: this.free.length,
      queued: Math.max(0, this.queue.length - this.connecting),
    };
  }

  request(request: OutboundRequest, signal?: Abortable): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => this.send(request, signal, { resolve, reject }));
  }

  /**
   * `request` without a promise: the response head (or the failure) goes to `to`, called from the connection's
   * own read when the head arrives. This is the request path's way in (stages/connect.ts).
   */
  send(request: OutboundRequest, signal: Abortable | undefined, to: PoolReply): void {
    if (this.closing || this.destroyed) {
      to.reject(new UpstreamError('POOL_CLOSED', 'the connection pool is closed'));
      return;
    }
    if (signal?.aborted) {
      to.reject(signal.reason);
      return;
    }
    const waiting: Waiting = { request, signal, to, onAbort: undefined, owner: false };
    const free = this.free.pop();
    if (free !== undefined) {
      if (!free.send(waiting)) this.free.push(free);
      return;
    }
    this.wait(waiting);
    if (this.canOpen()) this.open(waiting);
  }

  /**
   * Opens a connection exactly as the pool's own are opened (mutual TLS or plaintext, the identity checked, the
   * connect timeout), for a caller that keeps it: an upgrade, whose connection becomes a tunnel.
   */
  connectDetached(callback: ConnectCallback): void {
    const connector = this.options.connector;
    if (connector) connector((cb) => this.connectSocket(cb), callback);
    else this.connectSocket(callback);
  }

  /** Finishes the requests in flight and waiting, then closes every connection. */
  close(): Promise<void> {
    this.closed ??= this.closeAll();
    return this.closed;
  }

  private closed: Promise<void> | undefined;
  /**
   * Closes the free connections idle for idleTimeoutMs. One timer per pool, rather than a socket timeout per
   * connection, which Node refreshes on every read and write of every request.
   */
  private idleTimer: NodeJS.Timeout | undefined;

  private async closeAll(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0 || [...this.all].some((c) => c.phase === 'head' || c.phase === 'body')) {
      await new Promise<void>((resolve) => (this.whenIdle = resolve));
    }
    for (const c of [...this.all]) c.close();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    this.closing = true;
    clearTimeout(this.idleTimer);
    const error = new UpstreamError('POOL_CLOSED', 'the connection pool was destroyed');
    for (const waiting of this.queue.splice(0)) {
      this.unwatch(waiting);
      waiting.to.reject(error);
    }
    for (const c of [...this.all]) c.destroy(error);
    this.settle();
  }

  /** `conn` is free for another request: the longest-waiting one, or it joins the free connections. */
  release(conn: UpstreamConnection): void {
    if (conn.phase !== 'idle') return;
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      this.unwatch(next);
      if (conn.send(next)) return;
    }
    if (this.closing) {
      conn.close();
      this.settle();
      return;
    }
    conn.idleSince = performance.now();
    this.free.push(conn);
    if (this.idleTimer === undefined) this.armIdleSweep(this.options.idleTimeoutMs);
    this.settle();
  }

  private armIdleSweep(delayMs: number): void {
    this.idleTimer = setTimeout(() => this.sweepIdle(), Math.max(1, delayMs));
    this.idleTimer.unref();
  }

  /** The free list runs from the least recently used: those past the idle timeout are at its front. */
  private sweepIdle(): void {
    this.idleTimer = undefined;
    const idleMs = this.options.idleTimeoutMs;
    const now = performance.now();
    let first = this.free[0];
    while (first !== undefined && now - first.idleSince >= idleMs) {
      first.close(); // leaves the free list (forget)
      if (this.free[0] === first) this.free.shift();
      first = this.free[0];
    }
    if (first !== undefined && !this.destroyed) this.armIdleSweep(first.idleSince + idleMs - now);
  }

  /** `conn` closed: it leaves the pool; waiting requests may open another. */
  forget(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    const at = this.free.indexOf(conn);
    if (at !== -1) this.free.splice(at, 1);
    this.serveQueue();
    this.settle();
  }

  private canOpen(): boolean {
    return (
      this.all.size + this.connecting < this.options.connections &&
      this.connecting < this.options.maxConnecting
    );
  }

  /** Opens a connection for `owner`, whose request fails if the connection cannot be opened. */
  private open(owner: Waiting): void {
    owner.owner = true;
    this.connecting += 1;
    this.options.onOpen?.();
    const connector = this.options.connector;
    const connectSocket = (callback: ConnectCallback) => this.connectSocket(callback, true);
    const opened: ConnectCallback = (error, socket) => {
      this.connecting -= 1;
      if (error || socket === null || this.destroyed) {
        socket?.destroy();
        owner.owner = false;
        const at = this.queue.indexOf(owner);
        if (at !== -1) {
          this.queue.splice(at, 1);
          this.unwatch(owner);
          owner.to.reject(error ?? new UpstreamError('POOL_CLOSED', 'the connection pool was destroyed'));
        }
        this.serveQueue();
        this.settle();
        return;
      }
      owner.owner = false;
      const conn = new UpstreamConnection(this, socket, this.options.limits);
      conn.attach(socket);
      this.all.add(conn);
      this.release(conn);
      // Requests still waiting may open more connections now that this one is no longer being opened.
      this.serveQueue();
    };
    if (connector) connector(connectSocket, opened);
    else this.connectSocket(opened, true);
  }

  /** Gives waiting requests the free connections, and opens connections for the rest while the limits allow. */
  private serveQueue(): void {
    while (this.queue.length > 0 && !this.destroyed) {
      const free = this.free.pop();
      if (free !== undefined) {
        const waiting = this.queue.shift() as Waiting;
        this.unwatch(waiting);
        if (!free.send(waiting)) this.free.push(free);
        continue;
      }
      if (!this.canOpen()) return;
      const unowned = this.queue.find((w) => !w.owner);
      if (unowned === undefined) return;
      this.open(unowned);
    }
  }

  private wait(waiting: Waiting): void {
    const signal = waiting.signal;
    if (signal !== undefined) {
      waiting.onAbort = () => {
        const at = this.queue.indexOf(waiting);
        if (at === -1) return;
        this.queue.splice(at, 1);
        waiting.to.reject(signal.reason);
        this.settle();
      };
      signal.addEventListener('abort', waiting.onAbort);
    }
    this.queue.push(waiting);
  }

  private unwatch(waiting: Waiting): void {
    if (waiting.onAbort !== undefined) waiting.signal?.removeEventListener('abort', waiting.onAbort);
  }

  private settle(): void {
    if (this.whenIdle === undefined || this.queue.length > 0) return;
    for (const c of this.all) if (c.phase === 'head' || c.phase === 'body') return;
    const resolve = this.whenIdle;
    this.whenIdle = undefined;
    resolve();
  }

  private connectSocket(
    callback: (error: Error | null, socket: net.Socket | null) => void,
    pooled = false,
  ): void {
    const { host, port, connectTimeoutMs, tls: secure } = this.options;
    let done = false;
    let socket: net.Socket;
    const finish = (error: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (error) {
        socket.destroy();
        callback(error, null);
      } else callback(null, socket);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      if (secure?.fallback && HANDSHAKE_REFUSED.has(error.code ?? '') && !done) {
        // Before any request is written: nothing is sent twice.
        done = true;
        clearTimeout(timer);
        socket.destroy();
        this.connectPlain(callback);
        return;
      }
      finish(new UpstreamError(error.code ?? 'ECONNRESET', error.message));
    };
    const timer = setTimeout(
      () =>
        finish(
          new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `connect timed out after ${connectTimeoutMs} ms`),
        ),
      connectTimeoutMs,
    );
    if (secure) {
      const tlsSocket = tls.connect({ ...secure.connect, host, port, session: this.tlsSession });
      // As a plaintext pooled socket reads (net's onread option, which tls.connect does not take): the plaintext
      // the TLS wrap decrypts goes into the shared buffer.
      if (pooled && readInto(tlsSocket, READ_BUFFER, onUpstreamRead)) (tlsSocket as RawSocket)[READER] = null;
      tlsSocket.on('session', (session: Buffer) => {
        this.tlsSession = session;
      });
      socket = tlsSocket;
      tlsSocket.once('secureConnect', () => finish(null));
    } else {
      if (pooled) {
        socket = net.connect({ host, port, onread: ONREAD });
        (socket as RawSocket)[READER] = null;
      } else socket = net.connect({ host, port });
      socket.once('connect', () => finish(null));
    }
    socket.on('error', onError);
  }

  private connectPlain(callback: (error: Error | null, socket: net.Socket | null) => void): void {
    const { host, port, connectTimeoutMs } = this.options;
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      callback(
        new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `connect timed out after ${connectTimeoutMs} ms`),
        null,
      );
    }, connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      callback(null, socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      callback(new UpstreamError(error.code ?? 'ECONNRESET', error.message), null);
    });
  }
}
