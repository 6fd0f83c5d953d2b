/**
 * The downstream side of the engine: an HTTP/1.1 server on raw `net` (or `tls`) sockets with Trellis's codec in
 * place of node:http. Each connection reads requests one at a time and answers them in order: a pipelined request
 * waits, unparsed, until the answer before it is written (as nginx does), so answers can never be reordered.
 *
 * Bodies flow both ways with backpressure: a request body is a PushBody whose consumer pauses the client's
 * socket; an answer's body is written while the client's socket takes it and the source is paused when it does
 * not. Timeouts are checked by one sweep per server, never by a timer per request: the head must arrive within
 * `headersTimeoutMs` of its first byte, an idle keep-alive connection is closed after `keepAliveTimeoutMs`, and a
 * request body must make progress every `bodyIdleTimeoutMs` and be complete `bodyTimeoutMs` after the request
 * began (Envoy's stream idle timeout and request_timeout); a stalled body aborts its exchange with a 408.
 *
 * An upgrade (or CONNECT) request stops the parser after its head: the handler either takes the connection as a
 * tunnel (`tunnel()`, once the upstream has answered 101) or answers normally, and parsing resumes on the same
 * bytes — nothing sent after an upgrade request reaches anyone until the upgrade is accepted.
 */
import net from 'node:net';
import type { Http1Error } from '../http1/errors.ts';
import { Fields } from '../http1/fields.ts';
import type { FieldList } from '../http1/lookup.ts';
import { type MessageHead, type ParserLimits, RequestParser } from '../http1/parser.ts';
import {
  type Framing,
  INLINE_BODY_BYTES,
  LAST_CHUNK,
  lastChunkWithTrailers,
  responseHead,
} from '../http1/serializer.ts';
import { LiteSignal } from '../signal.ts';
import { type BodySink, type BodySource, PushBody, writeBodyPiece } from './body.ts';
import { type HandleReads, takeReads } from './socket-reads.ts';
import { writeOut } from './socket-writes.ts';

export interface ServerLimits extends ParserLimits {
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

export interface BodyLimits {
  /** 0: off. */
  idleMs: number;
  /** 0: off. */
  totalMs: number;
}

export interface ServerOptions {
  limits: ServerLimits;
  now(): number;
  /** Each request, once its head has arrived. */
  onRequest(exchange: ServerExchange): void;
  /** How a request refused by the parser is answered: the extra fields (e.g. x-trellis-error) for its status. */
  refusal?(error: Http1Error): string;
}

/** Why an exchange was aborted when its client went away (one object: an Error per request costs a stack). */
export const CLIENT_GONE = new Error('client went away');

const NO_FRAMING: Framing = { kind: 'none' };
const CHUNKED: Framing = { kind: 'chunked' };
const CLOSE_DELIMITED: Framing = { kind: 'close' };
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

enum State {
  /** Between requests: waiting for the first byte of the next. */
  Idle,
  /** Some bytes of a head arrived. */
  Head,
  /** A request is being handled. */
  Active,
  /** Handed over as a tunnel, or closed. */
  Gone,
}

/** One request and its answer. */
export class ServerExchange implements BodySink {
  readonly method: string;
  readonly target: string;
  readonly versionMinor: number;
  readonly fields: Fields;
  readonly body: PushBody | null;
  readonly upgrade: boolean;
  readonly keepAliveRequested: boolean;
  /** Aborted with CLIENT_GONE when the client goes away before the answer is written, or with a 408 error. */
  readonly signal = new LiteSignal();
  readonly startedAt: number;
  /** Answer bytes of the body written. */
  sent = 0;
  /** The status answered (0 until then). */
  status = 0;
  /** Called once the answer has been written whole, or abandoned. */
  onDone: ((complete: boolean) => void) | undefined = undefined;
  bodyLimits: BodyLimits | undefined = undefined;
  /** Progress marks for the body sweep. */
  progressAt: number;
  progressBytes = 0;
  finished = false;
  private streaming: BodySource | undefined;
  private chunked = false;
  private keepAfter = false;

  constructor(
    readonly connection: ServerConnection,
    head: MessageHead,
    now: number,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.versionMinor = head.versionMinor;
    this.fields = Fields.from(head);
    this.upgrade = head.upgrade || head.method === 'CONNECT';
    this.keepAliveRequested = head.keepAlive;
    this.startedAt = now;
    this.progressAt = now;
    this.body =
      head.chunked || head.contentLength > 0
        ? new PushBody(head.chunked ? -1 : head.contentLength, connection)
        : null;
  }

