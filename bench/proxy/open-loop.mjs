// Constant-rate (open-loop) HTTP load generator.
//
// Request i is *scheduled* at t0 + i / rate, independent of how fast earlier requests complete, and its latency
// is measured from that intended send time to the end of the response body. A slow server therefore cannot slow
// the generator down and hide its own slowness (no coordinated omission): requests that cannot be sent on time
// wait in the client's queue and that wait is part of their latency.
//
// Usage: node open-loop.mjs --url http://127.0.0.1:8080/1k [--host svc] [--rate 1000] [--connections 16]
//                           [--duration 10] [--warmup 3] [--expect-bytes 1024] [--client undici|http]
// Prints one JSON object on stdout: counters, scheduler lag and every measured latency in microseconds.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    host: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'expect-bytes': { type: 'string', default: '-1' },
    'timeout-ms': { type: 'string', default: '5000' },
    client: { type: 'string', default: 'undici' },
    timer: { type: 'string', default: 'worker' },
  },
});
if (!values.url) {
  process.stderr.write('open-loop: --url is required\n');
  process.exit(2);
}
const url = new URL(values.url);
const rate = Number(values.rate);
const connections = Number(values.connections);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const expectBytes = Number(values['expect-bytes']);
const timeoutMs = Number(values['timeout-ms']);
const headers = values.host ? { host: values.host } : {};
if (!(rate > 0 && connections > 0 && durationS > 0 && warmupS >= 0)) {
  process.stderr.write('open-loop: rate, connections and duration must be > 0, warmup >= 0\n');
  process.exit(2);
}

// Exit if the benchmark runner goes away, and never run much longer than asked.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(3);
}, 1000).unref();
setTimeout(
  () => {
    process.stderr.write('open-loop: hard deadline reached\n');
    process.exit(4);
  },
  (warmupS + durationS + 30) * 1000,
).unref();

