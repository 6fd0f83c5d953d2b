/**
 * Request bodies: small ones (up to the retry buffer) are read into memory so that retries and mirrors can
 * resend them; larger or length-less ones stream through untouched, and are then never retried.
 *
 * A body must also keep arriving: a client that sends its head and then a byte now and then would otherwise hold
 * a connection (and a request slot upstream) for as long as it likes. `BodyWatch` times out a body that made no
 * progress for `limits.requestBodyIdleTimeoutMs` (Envoy's stream idle timeout) or is still incomplete
 * `limits.requestTimeoutMs` after its request began (Envoy's request_timeout); the request is then answered 408
 * and its connection closed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { ProxyError } from '../errors.ts';
import type { LiteSignal } from '../signal.ts';

/** Whether the request's head announces a body (node:http has not read any of it yet when the request starts). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

interface Watched {
  res: ServerResponse;
  controller: LiteSignal;
  bytes: number;
  progressAt: number;
  deadline: number;
  idleMs: number;
}

/**
 * The bodies in flight on one listener, checked by one timer that ticks only while there are any. Progress is
 * read off the connection's byte count, so nothing runs per chunk. A stalled body's request is aborted with a 408
 * ProxyError, which the listener answers; if an answer has already begun (or the body of a refused request is
 * being drained), the connection is closed instead.
 */
export class BodyWatch {
  private readonly bodies = new Map<IncomingMessage, Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number) {}

  /** Watches `req`'s body until it is complete; 0 turns either limit off. */
  watch(
    req: IncomingMessage,
    res: ServerResponse,
    controller: LiteSignal,
    idleMs: number,
    totalMs: number,
  ): void {
    if (idleMs <= 0 && totalMs <= 0) return;
    const now = this.now();
    this.bodies.set(req, {
      res,
      controller,
      bytes: req.socket.bytesRead,
      progressAt: now,
      deadline: totalMs > 0 ? now + totalMs : Number.POSITIVE_INFINITY,
      idleMs: idleMs > 0 ? idleMs : Number.POSITIVE_INFINITY,
    });
    if (this.timer === undefined)
      this.schedule(Math.min(idleMs > 0 ? idleMs : totalMs, totalMs > 0 ? totalMs : idleMs));
  }

  get size(): number {
    return this.bodies.size;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.bodies.clear();
  }

  private timeOut(req: IncomingMessage, body: Watched, detail: string): void {
    const error = new ProxyError('TRELLIS_ERR_REQUEST_TIMEOUT', detail);
    body.controller.abort(error);
    // Nobody is left to answer it (the answer began, or the request was over before): just close.
    if (body.res.headersSent || body.controller.reason !== error) req.socket?.destroy();
  }

  /** A quarter of the shortest limit watched, between 10 ms and 1 s: a stall is noticed within 25 % of it. */
  private schedule(shortestMs: number): void {
    const every = Math.max(10, Math.min(1000, shortestMs / 4));
    this.timer = setTimeout(() => this.check(), every);
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    const now = this.now();
    let shortest = Number.POSITIVE_INFINITY;
    for (const [req, body] of this.bodies) {
      if (req.complete || req.destroyed) {
        this.bodies.delete(req);
        continue;
      }
      const bytes = req.socket?.bytesRead ?? body.bytes;
      if (bytes !== body.bytes) {
        body.bytes = bytes;
        body.progressAt = now;
      }
      const idle = now - body.progressAt >= body.idleMs;
      if (idle || now >= body.deadline) {
        this.bodies.delete(req);
        this.timeOut(
          req,
          body,
          idle
            ? `no request body received for ${body.idleMs} ms (limits.requestBodyIdleTimeoutMs)`
            : 'the request body did not arrive within limits.requestTimeoutMs',
        );
      } else shortest = Math.min(shortest, body.idleMs, body.deadline - now);
    }
    if (this.bodies.size > 0) this.schedule(shortest);
  }
}

export interface BodyInfo {
  body: Buffer | import('node:stream').Readable | null;
  /** Bytes received so far; for a streamed body it grows as the stream is consumed. */
  bytes(): number;
}

/** Reads the body; a buffered read ends with the signal's reason as soon as it is aborted (a stalled body). */
export async function readBody(
  req: IncomingMessage,
  bufferLimit: number,
  signal: LiteSignal,
): Promise<BodyInfo> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) {
    if (length === '0') req.resume();
    return { body: length === '0' ? Buffer.alloc(0) : null, bytes: () => 0 };
  }
  const declared = length === undefined ? Number.NaN : Number(length);
  if (!chunked && declared <= bufferLimit) return readBuffered(req, signal);
  let count = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      count += chunk.length;
      done(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  req.pipe(counter);
  return { body: counter, bytes: () => count };
}

function readBuffered(req: IncomingMessage, signal: LiteSignal): Promise<BodyInfo> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
    };
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onEnd = () => {
      done();
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
      resolve({ body, bytes: () => total });
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onClose = () => onError(new Error('aborted'));
    const onAbort = () => {
      done();
      req.pause();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}