  get socket(): net.Socket {
    return this.connection.socket;
  }

  get responded(): boolean {
    return this.status !== 0;
  }

  /** Times out the request body by these limits until it is complete. */
  watchBody(limits: BodyLimits): void {
    if (this.body !== null && (limits.idleMs > 0 || limits.totalMs > 0)) {
      this.bodyLimits = limits;
      this.connection.server.watch(this);
    }
  }

  /**
   * Writes the answer. `declaredLength`: for an answer to HEAD (or a 304), the Content-Length to announce without a
   * body. The connection stays open for the next request when both sides allow it.
   */
  respond(
    status: number,
    reason: string | undefined,
    fields: Fields,
    body: Buffer | BodySource | null,
    declaredLength = -1,
  ): void {
    try {
      this.write(status, reason, fields, body, declaredLength);
    } catch (error) {
      // The head could not be written (a field the proxy was asked to write holds CR, LF or NUL): nothing went out.
      if (this.status === status && this.sent === 0 && this.streaming === undefined) this.status = 0;
      throw error;
    }
  }

  private write(
    status: number,
    reason: string | undefined,
    fields: Fields,
    body: Buffer | BodySource | null,
    declaredLength: number,
  ): void {
    if (this.status !== 0 || this.connection.state === State.Gone) {
      if (body !== null && !Buffer.isBuffer(body)) body.abort();
      return;
    }
    this.status = status;
    const conn = this.connection;
    const socket = conn.socket;
    const keepAlive = this.keepAliveRequested && !conn.closeAfter && !conn.server.draining;
    const bodiless = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    if (bodiless) {
      if (declaredLength >= 0 && status !== 204) fields.set('content-length', String(declaredLength));
      if (body !== null && !Buffer.isBuffer(body)) body.dump();
      writeOut(socket, responseHead(status, reason, fields, NO_FRAMING, keepAlive));
      this.complete(keepAlive);
      return;
    }
    if (body === null || Buffer.isBuffer(body)) {
      const length = body === null ? 0 : body.length;
      const framing = { kind: 'length', length } as const;
      if (length === 0) writeOut(socket, responseHead(status, reason, fields, framing, keepAlive));
      else if (length <= INLINE_BODY_BYTES) {
        writeOut(socket, responseHead(status, reason, fields, framing, keepAlive, body as Buffer));
      } else {
        socket.cork();
        socket.write(responseHead(status, reason, fields, framing, keepAlive));
        socket.write(body as Buffer);
        socket.uncork();
      }
      this.sent = length;
      this.complete(keepAlive);
      return;
    }
    const chunked = body.length < 0 && this.versionMinor === 1;
    const framing: Framing =
      body.length >= 0 ? { kind: 'length', length: body.length } : chunked ? CHUNKED : CLOSE_DELIMITED;
    const keep = keepAlive && (body.length >= 0 || chunked);
    const head = responseHead(status, reason, fields, framing, keep);
    this.streaming = body;
    conn.streaming = body;
    this.chunked = chunked;
    this.keepAfter = keep;
    // The head and whatever of the body has already arrived (often all of it) leave in one write.
    socket.cork();
    socket.write(head);
    body.pipe(this);
    socket.uncork();
  }

  // BodySink: the answer's body, written as it comes (the exchange is the sink: no object per answer).
  data(chunk: Buffer): boolean {
    if (this.finished) return true;
    this.sent += chunk.length;
    return writeBodyPiece(this.connection.socket, chunk, this.chunked);
  }

  end(trailers: Fields | undefined): void {
    if (this.finished) return;
    if (this.chunked) {
      this.connection.socket.write(
        trailers && trailers.size > 0 ? lastChunkWithTrailers(trailers) : LAST_CHUNK,
      );
    }
    this.streaming = undefined;
    this.connection.streaming = undefined;
    this.complete(this.keepAfter);
  }

  error(): void {
    // The upstream's body broke off: the client must not take what it got for the whole answer.
    this.streaming = undefined;
    this.connection.streaming = undefined;
    this.finish(false);
    this.connection.destroy();
  }

  /**
   * The connection becomes a tunnel: it leaves HTTP, and the bytes the client sent after the upgrade request's head
   * are returned for the tunnel's other side.
   */
  tunnel(): { socket: net.Socket; rest: Buffer } {
    this.status = 101;
    return this.connection.detach(this);
  }

  /** The answer was written whole; the connection goes on to the next request or closes. */
  private complete(keepAlive: boolean): void {
    this.finish(true);
    this.connection.answered(this, keepAlive);
  }

