// Resident memory of an idle sidecar as the demo runs it: joined to a control plane, its snapshot applied, its
// workload certificate issued, one request carried through each listener, then left alone to settle. The
// control plane is a stub speaking the real stream protocol (hello → snapshot → ack, csr → certificate) with a
// slice shaped like the demo's seeded mesh (packages/demo, apps/control/src/seed.ts), so the proxy does all the
// work a joined sidecar does (schema validation, snapshot build, CSR with a fresh key, mTLS contexts) without
// Postgres and the control plane on the machine. Also a bare `node` idling, read the same way: the floor.
//
// Run with tsx (the CA comes from the proxy's test support):
//   node_modules/.bin/tsx bench/proxy/idle-rss.mjs [--proxy-bin FILE] [--samples 3] [--settle-ms 30000]
//       [--node-flags=--a,--b] [--env A=1,B=2]   (node flags and environment for both processes / the sidecar)
//       [--timeline]   (RSS every 10 ms from the start, with the control-plane messages and log lines, in `timeline`)
//       [--heap-snapshot-wait-ms N]   (with --node-flags=--heapsnapshot-signal=SIGUSR2: a heap snapshot once settled)
// Prints one JSON line: {floor, sidecar: {rss, hwm, anon, file, heap, afterScrape…}, samples…}.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { makeRoot, sign } from '../../packages/proxy/test/support/ca.ts';
import { spiffeId } from '../../packages/schema/src/identity.ts';
import { get } from './procs.mjs';

const EARLY_MS = 5000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const TRUST_DOMAIN = 'trellis.local';

