// The socket floor's proxy (bench/proxy/socket-floor.mjs: the end of the head found, Content-Length framing, one
// keep-alive upstream connection per request in flight) on batched I/O instead of Node's sockets: epoll and the
// system calls in C (bench/proxy/batch-io.c), one call into JavaScript per batch of reads. Beside the socket floor
// in the same run, it shows how much of a request's cost is Node's I/O layer rather than the proxy's own work.
// Usage: node batch-floor.mjs --addon FILE.node --port P --upstream-port U     (127.0.0.1 only)
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { bodyLength, closes, headEnd } from './floor-framing.mjs';

const { values } = parseArgs({
  options: { addon: { type: 'string' }, port: { type: 'string' }, 'upstream-port': { type: 'string' } },
});
const io = createRequire(import.meta.url)(values.addon);
const upstreamPort = Number(values['upstream-port']);

const ACCEPT = 1;
const CLOSE = 3;

/** fd → a client ({ pending, busy }) or an upstream connection ({ client, answer }). */
const connections = new Map();
const idle = [];
let shared;
let writes = 0;
let written = 0;

function send(fd, data) {
  data.copy(shared.output, written);
  const at = writes++ * 4;
  shared.outputRecords[at + 1] = fd;
  shared.outputRecords[at + 2] = written;
  shared.outputRecords[at + 3] = data.length;
  written += data.length;
}

function upstream() {
  const kept = idle.pop();
  if (kept !== undefined) return kept;
  const fd = io.connect(upstreamPort);
  connections.set(fd, { client: -1, answer: null });
  return fd;
}

function next(fd, client) {
  if (client.busy) return;
  const h = headEnd(client.pending);
  if (h < 0) return;
  const total = h + bodyLength(client.pending.subarray(0, h));
  if (client.pending.length < total) return;
  const request = client.pending.subarray(0, total);
  client.pending = client.pending.subarray(total);
  client.busy = true;
  const up = upstream();
  const u = connections.get(up);
  u.client = fd;
  u.answer = Buffer.alloc(0);
  send(up, request);
}

function batch(count) {
  const records = shared.inputRecords;
  writes = 0;
  written = 0;
  for (let i = 0; i < count; i++) {
    const kind = records[i * 4];
    const fd = records[i * 4 + 1];
    if (kind === ACCEPT) {
      connections.set(fd, { pending: Buffer.alloc(0), busy: false });
      continue;
    }
    const c = connections.get(fd);
    if (kind === CLOSE) {
      connections.delete(fd);
      const kept = idle.indexOf(fd);
      if (kept >= 0) idle.splice(kept, 1);
      continue;
    }
    if (c === undefined) continue;
    const at = records[i * 4 + 2];
    const chunk = Buffer.from(shared.input.subarray(at, at + records[i * 4 + 3]));
    if (c.answer === undefined) {
      c.pending = c.pending.length ? Buffer.concat([c.pending, chunk]) : chunk;
      next(fd, c);
      continue;
    }
    c.answer = c.answer.length ? Buffer.concat([c.answer, chunk]) : chunk;
    const ah = headEnd(c.answer);
    if (ah < 0) continue;
    const n = ah + bodyLength(c.answer.subarray(0, ah));
    if (c.answer.length < n) continue;
    const client = connections.get(c.client);
    // An upstream that said Connection: close is closing: its CLOSE record follows, and it is not used again.
    if (!closes(c.answer.subarray(0, ah))) idle.push(fd);
    if (client === undefined) continue;
    send(c.client, c.answer.subarray(0, n));
    client.busy = false;
    next(c.client, client);
  }
  shared.control[0] = writes;
}

const raw = io.open(Number(values.port), batch);
shared = {
  input: Buffer.from(raw.input),
  output: Buffer.from(raw.output),
  inputRecords: new Int32Array(raw.inputRecords),
  outputRecords: new Int32Array(raw.outputRecords),
  control: new Int32Array(raw.control),
};