  finish(complete: boolean): void {
    if (this.finished) return;
    this.finished = true;
    const done = this.onDone;
    this.onDone = undefined;
    done?.(complete);
  }

  /** The client went away (or the connection failed) before the answer was written. */
  abandon(reason: unknown): void {
    this.signal.abort(reason);
    this.body?.fail(reason instanceof Error ? reason : CLIENT_GONE);
    const streaming = this.streaming;
    this.streaming = undefined;
    streaming?.abort();
    this.finish(false);
  }
}

export class ServerConnection {
  state = State.Idle;
  /** When the current state began (for the sweep). */
  since: number;
  closeAfter = false;
  streaming: BodySource | undefined;
  private readonly parser: RequestParser;
  private exchange: ServerExchange | undefined;
  private inExecute = false;
  private resumeAfterExecute = false;
  private pauseAfterExecute = false;
  private refused: Http1Error | undefined;
  private trailers: Fields | undefined;
  /** The client half-closed: it sends nothing more, and the connection ends after the answer in progress. */
  private readEnded = false;
  /** Reads taken from the socket's handle (socket-reads.ts); undefined: through its 'data' events. */
  private readonly reads: HandleReads | undefined;

  constructor(
    readonly server: Http1Server,
    readonly socket: net.Socket,
  ) {
    this.since = server.options.now();
    this.parser = new RequestParser(server.options.limits, this);
    socket.setNoDelay(true);
    this.reads = takeReads(socket, this.onData);
    if (this.reads === undefined) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  private readonly onData = (chunk: Buffer) => this.read(chunk);
  private readonly onEnd = () => {
    this.readEnded = true;
    this.parser.finish();
    // A client that half-closed after its request still gets the answer; an idle one is done.
    if (this.state === State.Idle) this.end();
  };
  private readonly onSocketError = () => this.destroy();
  private readonly onClose = () => this.closed();
  private readonly onDrain = () => this.streaming?.resume();

  private read(chunk: Buffer): void {
    if (this.state === State.Idle) {
      this.state = State.Head;
      this.since = this.server.options.now();
    }
    this.inExecute = true;
    this.parser.execute(chunk);
    this.inExecute = false;
    this.afterExecute();
    this.pump();
  }

  private afterExecute(): void {
    if (!this.pauseAfterExecute) return;
    this.pauseAfterExecute = false;
    const body = this.exchange?.body;
    if (body && !body.ended) this.pauseSocket();
  }

  /** Parses the requests kept while the one before was answered, in a loop (not recursion: a pipeline may be long). */
  private pump(): void {
    while (this.resumeAfterExecute) {
      this.resumeAfterExecute = false;
      this.inExecute = true;
      this.parser.resume();
      this.inExecute = false;
      this.afterExecute();
    }
  }

  // ParserEvents
  onHead(head: MessageHead): void {
    const now = this.server.options.now();
    const exchange = new ServerExchange(this, head, now);
    this.exchange = exchange;
    this.state = State.Active;
    this.since = now;
    if (head.expectContinue && exchange.body !== null && head.versionMinor === 1) this.socket.write(CONTINUE);
    this.server.options.onRequest(exchange);
  }

  onBody(chunk: Buffer): void {
    const body = this.exchange?.body;
    if (body && !body.push(chunk)) this.pauseAfterExecute = true;
  }

  onTrailers(fields: FieldList): void {
    this.trailers = Fields.from(fields);
  }

  onComplete(): void {
    const exchange = this.exchange;
    if (exchange === undefined) return;
    const trailers = this.trailers;
    this.trailers = undefined;
    exchange.body?.finish(trailers);
    if (this.paused()) this.resumeSocket();
    // The next request waits, unparsed, until this one is answered.
    this.parser.pause();
    if (exchange.finished) this.next();
  }

  onError(error: Http1Error): void {
    const exchange = this.exchange;
    if (exchange !== undefined && !exchange.finished) {
      this.closeAfter = true;
      if (exchange.body !== null && !exchange.body.ended) {
        // The request's own body is malformed (a bad chunk size): the request is refused as the parser would
        // refuse its head, unless its answer has begun; then the connection is cut.
        const reason = this.server.onBodyError(exchange, error);
        exchange.signal.abort(reason);
        exchange.body.fail(reason instanceof Error ? reason : new Error(error.reason));
        if (exchange.responded) this.destroy();
        return;
      }
      // Garbage after a request being answered: that answer is the last, then the refusal.
      this.refused = error;
      return;
    }
    this.refuse(error);
  }

  // PushBody's control (the request body)
  pause(): void {
    this.pauseAfterExecute = true;
  }

  resume(): void {
    this.pauseAfterExecute = false;
    if (this.paused()) this.resumeSocket();
  }

  /** Whether the connection reads from its socket's handle rather than through 'data' events. */
  get raw(): boolean {
    return this.reads !== undefined;
  }

  pauseSocket(): void {
    if (this.reads) this.reads.pause();
    else this.socket.pause();
  }

  resumeSocket(): void {
    if (this.reads) this.reads.resume();
    else this.socket.resume();
  }

  paused(): boolean {
    return this.reads ? this.reads.paused : this.socket.isPaused();
  }

  abort(): void {
    // The handler gave up on the request body: the connection cannot be reused with half a body unread.
    this.closeAfter = true;
  }

  /** The exchange's answer is written; go on to the next request, or close. */
  answered(exchange: ServerExchange, keepAlive: boolean): void {
    if (exchange !== this.exchange) return;
    if (!keepAlive || this.closeAfter) {
      this.end();
      return;
    }
    // Answered before the body was read (a refusal): the rest is read and dropped, then the next request.
    if (exchange.body !== null && !exchange.body.ended) exchange.body.dump();
    else this.next();
  }

  /** The exchange is over, answer and request body: the next request is parsed (after the current parse returns). */
  private next(): void {
    const exchange = this.exchange;
    if (exchange !== undefined && (!exchange.finished || (exchange.body !== null && !exchange.body.ended)))
      return;
    this.exchange = undefined;
    if (this.refused !== undefined) {
      this.refuse(this.refused);
      return;
    }
    this.state = State.Idle;
    this.since = this.server.options.now();
    if (this.server.draining) {
      this.end();
      return;
    }
    this.resumeAfterExecute = true;
    if (this.readEnded && !this.inExecute) {
      // Requests the client sent before its FIN are still answered, in order; then the connection ends.
      this.pump();
      if (this.state === State.Idle) this.end();
      return;
    }
    if (!this.inExecute) this.pump();
  }

  /** Answers a request the parser refused, then closes. */
  private refuse(error: Http1Error): void {
    if (this.state === State.Gone) return;
    const extra = this.server.options.refusal?.(error) ?? '';
    this.state = State.Gone;
    this.socket.end(
      `HTTP/1.1 ${error.status} ${error.reason}\r\nconnection: close\r\ncontent-length: 0\r\n${extra}\r\n`,
    );
    this.socket.destroySoon();
  }

  /** The headers timeout: answered 408 (nothing else was started on the connection), then closed. */
  timeOutHead(error: Http1Error): void {
    this.refuse(error);
  }

  detach(exchange: ServerExchange): { socket: net.Socket; rest: Buffer } {
    const socket = this.socket;
    this.state = State.Gone;
    this.exchange = undefined;
    exchange.finish(true);
    if (this.reads) this.reads.release();
    else socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('drain', this.onDrain);
    socket.off('close', this.onClose);
    socket.off('error', this.onSocketError);
    if (socket.isPaused()) socket.resume();
    this.server.forget(this);
    return { socket, rest: this.parser.takeRest() };
  }

  /** Ends the connection once what is written has gone. */
  end(): void {
    if (this.state === State.Gone) return;
    this.state = State.Gone;
    this.socket.end();
    this.socket.destroySoon();
  }

  destroy(): void {
    this.socket.destroy();
    this.closed();
  }

  private closed(): void {
    this.state = State.Gone;
    this.server.forget(this);
    const exchange = this.exchange;
    this.exchange = undefined;
    if (exchange !== undefined && !exchange.finished) exchange.abandon(CLIENT_GONE);
  }

  get current(): ServerExchange | undefined {
    return this.exchange;
  }
}

/** The request-side timeout error, made by whoever owns the catalogue (the listener), for a stalled body. */
export type BodyTimeout = (exchange: ServerExchange, idle: boolean) => unknown;

export class Http1Server {
  readonly server: net.Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly watched = new Set<ServerExchange>();
  private timer: NodeJS.Timeout | undefined;
  draining = false;
  /** How a stalled body's exchange is aborted (the listener sets it to its 408 error). */
  onBodyTimeout: BodyTimeout = () => new Error('request body timed out');
  /** How an exchange whose body the parser refused is aborted (the listener sets it to its 400 error). */
  onBodyError: (exchange: ServerExchange, error: Http1Error) => unknown = (_e, error) =>
    new Error(error.reason);
  headTimeoutError: Http1Error | undefined;

