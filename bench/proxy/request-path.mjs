// Trellis's own request path with no sockets: what a request costs the proxy's JavaScript (parsing, routing, the
// stages, telemetry, serializing), apart from Node's I/O layer. Requests are pushed into a listener's connection
// over a stand-in socket; the upstream pool answers each from canned bytes through the real response parser, as
// its connection's read would. The file bundles itself from the source first, as the proxy is bundled, and runs
// the bundle:
//   node bench/proxy/request-path.mjs [--requests 200000] [--rounds 5] [--config FILE]
// (--node-args "--cpu-prof --cpu-prof-dir=DIR", given first, passes node flags to the bundled run, to profile it.)
// The config is a proxy config file whose first listener is the one driven (default: one outbound listener to one
// endpoint of service `svc`). Prints microseconds of CPU per request for each round. The code runs hot in cache
// here; in the proxy, between the kernel's work, the same code costs two to three times as much.
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BUNDLED = 'TRELLIS_REQUEST_PATH_BUNDLED';
if (process.env[BUNDLED] !== '1') {
  const { bundleNode } = await import('../../scripts/bundle.mjs');
  const dir = await import('node:fs').then((fs) =>
    fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-request-path-')),
  );
  const outfile = path.join(dir, 'request-path.mjs');
  await bundleNode({ entryPoints: [fileURLToPath(import.meta.url)], outfile, sourcemap: false });
  const args = process.argv.slice(2);
  const nodeArgs = args[0] === '--node-args' ? args.splice(0, 2)[1].split(' ') : [];
  const run = spawnSync(process.execPath, [...nodeArgs, outfile, ...args], {
    stdio: 'inherit',
    env: { ...process.env, [BUNDLED]: '1' },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(run.status ?? 1);
}

// Only the bundle gets here; esbuild has put these modules in it.
const { UpstreamPool } = await import('../../packages/proxy/src/engine/upstream.ts');
const { Fields } = await import('../../packages/proxy/src/http1/fields.ts');
const { ResponseParser } = await import('../../packages/proxy/src/http1/parser.ts');
const { createProxy } = await import('../../packages/proxy/src/proxy.ts');

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    config: { type: 'string' },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const config = values.config
  ? JSON.parse(fs.readFileSync(values.config, 'utf8'))
  : {
      node: { service: 'bench-client', instance: 'bench' },
      listeners: [{ name: 'out', mode: 'outbound', address: '127.0.0.1', port: 0 }],
      services: [{ name: 'svc', port: 80 }],
      endpoints: [{ service: 'svc', address: '127.0.0.1', port: 9, source: 'static' }],
    };
config.listeners[0].port = 0;

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: svc\r\nUser-Agent: wrk\r\n\r\n', 'latin1');
const ANSWER = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\ndate: Mon, 07 Dec 2026 23:00:00 GMT\r\n' +
    'connection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\nhello world\n',
  'latin1',
);

// The pool's send: the request is "written"; its answer comes when the loop below delivers it, as a read would.
const waiting = [];
UpstreamPool.prototype.send = function send(_request, _signal, to) {
  waiting.push(to);
};
let head;
let body;
const parser = new ResponseParser(
  { maxHeadBytes: 65536, maxHeaders: 200, maxStartLineBytes: 8192 },
  {
    onHead: (h) => {
      head = h;
    },
    onBody: (chunk) => {
      body = Buffer.from(chunk);
    },
    onTrailers() {},
    onComplete() {},
    onError: (error) => {
      throw error;
    },
  },
);
function answer(to) {
  parser.expect('GET');
  parser.execute(ANSWER);
  to.resolve({
    status: head.status,
    reason: head.reason,
    fields: Fields.from(head),
    body,
    declaredLength: 12,
  });
}

/** Enough of a net.Socket for a listener's connection: no handle, so it reads 'data' events and writes here. */
class StandInSocket extends EventEmitter {
  _handle = null;
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  writableLength = 0;
  writableCorked = 0;
  destroyed = false;
  writable = true;
  written = 0;
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
  setTimeout() {
    return this;
  }
  cork() {}
  uncork() {}
  pause() {
    return this;
  }
  resume() {
    return this;
  }
  isPaused() {
    return false;
  }
  write(data) {
    this.written += data.length;
    return true;
  }
  end() {
    return this;
  }
  destroy() {
    this.destroyed = true;
    return this;
  }
}

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child: () => quiet };
const proxy = await createProxy(config, { logger: quiet });
const socket = new StandInSocket();
const [listener] = proxy.listeners.values();
listener.server.emit('connection', socket);

function run(n) {
  for (let i = 0; i < n; i++) {
    socket.emit('data', REQUEST);
    while (waiting.length > 0) answer(waiting.pop());
  }
}
run(20_000);
const expected = socket.written;
if (expected === 0) throw new Error('the listener answered nothing');
for (let round = 0; round < ROUNDS; round++) {
  const before = process.cpuUsage();
  run(REQUESTS);
  const used = process.cpuUsage(before);
  console.log(
    `round ${round + 1}: ${(used.user / REQUESTS).toFixed(2)} µs user, ${(used.system / REQUESTS).toFixed(2)} µs system per request`,
  );
}
await proxy.close();
process.exit(0);
