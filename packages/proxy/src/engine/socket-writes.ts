/**
 * Writing a whole buffer to a plaintext socket without node:stream. socket.write passes every buffer through
 * Writable's state machine (write, _write, writeOrBuffer, its length and callback bookkeeping, a nextTick to call
 * back) before net hands it to the TCP handle; for the one write of a head (and a small body) per message that was
 * about a twentieth of a proxy hop's user CPU. Here the buffer goes straight to the handle, as net's writeGeneric
 * does: libuv writes what the kernel takes at once, and queues the rest, keeping its order with every later write.
 *
 * Only when the Writable side holds nothing and is not corked (else the bytes would overtake what it holds), the
 * socket is connected, and it is not TLS (whose handle encrypts). Otherwise, and on a Node whose internals are not
 * what this expects, it is socket.write. A write libuv could not finish at once keeps its buffer referenced until
 * libuv is done, returns false like socket.write under backpressure, and 'drain' is emitted on the socket when the
 * handle's queue is empty, which is what the engine waits for. The engine counts the bytes it sends itself, so
 * net's bytesWritten (not kept up to date here) is not read.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  readonly writeQueueSize: number;
}

interface WriteReq {
  handle: StreamHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Uint8Array | null;
  socket: Socket;
}

interface Binding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** Node's own write request and state (process.binding('stream_wrap'), which Node 20 allows without a warning). */
const binding: Binding | undefined = (() => {
  try {
    const b = (process as unknown as { binding(name: string): Partial<Binding> }).binding('stream_wrap');
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array)) return undefined;
    if (typeof b.kLastWriteWasAsync !== 'number') return undefined;
    return b as Binding;
  } catch {
    return undefined;
  }
})();

/** The error socket.write would have given: its code (EPIPE, ECONNRESET, …) named from libuv's number. */
function writeError(status: number): Error {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = 'EIO';
  }
  return Object.assign(new Error(`write ${code}`), { errno: status, code, syscall: 'write' });
}

function onWriteComplete(this: WriteReq, status: number): void {
  this.buffer = null;
  const socket = this.socket;
  if (status < 0) {
    socket.destroy(writeError(status));
    return;
  }
  if (this.handle.writeQueueSize === 0) socket.emit('drain');
}

type RawSocket = Socket & {
  _handle: StreamHandle | null;
  connecting: boolean;
  encrypted?: boolean;
};

/** Writes `data` to the socket; false when not all of it reached the kernel at once ('drain' follows). */
export function writeOut(socket: Socket, data: Uint8Array): boolean {
  const s = socket as RawSocket;
  const handle = s._handle;
  if (
    binding === undefined ||
    handle === null ||
    s.connecting ||
    s.destroyed ||
    s.encrypted === true ||
    s.writableLength !== 0 ||
    s.writableCorked !== 0 ||
    s.writableEnded ||
    typeof handle.writeBuffer !== 'function'
  ) {
    return socket.write(data);
  }
  // A request object that no write kept (each one finished at once) serves the next write too.
  const req = spare ?? new binding.WriteWrap();
  spare = undefined;
  req.handle = handle;
  req.oncomplete = onWriteComplete;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.socket = socket;
  const err = handle.writeBuffer(req, data);
  if (err !== 0) {
    socket.destroy(writeError(err));
    return false;
  }
  if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
    spare = req;
    return true;
  }
  // libuv keeps this one (and the bytes) until the write completes.
  req.async = true;
  req.buffer = data;
  return handle.writeQueueSize === 0;
}

let spare: WriteReq | undefined;

/** Whether writeOut can go to the handle on this Node at all (test/engine-writes.test.ts reports it). */
export const handleWrites: boolean = binding !== undefined;
