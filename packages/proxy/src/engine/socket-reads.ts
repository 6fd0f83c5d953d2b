/**
 * Reading accepted plaintext sockets without node:stream. Each chunk net.Socket reads goes through Readable's
 * push, addChunk and an 'data' event, with their bookkeeping and a tick's promise work; measured side by side, that
 * was a tenth of a proxy hop's user CPU. Here the TCP handle's `onread` (the function libuv's read callback calls:
 * net.Socket sets it to stream_base_commons' onStreamRead) is replaced by one that hands each chunk to the
 * connection. Node 20 passes a read as an ArrayBuffer of exactly the bytes read (stream_base.cc reallocates it to
 * nread), so the Buffer over it is the chunk. End of stream and read errors come without an ArrayBuffer and go to the
 * original function, so 'end', 'error' and 'close' are emitted as before. Pausing is readStop/readStart on the
 * handle, as net.Socket does for a socket opened with `onread`.
 *
 * The handle's `onread` is not a public API: where it is not what this expects (a TLS socket, whose handle is the
 * TLS wrap, or a Node that works otherwise), the connection reads through 'data' events as before, and
 * test/engine-reads.test.ts says which one a plaintext connection uses. Upstream sockets use net's public `onread`
 * option (engine/upstream.ts).
 */
import type { Socket } from 'node:net';

interface StreamHandle {
  onread: (arrayBuffer: ArrayBuffer | undefined) => unknown;
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

type Reader = (chunk: Buffer) => void;

/** Plain TCP sockets only (a TLSSocket's handle is the TLS wrap). */
function handleOf(socket: Socket): StreamHandle | undefined {
  const s = socket as unknown as { _handle: StreamHandle | null; encrypted?: boolean };
  const handle = s._handle;
  if (s.encrypted || !handle || typeof handle.readStop !== 'function' || typeof handle.onread !== 'function')
    return undefined;
  return handle;
}

/**
 * A socket whose reads go to a reader of its own: paused and resumed on its handle, given back for a tunnel. Once
 * the socket is closed (its handle gone) there is nothing left to pause or resume.
 */
export class HandleReads {
  constructor(
    private readonly socket: Socket,
    private readonly handle: StreamHandle,
    private readonly original: StreamHandle['onread'],
  ) {}

  get paused(): boolean {
    return !this.handle.reading;
  }

  pause(): void {
    if (!this.handle.reading || !this.open) return;
    this.handle.reading = false;
    this.handle.readStop();
  }

  resume(): void {
    if (this.handle.reading || !this.open) return;
    this.handle.reading = true;
    this.handle.readStart();
  }

  /** Gives the socket's reads back to net.Socket (a tunnel pipes it as a stream), reading. */
  release(): void {
    this.handle.onread = this.original;
    this.resume();
  }

  private get open(): boolean {
    return (this.socket as unknown as { _handle: StreamHandle | null })._handle === this.handle;
  }
}

/** Takes the socket's reads: each chunk goes to `reader`. Undefined when the socket is not a plain TCP one. */
export function takeReads(socket: Socket, reader: Reader): HandleReads | undefined {
  const handle = handleOf(socket);
  if (handle === undefined) return undefined;
  const original = handle.onread;
  handle.onread = function onread(this: StreamHandle, arrayBuffer: ArrayBuffer | undefined) {
    if (arrayBuffer !== undefined) {
      reader(Buffer.from(arrayBuffer));
      return undefined;
    }
    // EOF or an error (nread <= 0 in streamBaseState): net's own handling.
    return original.call(this, arrayBuffer);
  };
  if (socket.readableLength > 0) {
    // Bytes already read into the Readable (mtls.ts peeks at the first byte and unshifts it): they come first.
    process.nextTick(() => {
      for (let b = socket.read() as Buffer | null; b !== null; b = socket.read() as Buffer | null) reader(b);
    });
  }
  return new HandleReads(socket, handle, original);
}