  constructor(readonly options: ServerOptions) {
    const accept = (socket: net.Socket) => {
      const conn = new ServerConnection(this, socket);
      this.connections.add(conn);
      this.schedule();
    };
    // Plaintext: mutual TLS inbound wraps this server's connections (mtls.ts acceptMeshConnections). Half-open:
    // a client that ends its side after a request still gets its answer.
    this.server = net.createServer({ allowHalfOpen: true }, accept);
    this.server.maxConnections = options.limits.maxConnections;
  }

  get size(): number {
    return this.connections.size;
  }

  has(conn: ServerConnection): boolean {
    return this.connections.has(conn);
  }

  forget(conn: ServerConnection): void {
    this.connections.delete(conn);
    const exchange = conn.current;
    if (exchange) this.watched.delete(exchange);
  }

  watch(exchange: ServerExchange): void {
    this.watched.add(exchange);
    this.schedule();
  }

  /**
   * Stops accepting and lets requests in flight finish; whatever is still open after `drainMs` is cut. Idle
   * keep-alive connections are closed too, but only after a grace period (a second at most, half the drain time),
   * and from then on each as it goes idle, its last answer saying `connection: close`: a caller that picked this
   * proxy just before it learned the proxy was leaving may be writing a request to a connection it has just opened
   * or taken from its pool, and closing it at once would cut that request.
   */
  close(drainMs: number): Promise<void> {
    return new Promise((resolve) => {
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(grace);
        clearTimeout(deadline);
        clearTimeout(this.timer);
        this.timer = undefined;
        resolve();
      };
      const grace = setTimeout(
        () => {
          this.draining = true;
          for (const conn of [...this.connections]) if (conn.state === State.Idle) conn.end();
        },
        Math.min(1000, drainMs / 2),
      );
      const deadline = setTimeout(() => {
        for (const conn of [...this.connections]) conn.destroy();
        done();
      }, drainMs);
      deadline.unref();
      this.server.close(done);
    });
  }