// ---- the client: undici Pool (16 keep-alive connections) or node:http Agent (16 sockets) -------------------
function undiciClient() {
  // undici is a dependency of @trellis/proxy; resolve it from there so the benchmark needs no package of its own.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(path.resolve(here, '../../packages/proxy/package.json'));
  const { Pool } = require('undici');
  const pool = new Pool(url.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return {
    name: 'undici.Pool',
    async send(p) {
      const res = await pool.request({ path: p, method: 'GET', headers });
      const body = await res.body.arrayBuffer();
      return { status: res.statusCode, bytes: body.byteLength };
    },
    connected: () => pool.stats?.connected ?? -1,
    close: () => pool.destroy(),
  };
}

function httpClient() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  return {
    name: 'node:http Agent',
    send(p) {
      return new Promise((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, path: p, method: 'GET', headers, agent, timeout: timeoutMs },
          (res) => {
            let bytes = 0;
            res.on('data', (c) => {
              bytes += c.length;
            });
            res.on('end', () => resolve({ status: res.statusCode, bytes }));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    },
    connected: () =>
      Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length,
    close: () => agent.destroy(),
  };
}

let client;
try {
  client = values.client === 'http' ? httpClient() : undiciClient();
} catch (error) {
  process.stderr.write(`open-loop: undici unavailable (${error.message}); using node:http\n`);
  client = httpClient();
}

const target = url.pathname + url.search;
const counters = { sent: 0, completed: 0, ok: 0, non2xx: 0, badBody: 0, errors: 0, incomplete: 0 };
const errorKinds = {};

// ---- open all connections first, so that the measured part never pays for a TCP handshake ----------------
await Promise.all(
  Array.from({ length: connections }, () =>
    client.send(target).catch((e) => {
      errorKinds[`prewarm: ${e.code ?? e.message}`] =
        (errorKinds[`prewarm: ${e.code ?? e.message}`] ?? 0) + 1;
    }),
  ),
);
const connectedAtStart = client.connected();

// ---- the schedule -------------------------------------------------------------------------------------------
const intervalMs = 1000 / rate;
const warmupCount = Math.round(warmupS * rate);
const measuredCount = Math.round(durationS * rate);
const total = warmupCount + measuredCount;
const latencyUs = new Float64Array(measuredCount).fill(Number.NaN);
const lagUs = new Float64Array(measuredCount);
let next = 0;
let inFlight = 0;
let maxInFlight = 0;
let finish;
const done = new Promise((r) => {
  finish = r;
});
const t0 = performance.now() + 20;
const cpuStart = process.cpuUsage();

function fire(i) {
  const intended = t0 + i * intervalMs;
  const measured = i >= warmupCount;
  const slot = i - warmupCount;
  if (measured) lagUs[slot] = (performance.now() - intended) * 1000;
  counters.sent++;
  inFlight++;
  if (inFlight > maxInFlight) maxInFlight = inFlight;
  client.send(target).then(
    (res) => {
      const end = performance.now();
      inFlight--;
      counters.completed++;
      const good = res.status >= 200 && res.status < 300;
      const bodyOk = expectBytes < 0 || res.bytes === expectBytes;
      if (!good) counters.non2xx++;
      else if (!bodyOk) counters.badBody++;
      else counters.ok++;
      if (measured && good && bodyOk) latencyUs[slot] = (end - intended) * 1000;
      pump();
      if (next >= total && inFlight === 0) finish();
    },
    (error) => {
      inFlight--;
      counters.errors++;
      const kind = error.code ?? error.message;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      pump();
      if (next >= total && inFlight === 0) finish();
    },
  );
}

// Waking up on time. setTimeout has a 1 ms granularity and typically fires 0.5-1 ms late, which would add that
// much to every measured latency. By default a tiny worker thread sleeps with sub-millisecond precision
// (Atomics.wait takes fractional milliseconds) until each intended send time and then wakes the main thread with
// a message; the main thread sends everything that is due. `--timer timeout` uses plain setTimeout instead.
let timer;
let ticker;
function pump() {
  const now = performance.now();
  while (next < total && t0 + next * intervalMs <= now) fire(next++);
  if (ticker || next >= total || timer !== undefined) return;
  const wait = t0 + next * intervalMs - performance.now();
  timer = setTimeout(
    () => {
      timer = undefined;
      pump();
    },
    Math.max(0, Math.floor(wait)),
  );
}
if (values.timer === 'worker') {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { performance } = require('node:perf_hooks');
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const { t0, intervalMs, total, origin } = workerData;
    // performance.now() in a worker counts from the worker's own start: translate the main thread's clock.
    const shift = origin - performance.timeOrigin;
    for (let i = 0; i < total; i++) {
      const wait = t0 + shift + i * intervalMs - performance.now();
      if (wait > 0) Atomics.wait(cell, 0, 0, wait);
      parentPort.postMessage(i);
    }
  `;
  ticker = new Worker(source, {
    eval: true,
    workerData: { t0, intervalMs, total, origin: performance.timeOrigin },
  });
  ticker.on('message', pump);
  ticker.on('error', (e) => {
    process.stderr.write(`open-loop: timer worker failed (${e.message}); using setTimeout\n`);
    ticker = undefined;
    pump();
  });
  ticker.unref();
}
pump();

// Bounded: whatever has not completed timeoutMs after the last scheduled send is counted as incomplete.
const endOfSchedule = t0 + total * intervalMs;
await Promise.race([
  done,
  new Promise((r) => setTimeout(r, Math.max(0, endOfSchedule - performance.now()) + timeoutMs + 1000)),
]);
const cpu = process.cpuUsage(cpuStart);
const elapsedMs = performance.now() - t0;
counters.incomplete = inFlight;
const connectedAtEnd = client.connected();
await Promise.resolve(client.close()).catch(() => {});

const samples = [];
for (const v of latencyUs) if (!Number.isNaN(v)) samples.push(Math.round(v * 10) / 10);
const lags = Array.from(lagUs).sort((a, b) => a - b);
const q = (arr, p) =>
  arr.length ? arr[Math.min(arr.length - 1, Math.ceil((p / 100) * arr.length) - 1)] : null;

process.stdout.write(
  `${JSON.stringify({
    client: client.name,
    url: values.url,
    host: values.host ?? null,
    rate,
    connections,
    durationS,
    warmupS,
    scheduled: total,
    measuredScheduled: measuredCount,
    ...counters,
    errorKinds,
    maxInFlight,
    connectedAtStart,
    connectedAtEnd,
    elapsedS: elapsedMs / 1000,
    generatorCpuPercent: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
    schedulerLagUs: { p50: q(lags, 50), p99: q(lags, 99), max: lags.at(-1) ?? null },
    latencyUs: samples,
  })}\n`,
);
process.exit(0);
