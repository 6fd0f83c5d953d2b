// The floor of a Node proxy on raw sockets, read and written as Trellis's engine does (its handles' reads into one
// shared buffer, writes straight to the handle), with nothing else: the end of the head found, Content-Length
// framing only, one keep-alive upstream connection per request in flight. No parsing beyond that, no limits, no
// errors handled, no header changed. Measured beside Trellis, it is the least CPU a request can cost a Node process
// on this machine (libuv, V8's calls into JS, the system calls), so it tells how much of Trellis's cost is its own.
// Usage: node socket-floor.mjs --port P --upstream-port U     (127.0.0.1 only)
import net from 'node:net';
import { parseArgs } from 'node:util';
import { bodyLength, closes, headEnd } from './floor-framing.mjs';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'upstream-port': { type: 'string' } } });
const upstreamPort = Number(values['upstream-port']);
const { WriteWrap, streamBaseState, kLastWriteWasAsync } = process.binding('stream_wrap');

// net's keys for an `onread` socket's buffer and callback, read off a socket made with that option.
const probeBuffer = Buffer.alloc(1);
const probeCallback = () => true;
const probe = new net.Socket({ onread: { buffer: probeBuffer, callback: probeCallback } });
const keys = {};
for (const key of Object.getOwnPropertySymbols(probe)) {
  if (probe[key] === probeBuffer) keys.buffer = key;
  if (probe[key] === probeCallback) keys.callback = key;
}
probe.destroy();

const SHARED = Buffer.allocUnsafe(64 * 1024);
function readInto(socket, onChunk) {
  socket[keys.buffer] = SHARED;
  socket[keys.callback] = (n, buf) => {
    onChunk(Buffer.from(buf.subarray(0, n)));
    return true;
  };
  socket._handle.useUserBuffer(SHARED);
}

function onWritten() {
  this.buffer = null;
}
function write(socket, data) {
  if (socket._handle === null) return; // the client went away (wrk closes its connections between runs)
  const req = new WriteWrap();
  req.handle = socket._handle;
  req.oncomplete = onWritten;
  req.async = false;
  req.buffer = null;
  socket._handle.writeBuffer(req, data);
  if (streamBaseState[kLastWriteWasAsync] !== 0) req.buffer = data;
}

const idle = [];
function upstream() {
  const kept = idle.pop();
  if (kept) return kept;
  const socket = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
  socket.onAnswer = null;
  socket.once('connect', () => readInto(socket, (chunk) => socket.onAnswer(chunk)));
  socket.on('error', () => {});
  // An upstream that closed (a request that said Connection: close) is not used again.
  socket.on('close', () => {
    const i = idle.indexOf(socket);
    if (i >= 0) idle.splice(i, 1);
  });
  return socket;
}

net
  .createServer({ noDelay: true }, (client) => {
    let pending = Buffer.alloc(0);
    let busy = false;
    const next = () => {
      if (busy) return;
      const h = headEnd(pending);
      if (h < 0) return;
      const total = h + bodyLength(pending.subarray(0, h));
      if (pending.length < total) return;
      const request = pending.subarray(0, total);
      pending = pending.subarray(total);
      busy = true;
      const up = upstream();
      let answer = Buffer.alloc(0);
      up.onAnswer = (chunk) => {
        answer = answer.length ? Buffer.concat([answer, chunk]) : chunk;
        const ah = headEnd(answer);
        if (ah < 0) return;
        const n = ah + bodyLength(answer.subarray(0, ah));
        if (answer.length < n) return;
        up.onAnswer = null;
        write(client, answer.subarray(0, n));
        if (!up.destroyed && !closes(answer.subarray(0, ah))) idle.push(up);
        busy = false;
        next();
      };
      if (up.connecting) up.once('connect', () => write(up, request));
      else write(up, request);
    };
    readInto(client, (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      next();
    });
    client.on('error', () => {});
  })
  .listen(Number(values.port), '127.0.0.1');