  /** The sweep runs while there are connections: every quarter of the shortest timeout, 10 ms to 1 s. */
  private schedule(): void {
    if (this.timer !== undefined) return;
    const { headersTimeoutMs, keepAliveTimeoutMs } = this.options.limits;
    let shortest = Math.min(
      headersTimeoutMs || Number.POSITIVE_INFINITY,
      keepAliveTimeoutMs || Number.POSITIVE_INFINITY,
    );
    for (const exchange of this.watched) {
      const limits = exchange.bodyLimits;
      if (limits === undefined) continue;
      if (limits.idleMs > 0) shortest = Math.min(shortest, limits.idleMs);
      if (limits.totalMs > 0) shortest = Math.min(shortest, limits.totalMs);
    }
    if (!Number.isFinite(shortest)) shortest = 1000;
    this.timer = setTimeout(() => this.sweep(), Math.max(10, Math.min(1000, shortest / 4)));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.options.now();
    const { headersTimeoutMs, keepAliveTimeoutMs } = this.options.limits;
    for (const conn of [...this.connections]) {
      if (conn.state === State.Idle && keepAliveTimeoutMs > 0 && now - conn.since >= keepAliveTimeoutMs)
        conn.end();
      else if (conn.state === State.Head && headersTimeoutMs > 0 && now - conn.since >= headersTimeoutMs) {
        if (this.headTimeoutError) conn.timeOutHead(this.headTimeoutError);
        else conn.destroy();
      }
    }
    for (const exchange of [...this.watched]) {
      const body = exchange.body;
      const limits = exchange.bodyLimits;
      // A refused request's body is still watched while it is read and dropped.
      if (body === null || body.ended || limits === undefined || exchange.connection.state === State.Gone) {
        this.watched.delete(exchange);
        continue;
      }
      const received = exchange.socket.bytesRead;
      // While the proxy holds the client's socket paused (its upstream is not taking the body), the wait is not the
      // client's: it is not idle.
      if (received !== exchange.progressBytes || exchange.connection.paused()) {
        exchange.progressBytes = received;
        exchange.progressAt = now;
      }
      const idle = limits.idleMs > 0 && now - exchange.progressAt >= limits.idleMs;
      if (idle || (limits.totalMs > 0 && now - exchange.startedAt >= limits.totalMs)) {
        this.watched.delete(exchange);
        const reason = this.onBodyTimeout(exchange, idle);
        exchange.connection.closeAfter = true;
        exchange.signal.abort(reason);
        // Nobody is left to answer it (the answer began): just close.
        if (exchange.responded) exchange.connection.destroy();
      }
    }
    if (this.connections.size > 0) this.schedule();
  }
}
