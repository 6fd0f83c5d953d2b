/**
 * Message bodies on the request path, without node:stream. A body is a push source over the socket it arrives on:
 * chunks go straight from one connection's parser to the other connection's socket, and backpressure is one
 * boolean each way (a sink that returns false pauses the source's socket until the sink calls `resume`). A
 * Readable per message, and its buffering, events and state machine, was a large part of what each request cost.
 *
 * A source may receive chunks before anyone consumes it (the response head is handed up the stage chain first):
 * it keeps them, with its socket paused, until `pipe` is called.
 */
import type { Socket } from 'node:net';
import type { Fields } from '../http1/fields.ts';
import { CHUNK_END, chunkHeader } from '../http1/serializer.ts';
import { writeOut } from './socket-writes.ts';

export interface BodySink {
  /** A chunk of the body; false: stop until the sink calls the source's `resume`. */
  data(chunk: Buffer): boolean;
  /** The whole body arrived (with the chunked trailers, if any). */
  end(trailers: Fields | undefined): void;
  /** The body will not be completed: its connection failed or was closed. */
  error(error: Error): void;
}

export interface BodySource {
  /** The Content-Length the message declared, or -1 (chunked, or read until close). */
  readonly length: number;
  /** Bytes delivered to the sink so far. */
  readonly received: number;
  /** Starts the flow into `sink`; once per source. */
  pipe(sink: BodySink): void;
  /** The sink can take more after having returned false. */
  resume(): void;
  /** The consumer gives up on the body: the rest is discarded and the source's connection is not reused mid-body. */
  abort(): void;
  /** Reads and discards the rest (an answer whose body nobody wants, e.g. a retried attempt's). */
  dump(): void;
  /** Runs `callback` once the body has ended, failed or been abandoned (at once if it has). */
  whenSettled(callback: () => void): void;
}

const NOOP_SINK: BodySink = { data: () => true, end: () => {}, error: () => {} };

/**
 * The body as a source: chunks pushed by the connection that reads it (`push`, `finish`, `fail`), held until a sink
 * is attached. `onPause`/`onResume` stop and restart the reading connection.
 */
export class PushBody implements BodySource {
  received = 0;
  private sink: BodySink | undefined;
  private held: Buffer[] | undefined;
  private state: 0 | 1 | 2 = 0; // 0 flowing, 1 ended, 2 failed
  private endTrailers: Fields | undefined;
  private failure: Error | undefined;
  private paused = false;
  private settledCallbacks: (() => void) | Array<() => void> | undefined;

  constructor(
    readonly length: number,
    private readonly control: { pause(): void; resume(): void; abort(): void },
  ) {}

  pipe(sink: BodySink): void {
    if (this.sink !== undefined) throw new Error('a body is piped once');
    this.sink = sink;
    const held = this.held;
    this.held = undefined;
    let more = true;
    if (held !== undefined) for (const chunk of held) more = this.deliver(chunk) && more;
    if (this.state === 1) sink.end(this.endTrailers);
    else if (this.state === 2) sink.error(this.failure as Error);
    else if (more && this.paused) {
      this.paused = false;
      this.control.resume();
    }
  }

  resume(): void {
    if (this.paused && this.state === 0) {
      this.paused = false;
      this.control.resume();
    }
  }

  abort(): void {
    if (this.state !== 0) return;
    this.state = 2;
    this.failure = ABORTED;
    this.sink = NOOP_SINK;
    this.held = undefined;
    this.control.abort();
    this.settle();
  }

  dump(): void {
    if (this.sink === undefined) this.pipe(NOOP_SINK);
  }

  whenSettled(callback: () => void): void {
    if (this.state !== 0) {
      callback();
      return;
    }
    const prior = this.settledCallbacks;
    if (prior === undefined) this.settledCallbacks = callback;
    else if (typeof prior === 'function') this.settledCallbacks = [prior, callback];
    else prior.push(callback);
  }

  private settle(): void {
    const callbacks = this.settledCallbacks;
    if (callbacks === undefined) return;
    this.settledCallbacks = undefined;
    if (typeof callbacks === 'function') callbacks();
    else for (const callback of callbacks) callback();
  }

  /** From the reading connection. Returns false when it should stop reading. */
  push(chunk: Buffer): boolean {
    if (this.state !== 0) return true;
    const sink = this.sink;
    if (sink === undefined) {
      if (this.held === undefined) this.held = [chunk];
      else this.held.push(chunk);
      this.paused = true;
      return false;
    }
    if (!this.deliver(chunk)) {
      this.paused = true;
      return false;
    }
    return true;
  }

  finish(trailers?: Fields): void {
    if (this.state !== 0) return;
    this.state = 1;
    this.endTrailers = trailers;
    this.sink?.end(trailers);
    this.settle();
  }

  fail(error: Error): void {
    if (this.state !== 0) return;
    this.state = 2;
    this.failure = error;
    this.sink?.error(error);
    this.settle();
  }

  get ended(): boolean {
    return this.state !== 0;
  }

  private deliver(chunk: Buffer): boolean {
    this.received += chunk.length;
    return (this.sink as BodySink).data(chunk);
  }
}

const ABORTED = new Error('body aborted by its consumer');

/** Runs `callback` once `body` is settled: at once for none or a Buffer, else when the source settles. */
export function settledOf(body: Buffer | BodySource | null, callback: () => void): void {
  if (body === null || Buffer.isBuffer(body)) callback();
  else body.whenSettled(callback);
}

/** Reads a whole body into one Buffer (bounded by the caller through the declared length or its own checks). */
export function collect(source: BodySource, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    source.pipe({
      data(chunk) {
        total += chunk.length;
        if (total > limit) {
          source.abort();
          reject(new RangeError(`body larger than ${limit} bytes`));
          return true;
        }
        chunks.push(chunk);
        return true;
      },
      end() {
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
      },
      error: reject,
    });
  });
}

/** Writes one piece of a body to `socket`, as a chunk when `chunked` (one write either way); false: backpressure. */
export function writeBodyPiece(socket: Socket, chunk: Buffer, chunked: boolean): boolean {
  if (!chunked) return writeOut(socket, chunk);
  if (chunk.length === 0) return true;
  socket.cork();
  socket.write(chunkHeader(chunk.length));
  socket.write(chunk);
  const more = socket.write(CHUNK_END);
  socket.uncork();
  return more;
}
