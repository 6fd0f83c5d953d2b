/**
 * Reading accepted sockets without node:stream. Each chunk net.Socket reads goes through Readable's
 * push, addChunk and an 'data' event, with their bookkeeping and a tick's promise work; measured side by side, that
 * was a tenth of a proxy hop's user CPU. And each read gets a memory block of its own: libuv reads into 64 KiB that
 * Node mallocs, shrinks to the bytes read and wraps as an ArrayBuffer, which V8 frees only when it sweeps.
 *
 * Here an accepted socket is put in the mode net.Socket's public `onread` option gives a socket it connects itself
 * (upstream.ts uses that option): libuv reads into one buffer shared by every such socket, and a callback gets the
 * byte count. The reader gets a copy (small ones come from Buffer's pool), as the parser keeps what it is given.
 * Node's own read function (onStreamRead) still runs, so end of stream, errors and the socket's timer are as
 * before. Pausing is readStop/readStart on the handle, as net.Socket does for a socket opened with `onread`.
 *
 * An accepted socket cannot be given that option, so this sets what it would have set: the handle's user buffer
 * and the socket's two symbol-keyed fields, whose symbols are found on a socket made with the option. None of this
 * is a public API: where it is not what this expects (a Node that works otherwise), the connection reads through
 * 'data' events as before, and test/engine-reads.test.ts says which one a connection uses.
 *
 * A TLS socket's handle is the TLS wrap, a stream of its own over the TCP one: it decrypts into the buffer its
 * reader allocates, so the same mode gives the connection the plaintext the same way.
 */
import net, { type Socket } from 'node:net';

interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
}

type Reader = (chunk: Buffer) => void;
/** What net calls for each read into the user buffer; false stops reading. */
export type ReadCallback = (nread: number, buffer: Buffer) => boolean;

/**
 * The one buffer every socket read this way reads into, accepted and upstream alike: a read is copied out of it at
 * once (heads and bodies outlive the callback), so no two reads ever need it at the same time.
 */
export const READ_BUFFER: Buffer = Buffer.allocUnsafe(64 * 1024);

interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
}

/** net's keys for an `onread` socket's buffer and callback, read off a socket made with that option. */
const symbols: OnreadSymbols | undefined = (() => {
  const buffer = Buffer.alloc(1);
  const callback = () => true;
  const probe = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts);
  let b: symbol | undefined;
  let c: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(probe)) {
    const value = (probe as unknown as Record<symbol, unknown>)[key];
    if (value === buffer) b = key;
    else if (value === callback) c = key;
  }
  probe.destroy();
  return b !== undefined && c !== undefined ? { buffer: b, callback: c } : undefined;
})();

function handleOf(socket: Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (!handle || typeof handle.readStop !== 'function' || typeof handle.useUserBuffer !== 'function')
    return undefined;
  return handle;
}

/** The bytes of one read, copied out of the shared buffer into memory of their own (small ones from the pool). */
export function copyOut(nread: number, buffer: Buffer): Buffer {
  const chunk = Buffer.allocUnsafe(nread);
  buffer.copy(chunk, 0, 0, nread);
  return chunk;
}

/**
 * A socket whose reads go to a reader of its own: paused and resumed on its handle, given back for a tunnel. Once
 * the socket is closed (its handle gone) there is nothing left to pause or resume.
 */
export class HandleReads {
  constructor(
    private readonly socket: Socket,
    private readonly handle: StreamHandle,
    private readonly keys: OnreadSymbols,
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

  /**
   * Gives the socket's reads back to net.Socket (a tunnel pipes it as a stream), reading. The handle keeps the
   * shared buffer (a handle cannot leave that mode), so each read is pushed into the Readable as 'data' would
   * have been; when the Readable is full, reading stops until it is read from (net's _read starts it again).
   */
  release(): void {
    const socket = this.socket;
    const push: ReadCallback = (nread, buffer) => socket.push(copyOut(nread, buffer));
    (socket as unknown as Record<symbol, unknown>)[this.keys.callback] = push;
    this.resume();
  }

  private get open(): boolean {
    return (this.socket as unknown as { _handle: StreamHandle | null })._handle === this.handle;
  }
}

/**
 * Puts a socket in `onread` mode after the fact: libuv (or the TLS wrap) reads into `buffer` and `callback` gets
 * each read's byte count, called on the socket, as for a socket made with net's `onread` option. False where this
 * Node does not work as expected; the socket is then left as it was.
 */
export function readInto(socket: Socket, buffer: Buffer, callback: ReadCallback): boolean {
  const handle = handleOf(socket);
  if (handle === undefined || symbols === undefined) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[symbols.buffer] = buffer;
  fields[symbols.callback] = callback;
  handle.useUserBuffer(buffer);
  return true;
}

/** Takes the socket's reads: each chunk goes to `reader`. Undefined where this Node does not allow it. */
export function takeReads(socket: Socket, reader: Reader): HandleReads | undefined {
  const handle = handleOf(socket);
  if (handle === undefined || symbols === undefined) return undefined;
  const callback: ReadCallback = (nread, buffer) => {
    reader(copyOut(nread, buffer));
    return true;
  };
  readInto(socket, READ_BUFFER, callback);
  if (socket.readableLength > 0) {
    // Bytes already read into the Readable (mtls.ts peeks at the first byte and unshifts it): they come first.
    process.nextTick(() => {
      for (let b = socket.read() as Buffer | null; b !== null; b = socket.read() as Buffer | null) reader(b);
    });
  }
  return new HandleReads(socket, handle, symbols);
}