const { values } = parseArgs({
  options: {
    'proxy-bin': { type: 'string', default: path.join(ROOT, 'packages/proxy/bin/trellis-proxy.mjs') },
    'node-flags': { type: 'string', default: '' },
    'settle-ms': { type: 'string', default: '30000' },
    samples: { type: 'string', default: '3' },
    timeline: { type: 'boolean', default: false },
    env: { type: 'string', default: '' },
    'heap-snapshot-wait-ms': { type: 'string', default: '0' },
  },
});
const nodeFlags = values['node-flags'].split(',').filter(Boolean);
/** Extra environment for the sidecar (--env 'A=1,B=2'), to try malloc and libuv settings. */
const childEnv = Object.fromEntries(
  values.env
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=')),
);
const settleMs = Number(values['settle-ms']);
const samples = Number(values.samples);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** VmRSS, VmHWM, RssAnon, RssFile of a process, in bytes. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function until(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// The bare process reports its V8 heap with process.memoryUsage() into a file: node:v8, or a pipe for stdout,
// would load modules of their own and raise the floor.
const FLOOR_SCRIPT = `setInterval(() => {}, 1000);
setTimeout(() => {
  const { heapTotal, heapUsed } = process.memoryUsage();
  require('node:fs').writeFileSync(process.argv[2], JSON.stringify({ total: heapTotal, used: heapUsed }));
}, Number(process.argv[1]));`;

/** A bare node process idling: what any Node 20 process costs on this machine, and its V8 heap. */
async function floor() {
  const report = path.join(os.tmpdir(), `trellis-idle-floor-${process.pid}-${Date.now()}.json`);
  const child = spawn(
    process.execPath,
    [...nodeFlags, '-e', FLOOR_SCRIPT, String(Math.min(settleMs, 2000)), report],
    { stdio: 'ignore' },
  );
  children.add(child);
  try {
    await until('the bare node process to report', async () => fs.existsSync(report));
    await sleep(50);
    const m = memoryOf(child.pid);
    return { ...m, heap: JSON.parse(fs.readFileSync(report, 'utf8')) };
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
    fs.rmSync(report, { force: true });
  }
}

/** The demo's seeded mesh, as the control plane sends it to service-b's sidecar. */
function slice(self) {
  const endpoint = (service, port, version, zone, source = 'proxy') => ({
    service,
    address: '127.0.0.1',
    port,
    labels: { version },
    weight: 1,
    zone,
    health: 'healthy',
    source,
  });
  return {
    services: [
      { name: 'ingress', port: 8080, labels: { tier: 'edge' }, dependencies: ['service-a'] },
      { name: 'service-a', port: 8080, labels: { tier: 'frontend' }, dependencies: ['service-b'] },
      { name: 'service-b', port: 8080, labels: { tier: 'backend' }, dependencies: ['service-c'] },
      { name: 'service-c', port: 8080, labels: { tier: 'data' }, dependencies: [] },
    ],
    endpoints: [
      endpoint('service-b', self.inbound, 'v1', 'zone-1'),
      endpoint('service-b', self.inbound, 'v2', 'zone-2'),
      // The callee's instances are plain apps here (no sidecars in front of them): reached without TLS.
      ...self.callee.map((port, i) => endpoint('service-c', port, 'v1', `zone-${(i % 2) + 1}`, 'static')),
    ],
    routes: [
      {
        name: 'service-b-canary',
        service: 'service-b',
        destinations: [
          { subset: { version: 'v1' }, weight: 90 },
          { subset: { version: 'v2' }, weight: 10 },
        ],
        timeoutMs: 2000,
        retries: {
          attempts: 2,
          perTryTimeoutMs: 500,
          retryOn: ['connect-failure', 'reset', 'gateway-error'],
        },
      },
      {
        name: 'service-c-retries',
        service: 'service-c',
        destinations: [{ subset: {}, weight: 100 }],
        timeoutMs: 1500,
        retries: { attempts: 2, perTryTimeoutMs: 400, retryOn: ['5xx', 'connect-failure', 'reset'] },
      },
    ],
    policies: [
      {
        name: 'service-c-defaults',
        service: 'service-c',
        loadBalancer: { type: 'least_request' },
        connectionPool: { maxConnections: 100, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 50 },
        outlierDetection: {
          consecutive5xx: 3,
          baseEjectionTimeMs: 10_000,
          maxEjectionTimeMs: 60_000,
          maxEjectionPercent: 67,
        },
        panicThresholdPercent: 25,
      },
    ],
    authorizationPolicies: [],
    mtls: { mode: 'permissive' },
  };
}

/** One sidecar of service-b joined to a stub control plane; resolves with its memory once settled. */
async function sidecar(root) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-idle-rss-'));
  const app = http.createServer((req, res) => {
    req.resume();
    res.end('ok\n');
  });
  const appPort = await listen(app);
  const callee = [0, 1, 2].map(() =>
    http.createServer((req, res) => {
      req.resume();
      res.end('ok\n');
    }),
  );
  const ports = { app: appPort, inbound: 0, callee: await Promise.all(callee.map(listen)) };
  const state = { acked: false, certified: false, errors: [] };
  const cp = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => cp.once('listening', resolve));
  cp.on('connection', (socket) => {
    socket.on('message', async (data) => {
      const message = JSON.parse(`${data}`);
      if (message.type === 'hello') {
        ports.inbound = message.node.port;
        socket.send(
          JSON.stringify({ type: 'snapshot', revision: 7, nonce: 'n7', mesh: 'bench', slice: slice(ports) }),
        );
        mark('hello');
      } else if (message.type === 'ack') {
        state.acked = true;
        mark('ack');
      } else if (message.type === 'nack') state.errors.push(message.error);
      else if (message.type === 'csr') {
        mark('csr');
        const chain = [await sign(root, message.csr, spiffeId(TRUST_DOMAIN, 'service-b'))];
        socket.send(
          JSON.stringify({
            type: 'certificate',
            id: message.id,
            chain,
            roots: [root.pem],
            expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          }),
        );
        state.certified = true;
      }
    });
  });
  const config = {
    node: { service: 'service-b', instance: 'b-v1-1', zone: 'zone-1', labels: { version: 'v1' } },
    listeners: [
      { name: 'inbound', mode: 'inbound', port: 0, upstream: { port: appPort } },
      { name: 'outbound', mode: 'outbound', port: 0 },
    ],
  };
  fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'join-token'), 'bench-join-token\n', { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      values['proxy-bin'],
      '--config',
      path.join(dir, 'proxy.json'),
      '--admin-port',
      '0',
      '--control-plane',
      `ws://127.0.0.1:${cp.address().port}/api/v1/stream/proxy`,
      '--join-token-file',
      path.join(dir, 'join-token'),
      '--state-dir',
      path.join(dir, 'state'),
      '--log-level',
      'info',
      '--drain-timeout-ms',
      '2000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...childEnv } },
  );
  children.add(child);
  const t0 = Date.now();
  const timeline = [];
  const logs = [];
  let admin;
  let outbound;
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      logs.push(line);
      if (values.timeline) timeline.push({ ms: Date.now() - t0, event: line.slice(0, 160) });
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'trellis-proxy is up') {
          admin = entry.admin;
          outbound = Number(/outbound \(outbound\) [^ ]+:(\d+)/.exec(entry.listeners.join(' '))?.[1]);
        }
      } catch {}
    }
  });
  child.stderr.on('data', (chunk) => logs.push(`${chunk}`));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const mark = (event) => timeline.push({ ms: Date.now() - t0, event });
  const sampler = values.timeline
    ? setInterval(() => {
        try {
          const m = memoryOf(child.pid);
          timeline.push({ ms: Date.now() - t0, rss: m.rss, hwm: m.hwm });
        } catch {}
      }, 10)
    : undefined;
  try {
    await until('the sidecar to join, apply its snapshot and hold a certificate', async () => {
      if (child.exitCode !== null) throw new Error(`the sidecar exited:\n${logs.join('\n')}`);
      if (state.errors.length) throw new Error(`the sidecar refused its snapshot: ${state.errors[0]}`);
      if (!(admin && state.acked && state.certified)) return false;
      const certs = await fetch(`${admin}/certs`).then((r) => r.json());
      return certs.certificate !== null;
    });
    const inbound = await get(ports.inbound, '/', 'service-b', 5000);
    const viaOutbound = await get(outbound, '/', 'service-c', 5000);
    if (inbound.status !== 200 || viaOutbound.status !== 200)
      throw new Error(`requests through the sidecar answered ${inbound.status} and ${viaOutbound.status}`);
    mark('requests done');
    // Also read 5 s in: the proxy keeps the schemas it validated with for 3 s after the last config
    // (packages/proxy/scripts/build.mjs), and V8 gives the pages back at its next memory-reducing collection.
    const early = Math.min(EARLY_MS, settleMs);
    await sleep(early);
    const atEarly = memoryOf(child.pid);
    await sleep(settleMs - early);
    if (Number(values['heap-snapshot-wait-ms']) > 0) {
      // Node writes a heap snapshot on this signal when started with --heapsnapshot-signal=SIGUSR2.
      process.kill(child.pid, 'SIGUSR2');
      await sleep(Number(values['heap-snapshot-wait-ms']));
    }
    clearInterval(sampler);
    const memory = memoryOf(child.pid);
    // Read after the RSS: rendering /metrics (and prom-client, if loaded on demand) costs memory of its own.
    const metrics = await fetch(`${admin}/metrics`).then((r) => r.text());
    const gauge = (name, space) => {
      const re = new RegExp(`^${name}\\{space="${space}"\\} (\\S+)`, 'm');
      return Number(re.exec(metrics)?.[1] ?? Number.NaN);
    };
    const heap = {};
    for (const space of [
      'new',
      'old',
      'code',
      'map',
      'large_object',
      'code_large_object',
      'new_large_object',
      'read_only',
      'shared',
      'shared_large_object',
    ]) {
      const size = gauge('nodejs_heap_space_size_total_bytes', space);
      if (Number.isFinite(size))
        heap[space] = { size, used: gauge('nodejs_heap_space_size_used_bytes', space) };
    }
    const external = Number(/^nodejs_external_memory_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
    return {
      ...memory,
      heap,
      external,
      afterScrape: memoryOf(child.pid),
      early: { ms: early, ...atEarly },
      ...(values.timeline ? { timeline } : {}),
    };
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    children.delete(child);
    for (const c of cp.clients) c.terminate();
    cp.close();
    app.close();
    for (const c of callee) c.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const root = await makeRoot();
const floors = [];
const sidecars = [];
for (let i = 0; i < samples; i++) {
  floors.push(await floor());
  sidecars.push(await sidecar(root));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pick = (list) => list.find((m) => m.rss === median(list.map((x) => x.rss)));
process.stdout.write(
  `${JSON.stringify({
    nodeFlags,
    proxyBin: path.relative(ROOT, values['proxy-bin']),
    settleMs,
    floor: pick(floors),
    sidecar: pick(sidecars),
    samples: { floorRss: floors.map((f) => f.rss), sidecarRss: sidecars.map((s) => s.rss) },
  })}\n`,
);
process.exit(0);
