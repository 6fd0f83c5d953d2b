// The control-plane benchmark: `npm run bench:control` (see bench/control/README.md).
//
// For each scale (number of simulated proxies), against ONE control-plane process (`tsx apps/control/src/main.ts`,
// a child process) on a fresh database of an embedded Postgres started for the run:
//   1. creates a mesh through the REST API (services with declared dependencies, a route rule and a policy on the
//      service every other one depends on),
//   2. connects N simulated proxies (bench/control/clients.mjs, spread over worker processes): WebSocket clients
//      that say hello and ack every snapshot / endpoints message, nothing more,
//   3. measures: control-plane RSS per connected proxy; time from a committed REST change to its ACK by every
//      proxy (p50 / p99 / max, measured at the clients and cross-checked with GET /api/v1/proxies convergenceMs),
//      and the bytes each change puts on the wire; telemetry frames ingested per second; recovery from a reconnect
//      storm (every client drops at once and reconnects at once).
// Every phase has a time limit; a phase that runs out is reported as a MISS with what it got.
// Writes bench/results/control-latest.{md,json}.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import WebSocket from 'ws';
import {
  busyPercent,
  descendants,
  freePorts,
  killAllNow,
  machineCpu,
  otherCores,
  selfAndChildrenCpuSeconds,
  sleep,
  start,
  stop,
  stopAll,
} from '../proxy/procs.mjs';
import { commandLine, writeReport } from '../report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const RESULTS = path.join(ROOT, 'bench/results');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const CLIENTS = path.join(HERE, 'clients.mjs');
const POSTGRES = path.join(HERE, 'postgres.mjs');
const JOIN_TOKEN = 'trellis-bench-join-token';
const ADMIN_TOKEN = 'trellis-bench-admin-token-0123456789abcdef';
/** The LISTEN/NOTIFY channel each committed revision is announced on (apps/control/src/store/change.ts). */
const REVISION_CHANNEL = 'trellis_revision';
const FD_LIMIT = 65536;

// ---- settings: flags override env, env overrides defaults (quick mode changes the defaults) -------------------
const { values: flags } = parseArgs({
  options: {
    scales: { type: 'string' },
    changes: { type: 'string' },
    services: { type: 'string' },
    dependencies: { type: 'string' },
    'telemetry-rate': { type: 'string' },
    'telemetry-seconds': { type: 'string' },
    'telemetry-edges': { type: 'string' },
    storm: { type: 'string' },
    'accept-rate': { type: 'string' },
    workers: { type: 'string' },
    'connect-concurrency': { type: 'string' },
    'change-interval-ms': { type: 'string' },
    'connect-timeout': { type: 'string' },
    'change-timeout': { type: 'string' },
    'storm-timeout': { type: 'string' },
    quick: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(`usage: npm run bench:control -- [--quick] [--scales 1000,5000,10000] [--changes 5] [--services 100]
                               [--dependencies 3] [--telemetry-rate 1] [--telemetry-seconds 10]
                               [--telemetry-edges 4] [--storm warm|cold|warm,cold|none] [--accept-rate 5000]
                               [--workers 2] [--connect-concurrency 256] [--change-interval-ms 1000]
                               [--connect-timeout <s>] [--change-timeout 30] [--storm-timeout <s>]
env: BENCH_QUICK=1 BENCH_SCALES BENCH_CHANGES BENCH_SERVICES BENCH_DEPENDENCIES BENCH_TELEMETRY_RATE
     BENCH_TELEMETRY_SECONDS BENCH_TELEMETRY_EDGES BENCH_STORM BENCH_ACCEPT_RATE BENCH_CLIENT_WORKERS
     BENCH_CONNECT_CONCURRENCY BENCH_CHANGE_INTERVAL_MS BENCH_CONNECT_TIMEOUT_S BENCH_CHANGE_TIMEOUT_S
     BENCH_STORM_TIMEOUT_S   (see bench/control/README.md)
`);
  process.exit(0);
}
const fromEnv = (name) => process.env[name];
const fail = (msg) => {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
};
function setting(flag, env, fallback, check) {
  const raw = flags[flag] ?? fromEnv(env);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!check(n)) fail(`bad value for --${flag} / ${env}: "${raw}"`);
  return n;
}
const int = (lo, hi) => (n) => Number.isInteger(n) && n >= lo && n <= hi;
const QUICK = Boolean(flags.quick) || fromEnv('BENCH_QUICK') === '1';
const S = { quick: QUICK };
{
  const raw = flags.scales ?? fromEnv('BENCH_SCALES') ?? (QUICK ? '200' : '1000,5000,10000');
  S.scales = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!S.scales.length || S.scales.some((n) => !Number.isInteger(n) || n < 1 || n > 60_000))
    fail(`BENCH_SCALES / --scales must be a list of proxy counts from 1 to 60000, got "${raw}"`);
}
S.changes = setting('changes', 'BENCH_CHANGES', QUICK ? 3 : 5, int(1, 100));
S.services = setting('services', 'BENCH_SERVICES', 100, int(1, 1000));
S.dependencies = setting('dependencies', 'BENCH_DEPENDENCIES', 3, int(0, 50));
S.telemetryRate = setting(
  'telemetry-rate',
  'BENCH_TELEMETRY_RATE',
  1,
  (n) => Number.isFinite(n) && n >= 0 && n <= 100,
);
S.telemetrySeconds = setting('telemetry-seconds', 'BENCH_TELEMETRY_SECONDS', QUICK ? 5 : 10, int(0, 600));
S.telemetryEdges = setting('telemetry-edges', 'BENCH_TELEMETRY_EDGES', 4, int(1, 64));
S.storms = (flags.storm ?? fromEnv('BENCH_STORM') ?? 'warm')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s && s !== 'none');
for (const s of S.storms) if (s !== 'warm' && s !== 'cold') fail(`BENCH_STORM: unknown storm "${s}"`);
S.acceptRate = setting('accept-rate', 'BENCH_ACCEPT_RATE', 5000, int(1, 1_000_000));
S.workers = setting(
  'workers',
  'BENCH_CLIENT_WORKERS',
  Math.max(1, Math.min(2, os.cpus().length)),
  int(1, 16),
);
S.connectConcurrency = setting('connect-concurrency', 'BENCH_CONNECT_CONCURRENCY', 256, int(1, 100_000));
S.changeIntervalMs = setting('change-interval-ms', 'BENCH_CHANGE_INTERVAL_MS', 1000, int(0, 60_000));
S.connectTimeoutS = setting('connect-timeout', 'BENCH_CONNECT_TIMEOUT_S', null, int(1, 7200));
S.changeTimeoutS = setting('change-timeout', 'BENCH_CHANGE_TIMEOUT_S', 30, int(1, 3600));
S.stormTimeoutS = setting('storm-timeout', 'BENCH_STORM_TIMEOUT_S', null, int(1, 7200));
S.proxyPort = 15006;
const connectTimeoutS = (n) => S.connectTimeoutS ?? Math.round(60 + 0.04 * n);
const stormTimeoutS = (n) => S.stormTimeoutS ?? Math.round(60 + 0.02 * n);
/** The control plane's environment, besides DATABASE_URL and the port. */
const CONTROL_ENV = {
  TRELLIS_SEED: 'false',
  TRELLIS_LOG_LEVEL: 'warn',
  TRELLIS_PROXY_ACCEPT_RATE: String(S.acceptRate),
  TRELLIS_JOIN_TOKEN: JOIN_TOKEN,
  // The simulated proxies join over the API's own loopback port; the proxy stream's TLS port is not used.
  TRELLIS_PROXY_STREAM_PORT: '0',
  // The API needs credentials: a static admin token for the benchmark's calls, and a known first-run password so
  // that none is generated into the repo's data folder.
  TRELLIS_ADMIN_TOKEN: ADMIN_TOKEN,
  TRELLIS_ADMIN_PASSWORD: 'bench-admin-password',
};

const TARGETS = {
  changeP99: { text: 'p99 change → ACK under 1 s at 10,000 proxies', scale: 10_000, limitMs: 1000 },
  memory: { text: 'under 100 KB (KiB) of control-plane memory per connected proxy', limitBytes: 100 * 1024 },
};

const log = (msg = '') => process.stderr.write(`${msg}\n`);
const notes = [];
const note = (msg) => {
  notes.push(msg);
  log(`note: ${msg}`);
};

// ---- cleanup: every child dies with us ------------------------------------------------------------------------
let shuttingDown = false;
async function shutdown(code, message) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (message) log(message);
  await stopAll(5000).catch(() => {});
  if (pgDataDir) fs.rmSync(pgDataDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => shutdown(130, '\ninterrupted: stopping every child process…'));
process.on('SIGTERM', () => shutdown(143, 'terminated: stopping every child process…'));
process.on('SIGHUP', () => shutdown(129, 'hang-up: stopping every child process…'));
process.on('uncaughtException', (e) => shutdown(1, `bench failed: ${e?.stack ?? e}`));
process.on('unhandledRejection', (e) => shutdown(1, `bench failed: ${e?.stack ?? e}`));
process.on('exit', () => killAllNow());

// ---- small helpers ------------------------------------------------------------------------------------------------
const now = () => Date.now();

/** Nearest-rank percentile of a sorted array. */
function percentile(sorted, p) {
  if (!sorted.length) return null;
  if (p <= 0) return sorted[0];
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
function stats(values) {
  const s = Float64Array.from(values.filter((v) => v !== null && Number.isFinite(v))).sort();
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : null,
    min: s.length ? s[0] : null,
  };
}
const rssBytes = (pid, field = 'VmRSS') => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
};
let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {}
/**
 * CPU seconds of pid and its descendants, including children that have exited and been reaped (cutime/cstime:
 * Postgres backends come and go), so the figure never goes backwards.
 */
function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {}
  }
  return ticks / CLK_TCK;
}
const softFdLimit = () => {
  try {
    return Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
};
/** A shell prefix that raises the soft limit on open files for the command it runs (to the hard limit at most). */
const withFdLimit = (command) =>
  `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; echo "fd-limit $(ulimit -n)" >&2; exec ${command}`;

/** fetch with a time limit; JSON body parsed when there is one. */
async function api(base, method, pathname, body, timeoutMs = 30_000) {
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, headers: res.headers, json, text, at: now() };
}
async function apiOk(base, method, pathname, body, timeoutMs) {
  const r = await api(base, method, pathname, body, timeoutMs);
  if (r.status < 200 || r.status >= 300)
    throw new Error(`${method} ${pathname} answered ${r.status}: ${r.text.slice(0, 400)}`);
  return r;
}

function gitInfo() {
  const git = (...args) => {
    try {
      return execFileSync('git', args, {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'apps/control', 'packages/schema', 'prisma');
  return {
    commit: git('rev-parse', 'HEAD'),
    controlSourceDirty: dirty === null ? null : dirty.length > 0,
    dirtyFiles: dirty ? dirty.split('\n').map((l) => l.trim()) : [],
  };
}

function machineInfo() {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    availableParallelism: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    fdSoftLimitOfThisShell: softFdLimit(),
    ephemeralPorts: fs.existsSync('/proc/sys/net/ipv4/ip_local_port_range')
      ? fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().replace(/\s+/, '-')
      : null,
    somaxconn: fs.existsSync('/proc/sys/net/core/somaxconn')
      ? Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim())
      : null,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

// ---- processes ------------------------------------------------------------------------------------------------------
/** Waits for a line matching `re` in a tracked process's output (failing early if it exits). */
async function waitForLine(proc, re, timeoutMs) {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    const line = proc.logs.find((l) => re.test(l));
    if (line) return line;
    if (proc.done) break;
    await sleep(50);
  }
  throw new Error(
    `${proc.name} ${proc.done ? 'exited' : `printed nothing matching ${re} within ${timeoutMs} ms`}. Its output:\n  ` +
      `${proc.logs.join('\n  ') || '(none)'}`,
  );
}

async function startPostgres() {
  const [port] = await freePorts(1);
  const p = start('postgres', TSX, [POSTGRES, '--port', String(port)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const line = await waitForLine(p, /^\{"adminUrl"/, 120_000);
  const info = JSON.parse(line);
  pgDataDir = info.dataDir;
  return { proc: p, port, ...info };
}

/** Its temporary folder, removed on exit whatever happens (the helper removes it itself when it can). */
let pgDataDir;

/** Lets the helper stop Postgres and remove its folder (stdin EOF), then makes sure. */
async function stopPostgres(server) {
  server.proc.child.stdin?.end();
  await Promise.race([server.proc.exited, sleep(20_000)]);
  await stop(server.proc, 5000);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

async function createDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

async function dropDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** The control plane as a child: bash (raises the open-files limit) → tsx → node running main.ts. */
async function startControlPlane(databaseUrl) {
  const [port] = await freePorts(1);
  const env = {
    ...process.env,
    ...CONTROL_ENV,
    DATABASE_URL: databaseUrl,
    TRELLIS_CONTROL_PORT: String(port),
    // Only used if the benchmark sends SIGUSR1 (to force a GC through the inspector before reading memory):
    // the inspector then listens on a free port of 127.0.0.1 instead of 9229.
    NODE_OPTIONS: `${fromEnv('NODE_OPTIONS') ?? ''} --inspect-port=0`.trim(),
  };
  const p = start('control-plane', 'bash', ['-c', withFdLimit(`"${TSX}" apps/control/src/main.ts`)], {
    cwd: ROOT,
    env,
  });
  // Tally what it logs (JSON lines, warn and above) by message, for the report.
  p.tally = {};
  /** The first occurrence's error message or reason, per logged message. */
  p.examples = {};
  const onData = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const v = JSON.parse(line);
        const key = `${v.level >= 50 ? 'error' : v.level >= 40 ? 'warn' : `level ${v.level}`}: ${v.msg}`;
        p.tally[key] = (p.tally[key] ?? 0) + 1;
        if (!(key in p.examples)) {
          const why = v.err?.message ?? v.reason ?? v.error;
          p.examples[key] = why === undefined ? null : String(why).replace(/\s+/g, ' ').slice(0, 300);
        }
      } catch {}
    }
  };
  p.child.stdout.on('data', onData);
  p.child.stderr.on('data', onData);
  const base = `http://127.0.0.1:${port}`;
  const deadline = now() + 120_000;
  let last = 'no answer yet';
  for (;;) {
    if (p.done) throw new Error(`the control plane exited during start-up:\n  ${p.logs.join('\n  ')}`);
    if (now() > deadline)
      throw new Error(
        `the control plane was not ready within 120 s (last: ${last}):\n  ${p.logs.join('\n  ')}`,
      );
    try {
      const r = await api(base, 'GET', '/readyz', undefined, 2000);
      if (r.status === 200) break;
      last = `HTTP ${r.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(200);
  }
  // The process that serves: the deepest node descendant of the bash → tsx chain.
  const nodes = [p.pid, ...descendants(p.pid)].filter((pid) => {
    try {
      return /node|tsx/.test(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'));
    } catch {
      return false;
    }
  });
  const serverPid = nodes.at(-1) ?? p.pid;
  const fd = /fd-limit (\d+)/.exec(p.logs.join('\n'))?.[1];
  return { proc: p, port, base, api: `${base}/api/v1`, serverPid, fdLimit: fd ? Number(fd) : null };
}

/**
 * Opens the control plane's inspector (SIGUSR1; Node then listens on the free port NODE_OPTIONS asked for), so that
 * memory can also be read after a full GC. Done right after start-up, before any memory is read, so the
 * inspector's own memory is in every sample.
 */
async function openInspector(cp) {
  try {
    process.kill(cp.serverPid, 'SIGUSR1');
    const line = await waitForLine(cp.proc, /Debugger listening on ws:\/\//, 10_000);
    cp.inspectorUrl = /ws:\/\/\S+/.exec(line)?.[0] ?? null;
  } catch (error) {
    cp.inspectorUrl = null;
    note(
      `could not open the control plane's inspector, memory after GC not measured: ${error.message.split('\n')[0]}`,
    );
  }
}

/** Full GC in the control plane (inspector: HeapProfiler.collectGarbage, twice), then RSS and V8 heap used. */
async function memoryAfterGc(cp) {
  if (!cp.inspectorUrl) return null;
  const ws = new WebSocket(cp.inspectorUrl, { perMessageDeflate: false });
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      setTimeout(() => reject(new Error('inspector: no connection within 10 s')), 10_000).unref();
    });
    let seq = 0;
    const call = (method) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        const timer = setTimeout(() => reject(new Error(`inspector: ${method} timed out`)), 60_000);
        const onMessage = (data) => {
          const m = JSON.parse(data.toString());
          if (m.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          if (m.error) reject(new Error(`inspector: ${method}: ${m.error.message}`));
          else resolve(m.result);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method }));
      });
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const heap = await call('Runtime.getHeapUsage');
    await sleep(500);
    return { rssBytes: rssBytes(cp.serverPid), heapUsedBytes: heap.usedSize, heapTotalBytes: heap.totalSize };
  } catch (error) {
    note(`memory after GC not measured: ${error.message}`);
    return null;
  } finally {
    ws.terminate();
  }
}

/** A worker process of simulated proxies, driven over IPC. */
async function startWorker(k) {
  const p = start(`clients-${k}`, 'bash', ['-c', withFdLimit(`"${process.execPath}" "${CLIENTS}"`)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const pending = new Map();
  let seq = 0;
  let ready;
  const isReady = new Promise((resolve) => {
    ready = resolve;
  });
  p.child.on('message', (m) => {
    if (m?.ready) {
      ready();
      return;
    }
    const waiter = pending.get(m?.id);
    if (!waiter) return;
    pending.delete(m.id);
    clearTimeout(waiter.timer);
    if (m.ok) waiter.resolve(m.result);
    else waiter.reject(new Error(`clients-${k}: ${m.error}`));
  });
  p.exited.then(() => {
    for (const w of pending.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`clients-${k} exited:\n  ${p.logs.join('\n  ')}`));
    }
    pending.clear();
  });
  p.call = (cmd, args = {}, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      if (p.done) {
        reject(new Error(`clients-${k} is not running:\n  ${p.logs.join('\n  ')}`));
        return;
      }
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`clients-${k}: "${cmd}" did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      p.child.send({ id, cmd, args });
    });
  await Promise.race([
    isReady,
    p.exited.then(() => {
      throw new Error(`clients-${k} exited during start-up:\n  ${p.logs.join('\n  ')}`);
    }),
    sleep(30_000).then(() => {
      throw new Error(`clients-${k} did not start within 30 s`);
    }),
  ]);
  return p;
}

// ---- the mesh ---------------------------------------------------------------------------------------------------
const svcName = (s) => `svc-${String(s).padStart(3, '0')}`;

/** What service s calls: the shared svc-000 (so a change there reaches every proxy) and the next few services. */
function dependenciesOf(s, services, count) {
  if (count === 0) return undefined;
  const deps = [];
  if (s !== 0) deps.push(svcName(0));
  for (let k = 1; deps.length < count && k < services; k++) {
    const t = (s + k) % services;
    if (t !== 0 && t !== s) deps.push(svcName(t));
  }
  return deps;
}

/** Identity of simulated proxy i: its own loopback address, so every proxy registers an endpoint of its own. */
function proxyOf(i, services) {
  const s = i % services;
  return {
    i,
    service: s,
    node: {
      service: svcName(s),
      instance: `bench-proxy-${i}`,
      address: `127.1.${Math.floor(i / 250)}.${1 + (i % 250)}`,
      port: S.proxyPort,
      zone: `zone-${i % 3}`,
      labels: { version: i % 10 === 9 ? 'v2' : 'v1' },
    },
  };
}

const canary = (v2) => [
  { subset: { version: 'v1' }, weight: 100 - v2 },
  { subset: { version: 'v2' }, weight: v2 },
];

async function createMesh(base, services) {
  const t0 = now();
  const created = [];
  for (let s = 0; s < services; s++) {
    const r = await apiOk(base, 'POST', '/services', {
      name: svcName(s),
      port: 8080,
      labels: { team: `team-${s % 7}`, tier: s === 0 ? 'shared' : 'app' },
      description: s === 0 ? 'called by every other service' : `benchmark service ${s}`,
    });
    created.push(r.json);
  }
  let dependencies = S.dependencies > 0 ? 'declared' : 'not declared (BENCH_DEPENDENCIES=0)';
  if (S.dependencies > 0) {
    for (let s = 0; s < services; s++) {
      const svc = created[s];
      const deps = dependenciesOf(s, services, S.dependencies);
      const r = await api(base, 'PUT', `/services/${svc.name}`, {
        name: svc.name,
        port: svc.port,
        labels: svc.labels,
        description: svc.description,
        dependencies: deps,
        version: svc.version,
      });
      if (r.status === 400 && /dependencies/.test(r.text)) {
        dependencies =
          'refused by this control plane (no `dependencies` field): every proxy gets the whole mesh';
        note(`the control plane refused service dependencies (${r.text.slice(0, 200)}); continuing without`);
        break;
      }
      if (r.status < 200 || r.status >= 300)
        throw new Error(`PUT /services/${svc.name} answered ${r.status}: ${r.text.slice(0, 400)}`);
      if (s === 0 && !Array.isArray(r.json?.dependencies)) {
        dependencies = 'ignored by this control plane (not echoed back): every proxy gets the whole mesh';
        note('the control plane accepted but did not store service dependencies; continuing without');
        break;
      }
    }
  }
  const route = await apiOk(base, 'POST', '/routes', {
    name: 'bench-canary',
    service: svcName(0),
    destinations: canary(10),
    timeoutMs: 2000,
    retries: { attempts: 2, perTryTimeoutMs: 500, retryOn: ['connect-failure', 'reset', 'gateway-error'] },
  });
  await apiOk(base, 'POST', '/policies', {
    name: 'bench-shared-defaults',
    service: svcName(0),
    loadBalancer: { type: 'least_request' },
    connectionPool: { maxConnections: 256, maxPendingRequests: 256, maxRequests: 512, maxRetries: 3 },
  });
  const revision = Number(route.headers.get('x-trellis-revision'));
  return { seconds: (now() - t0) / 1000, route: route.json, dependencies, revisionAfterRoute: revision };
}

// ---- measurements -----------------------------------------------------------------------------------------------
async function proxiesSummary(apiBase, { since = 0, revision = null } = {}) {
  const t0 = now();
  const r = await apiOk(apiBase, 'GET', '/proxies', undefined, 60_000);
  const items = r.json?.items ?? [];
  const out = {
    fetchedMs: now() - t0,
    bytes: r.text.length,
    items: items.length,
    connected: 0,
    synced: 0,
    syncedSince: 0,
    statuses: {},
    telemetryFrames: 0,
    convergenceMs: [],
    currentRevision: items[0]?.currentRevision ?? null,
  };
  for (const it of items) {
    out.statuses[it.status] = (out.statuses[it.status] ?? 0) + 1;
    out.telemetryFrames += it.telemetry?.frames ?? 0;
    if (it.disconnectedAt !== null) continue;
    out.connected += 1;
    if (it.status === 'SYNCED') {
      out.synced += 1;
      if (Date.parse(it.connectedAt) >= since) out.syncedSince += 1;
    }
    if (revision !== null && it.ackedRevision === revision && it.convergenceMs !== null)
      out.convergenceMs.push(it.convergenceMs);
  }
  return out;
}

async function latestRevision(apiBase) {
  const r = await apiOk(apiBase, 'GET', '/revisions?limit=1');
  return r.json?.items?.[0] ?? null;
}

/** createdAt (epoch ms) of revision n: from the list (cheap), else from GET /revisions/n (carries the mesh). */
async function committedAt(apiBase, n) {
  const list = await apiOk(apiBase, 'GET', '/revisions?limit=20');
  const hit = list.json?.items?.find((r) => r.revision === n);
  if (hit) return Date.parse(hit.createdAt);
  const one = await apiOk(apiBase, 'GET', `/revisions/${n}`, undefined, 60_000);
  return Date.parse(one.json.createdAt);
}

const all = (workers, cmd, args, timeoutMs) => Promise.all(workers.map((w) => w.call(cmd, args, timeoutMs)));

/** The workers' counters added up: every number the clients count (clients.mjs), the close and error tallies. */
function sumCounters(list) {
  const out = { closes: {}, errors: {}, samples: [], eventLoopDelayMsP99: 0, eventLoopDelayMsMax: 0 };
  for (const c of list) {
    for (const [k, v] of Object.entries(c)) if (typeof v === 'number') out[k] = (out[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.closes)) out.closes[k] = (out.closes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
    out.samples.push(...c.samples);
    out.eventLoopDelayMsP99 = Math.max(out.eventLoopDelayMsP99, c.eventLoopDelayMs.p99);
    out.eventLoopDelayMsMax = Math.max(out.eventLoopDelayMsMax, c.eventLoopDelayMs.max);
  }
  return out;
}
function diffCounters(a, b) {
  const out = {};
  for (const k of Object.keys(b))
    if (typeof b[k] === 'number' && typeof a[k] === 'number') out[k] = b[k] - a[k];
  const tally = (x, y) => {
    const d = {};
    for (const [k, v] of Object.entries(y)) if (v - (x[k] ?? 0) > 0) d[k] = v - (x[k] ?? 0);
    return d;
  };
  out.closes = tally(a.closes, b.closes);
  out.errors = tally(a.errors, b.errors);
  out.eventLoopDelayMsP99 = b.eventLoopDelayMsP99;
  out.eventLoopDelayMsMax = b.eventLoopDelayMsMax;
  return out;
}

/** CPU seconds of each part, and the machine's counters, for per-phase accounting. */
function cpuMark(ctx) {
  const perWorker = ctx.workers.map((w) => cpuSeconds(w.pid));
  const clients = perWorker.reduce((s, x) => s + x, 0);
  return {
    at: now(),
    perWorker,
    control: cpuSeconds(ctx.cp.proc.pid),
    postgres: cpuSeconds(ctx.pg.proc.pid),
    clients,
    self: selfAndChildrenCpuSeconds(),
    box: machineCpu(),
  };
}
function cpuSince(a, b) {
  const seconds = Math.max(0.001, (b.at - a.at) / 1000);
  const used = {
    control: b.control - a.control,
    postgres: b.postgres - a.postgres,
    clients: b.clients - a.clients,
  };
  const ours = used.control + used.postgres + used.clients + (b.self - a.self);
  return {
    seconds,
    controlCpuSeconds: used.control,
    controlCores: used.control / seconds,
    postgresCores: used.postgres / seconds,
    clientCores: used.clients / seconds,
    /** The busiest client process: near 1.0 means the simulated proxies, not the control plane, set the pace. */
    clientCoresPerWorkerMax: Math.max(0, ...b.perWorker.map((x, i) => (x - (a.perWorker[i] ?? 0)) / seconds)),
    boxBusyPercent: busyPercent(a.box, b.box),
    otherCores: otherCores(a.box, b.box, ours),
  };
}

async function counters(workers) {
  return sumCounters(await all(workers, 'counters'));
}

/** Waits (bounded) until no client has received anything for `quietMs`. */
async function quiet(workers, quietMs = 500, maxMs = 5000) {
  const deadline = now() + maxMs;
  while (now() < deadline) {
    const st = await all(workers, 'status');
    const last = Math.max(...st.map((s) => s.lastMessageAt));
    if (now() - last >= quietMs) return true;
    await sleep(100);
  }
  return false;
}

// ---- one scale ------------------------------------------------------------------------------------------------
async function runScale(n, pgServer) {
  const result = { proxies: n, services: Math.min(S.services, n), notes: [] };
  const scaleNote = (msg) => {
    result.notes.push(msg);
    log(`  note: ${msg}`);
  };
  const services = result.services;
  const dbName = `trellis_bench_${n}_${now()}`;
  const ctx = { pg: pgServer, workers: [], cp: null };
  try {
    const databaseUrl = await createDatabase(pgServer.adminUrl, dbName);
    // An independent LISTEN session on the control plane's channel: Postgres delivers the NOTIFY a change sends
    // from inside its transaction when, and only when, it commits, so its arrival marks the real commit time.
    ctx.notified = new Map();
    ctx.listener = new pg.Client({ connectionString: databaseUrl });
    await ctx.listener.connect();
    ctx.listener.on('notification', (m) => {
      const at = now();
      const revision = Number(m.payload);
      if (!ctx.notified.has(revision)) ctx.notified.set(revision, at);
    });
    ctx.listener.on('error', () => {});
    await ctx.listener.query(`LISTEN ${REVISION_CHANNEL}`);
    log(`[${n}] starting the control plane on a fresh database ${dbName}`);
    ctx.cp = await startControlPlane(databaseUrl);
    const cp = ctx.cp;
    result.controlPlane = {
      pid: cp.serverPid,
      fdLimit: cp.fdLimit,
      env: { ...CONTROL_ENV, TRELLIS_CONTROL_PORT: String(cp.port), DATABASE_URL: '(fresh database)' },
    };
    log(`[${n}] control plane up on ${cp.base} (server pid ${cp.serverPid}, open files limit ${cp.fdLimit})`);
    await openInspector(cp);

    const mesh = await createMesh(cp.api, services);
    result.mesh = {
      services,
      proxiesPerService: n / services,
      dependenciesPerService: S.dependencies,
      dependencies: mesh.dependencies,
      route: 'bench-canary on svc-000 (every service depends on svc-000)',
      createSeconds: mesh.seconds,
    };
    log(
      `[${n}] mesh: ${services} services (dependencies ${mesh.dependencies}) in ${mesh.seconds.toFixed(1)} s`,
    );

    // Workers and their share of the proxies.
    const proxies = Array.from({ length: n }, (_, i) => proxyOf(i, services));
    for (let k = 0; k < S.workers; k++) ctx.workers.push(await startWorker(k));
    const { workers } = ctx;
    const stream = `ws://127.0.0.1:${cp.port}/api/v1/stream/proxy`;
    await Promise.all(
      workers.map((w, k) =>
        w.call('init', {
          url: stream,
          token: JOIN_TOKEN,
          proxies: proxies
            .filter((p) => p.i % workers.length === k)
            .map((p) => ({
              i: p.i,
              node: p.node,
              deps: dependenciesOf(p.service, services, S.dependencies),
            })),
        }),
      ),
    );

    // ---- memory before ----
    await sleep(2000);
    // The baseline is read after a full GC (when the inspector is available), so garbage left by creating the mesh
    // is not in it; the "after" figure is read as found, garbage included (the conservative reading), and again
    // after a full GC.
    const rssBeforeAsFound = rssBytes(cp.serverPid);
    const gcBefore = await memoryAfterGc(cp);
    const rssBefore = gcBefore?.rssBytes ?? rssBeforeAsFound;

    // ---- connect ----
    const connect = await connectPhase(ctx, n);
    result.connect = connect;
    const connected = connect.connected;
    for (const [why, count] of Object.entries(connect.closes))
      scaleNote(
        `while connecting, the control plane closed ${count} streams with ${why}; those proxies retried`,
      );

    // ---- memory after ----
    await sleep(2000);
    const rssAfter = rssBytes(cp.serverPid);
    const gcAfter = await memoryAfterGc(cp);
    const per = (a, b) => (connected > 0 && a !== null && b !== null ? (b - a) / connected : null);
    result.memory = {
      rssBeforeAsFoundBytes: rssBeforeAsFound,
      rssBeforeBytes: rssBefore,
      baselineAfterGc: gcBefore !== null,
      rssAfterBytes: rssAfter,
      connected,
      perProxyBytes: per(rssBefore, rssAfter),
      afterGc: gcBefore && gcAfter ? { before: gcBefore, after: gcAfter } : null,
      perProxyRssAfterGcBytes: gcBefore && gcAfter ? per(gcBefore.rssBytes, gcAfter.rssBytes) : null,
      perProxyHeapAfterGcBytes:
        gcBefore && gcAfter ? per(gcBefore.heapUsedBytes, gcAfter.heapUsedBytes) : null,
    };
    const kb = (b) => (b === null ? '—' : (b / 1024).toFixed(1));
    log(
      `[${n}] RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssAfter / 2 ** 20).toFixed(1)} MiB: ` +
        `${kb(result.memory.perProxyBytes)} KiB per connected proxy; after a full GC ` +
        `${kb(result.memory.perProxyRssAfterGcBytes)} KiB RSS, ${kb(result.memory.perProxyHeapAfterGcBytes)} KiB V8 heap`,
    );

    // ---- changes ----
    result.changes = await changesPhase(ctx, n, mesh.route, scaleNote);

    // ---- telemetry ----
    if (S.telemetryRate > 0 && S.telemetrySeconds > 0)
      result.telemetry = await telemetryPhase(ctx, n, scaleNote);

    result.memory.rssAfterChangesAndTelemetryBytes = rssBytes(cp.serverPid);

    // ---- reconnect storms ----
    result.storms = [];
    for (const kind of S.storms) result.storms.push(await stormPhase(ctx, n, kind, scaleNote));

    result.memory.rssEndBytes = rssBytes(cp.serverPid);
    result.memory.peakRssBytes = rssBytes(cp.serverPid, 'VmHWM');
    // Still connected after everything: memory that a full GC does not give back, compared with right after
    // connecting, is memory the phases left behind.
    result.memory.endAfterGc = await memoryAfterGc(cp);
    result.clientsEnd = await counters(workers);
    delete result.clientsEnd.samples;

    // The machine is shared: say which phases other processes disturbed, and whether the clients set the pace.
    const phases = [
      ['connect', result.connect?.cpu],
      ['changes', result.changes?.cpu],
      ['telemetry', result.telemetry?.cpu],
      ...result.storms.map((st) => [`storm (${st.kind})`, st.cpu]),
    ].filter(([, c]) => c);
    const disturbed = phases.filter(([, c]) => c.otherCores > 0.25);
    if (disturbed.length)
      scaleNote(
        `processes outside the benchmark were using CPU during ${disturbed
          .map(([name, c]) => `${name} (${c.otherCores.toFixed(2)} cores)`)
          .join(', ')}: those figures are pessimistic`,
      );
    const saturated = phases.filter(([, c]) => c.clientCoresPerWorkerMax > 0.8);
    if (saturated.length)
      scaleNote(
        `a client worker was near a full core during ${saturated.map(([name]) => name).join(', ')}: the simulated ` +
          'proxies may have set the pace there (raise BENCH_CLIENT_WORKERS on a bigger machine)',
      );
  } catch (error) {
    result.error = String(error?.stack ?? error);
    scaleNote(`scale ${n} stopped early: ${String(error?.message ?? error).split('\n')[0]}`);
  } finally {
    for (const w of ctx.workers) await w.call('close', {}, 15_000).catch(() => {});
    for (const w of ctx.workers) await stop(w, 3000);
    await ctx.listener?.end().catch(() => {});
    if (ctx.cp) {
      result.controlPlaneLog = ctx.cp.proc.tally;
      result.controlPlaneLogExamples = ctx.cp.proc.examples;
      if (ctx.cp.proc.done)
        result.notes.push(`the control plane exited: ${ctx.cp.proc.logs.slice(-5).join(' | ')}`);
      await stop(ctx.cp.proc, 15_000);
    }
    await dropDatabase(pgServer.adminUrl, dbName).catch((e) =>
      log(`  could not drop ${dbName}: ${e.message}`),
    );
  }
  return result;
}

async function connectPhase(ctx, n) {
  const { workers, cp } = ctx;
  const timeoutS = connectTimeoutS(n);
  log(`[${n}] connecting ${n} simulated proxies (limit ${timeoutS} s)`);
  const rev0 = (await latestRevision(cp.api))?.revision ?? 0;
  const c0 = await counters(workers);
  const m0 = cpuMark(ctx);
  const t0 = now();
  await all(workers, 'connect', { concurrency: S.connectConcurrency });
  const deadline = t0 + timeoutS * 1000;
  const pollMs = n > 2000 ? 1000 : 500;
  let allOpenAt = null;
  let syncedAt = null;
  let last = null;
  let lastLog = 0;
  while (now() < deadline) {
    const st = await all(workers, 'status');
    const open = st.reduce((s, x) => s + x.open, 0);
    if (open === n && allOpenAt === null) allOpenAt = Math.max(...st.map((x) => x.lastOpenAt));
    if (open === n) {
      last = await proxiesSummary(cp.api);
      if (last.synced === n) {
        syncedAt = now();
        break;
      }
    }
    if (now() - lastLog > 10_000) {
      lastLog = now();
      log(
        `[${n}]   ${((now() - t0) / 1000).toFixed(0)} s: ${open} open` +
          `${last ? `, ${last.synced} synced (server)` : ''}`,
      );
    }
    await sleep(pollMs);
  }
  const m1 = cpuMark(ctx);
  const c1 = await counters(workers);
  if (!last || last.synced !== n) last = await proxiesSummary(cp.api).catch(() => last);
  const rev1 = (await latestRevision(cp.api))?.revision ?? rev0;
  const d = diffCounters(c0, c1);
  const out = {
    timeoutSeconds: timeoutS,
    timedOut: syncedAt === null,
    allOpenSeconds: allOpenAt === null ? null : (allOpenAt - t0) / 1000,
    allSyncedSeconds: syncedAt === null ? null : (syncedAt - t0) / 1000,
    pollIntervalMs: pollMs,
    connected: last?.connected ?? 0,
    synced: last?.synced ?? 0,
    serverStatuses: last?.statuses ?? {},
    revisionsCreated: rev1 - rev0,
    registrationsPerSecond: syncedAt === null ? null : (rev1 - rev0) / ((syncedAt - t0) / 1000),
    messages: d.messagesIn,
    snapshots: d.snapshots,
    configs: d.configs,
    endpoints: d.endpoints,
    bytes: d.bytesIn,
    bytesPerProxy: d.bytesIn / n,
    connectErrors: d.connectErrors,
    closes: d.closes,
    errors: d.errors,
    cpu: cpuSince(m0, m1),
  };
  log(
    `[${n}] connect: ${out.connected}/${n} connected, ${out.synced} synced in ` +
      `${out.allSyncedSeconds === null ? `— (timed out after ${timeoutS} s)` : `${out.allSyncedSeconds.toFixed(1)} s`}; ` +
      `${out.revisionsCreated} revisions, ${(out.bytes / 2 ** 20).toFixed(1)} MiB to the clients, control plane ` +
      `${out.cpu.controlCores.toFixed(2)} cores, postgres ${out.cpu.postgresCores.toFixed(2)}, clients ${out.cpu.clientCores.toFixed(2)}`,
  );
  return out;
}

async function changesPhase(ctx, n, route, scaleNote) {
  const { workers, cp } = ctx;
  const changes = [];
  let current = route;
  const timeoutMs = S.changeTimeoutS * 1000;
  const m0 = cpuMark(ctx);
  await all(workers, 'resetEventLoopDelay');
  for (let k = 0; k < S.changes; k++) {
    if (k > 0) await sleep(S.changeIntervalMs);
    if (!(await quiet(workers)))
      scaleNote(`change ${k + 1}: clients were still receiving messages before it`);
    const st = await all(workers, 'status');
    const open = st.reduce((s, x) => s + x.open, 0);
    const c0 = await counters(workers);
    const mc0 = cpuMark(ctx);
    const v2 = 10 + 10 * ((k + 1) % 8); // 20, 30, … 80, 10, …: always a different split
    const sent = now();
    const r = await apiOk(cp.api, 'PUT', '/routes/bench-canary', {
      name: current.name,
      service: current.service,
      destinations: canary(v2),
      timeoutMs: current.timeoutMs,
      retries: current.retries,
      version: current.version,
    });
    const answered = r.at;
    current = r.json;
    const revision = Number(r.headers.get('x-trellis-revision'));
    const waited = await all(
      workers,
      'waitRevision',
      { revision, since: sent, timeoutMs, openOnly: false },
      timeoutMs + 30_000,
    );
    const mc1 = cpuMark(ctx);
    await sleep(200); // stragglers' bytes
    const c1 = await counters(workers);
    const times = waited.flatMap((w) => w.times);
    const got = times.filter((t) => t !== null);
    const commit = await committedAt(cp.api, revision);
    const notifiedAt = ctx.notified.get(revision) ?? null;
    const server = await proxiesSummary(cp.api, { revision });
    const d = diffCounters(c0, c1);
    const fromCommit = stats(got.map((t) => t - commit));
    rawTimes.set(
      `${revision}:fromCommit`,
      got.map((t) => t - commit),
    );
    rawTimes.set(
      `${revision}:from2xx`,
      got.map((t) => t - answered),
    );
    if (notifiedAt !== null)
      rawTimes.set(
        `${revision}:fromNotify`,
        got.map((t) => t - notifiedAt),
      );
    const change = {
      revision,
      v2Weight: v2,
      openAtStart: open,
      received: got.length,
      timedOut: got.length < n,
      committedAt: new Date(commit).toISOString(),
      requestToCommitMs: commit - sent,
      commitTo2xxMs: answered - commit,
      /** createdAt → the NOTIFY reaching an independent LISTEN session: the rest of the change's transaction. */
      createdAtToNotifyMs: notifiedAt === null ? null : notifiedAt - commit,
      notifyTo2xxMs: notifiedAt === null ? null : answered - notifiedAt,
      fromNotifyMs: notifiedAt === null ? null : stats(got.map((t) => t - notifiedAt)),
      fromCommitMs: fromCommit,
      from2xxMs: stats(got.map((t) => t - answered)),
      fromRequestMs: stats(got.map((t) => t - sent)),
      allAckedMs: got.length === n ? fromCommit.max : null,
      serverConvergenceMs: { ...stats(server.convergenceMs), proxies: server.convergenceMs.length },
      serverSynced: server.synced,
      messages: d.messagesIn,
      snapshots: d.snapshots,
      configs: d.configs,
      endpoints: d.endpoints,
      bytes: d.bytesIn,
      bytesPerProxy: got.length ? d.bytesIn / n : null,
      closes: d.closes,
      cpu: cpuSince(mc0, mc1),
    };
    changes.push(change);
    log(
      `[${n}] change ${k + 1}/${S.changes} (revision ${revision}): ${got.length}/${n} acked; from commit p50 ` +
        `${fmt(fromCommit.p50)} p99 ${fmt(fromCommit.p99)} max ${fmt(fromCommit.max)} ms; server convergenceMs p99 ` +
        `${fmt(change.serverConvergenceMs.p99)}; ${(d.bytesIn / 2 ** 20).toFixed(2)} MiB (${fmtBytes(change.bytesPerProxy)} per proxy); ` +
        `client CPU ${change.cpu.clientCores.toFixed(2)} cores`,
    );
    if (got.length < n)
      scaleNote(
        `change ${k + 1} (revision ${revision}): only ${got.length} of ${n} proxies acked within ${S.changeTimeoutS} s`,
      );
  }
  const m1 = cpuMark(ctx);
  const cEnd = await counters(workers);
  return {
    changes,
    pooledFromCommitMs: poolChanges(changes, n, 'fromCommit'),
    pooledFrom2xxMs: poolChanges(changes, n, 'from2xx'),
    pooledFromNotifyMs: changes.every((c) => c.fromNotifyMs) ? poolChanges(changes, n, 'fromNotify') : null,
    worstAllAckedMs: changes.every((c) => c.allAckedMs !== null)
      ? Math.max(...changes.map((c) => c.allAckedMs))
      : null,
    timedOut: changes.some((c) => c.timedOut),
    meanBytesPerChange: changes.reduce((s, c) => s + c.bytes, 0) / changes.length,
    meanBytesPerProxy: changes.reduce((s, c) => s + c.bytes, 0) / changes.length / n,
    cpu: cpuSince(m0, m1),
    clientEventLoopDelayMs: { p99: cEnd.eventLoopDelayMsP99, max: cEnd.eventLoopDelayMsMax },
    samples: cEnd.samples.filter((x) => changes.some((c) => c.revision === x.revision)),
  };
}

// Every proxy's latency for every change, to pool them over the changes of a scale (stats() keeps only summaries;
// the raw values, up to 10,000 per change, stay out of the report).
const rawTimes = new Map();
function poolChanges(changes, n, key) {
  const values = [];
  let missing = 0;
  for (const c of changes) {
    const raw = rawTimes.get(`${c.revision}:${key}`) ?? [];
    values.push(...raw);
    missing += n - raw.length;
  }
  return { ...stats(values), missingAcks: missing };
}

async function telemetryPhase(ctx, n, scaleNote) {
  const { workers, cp } = ctx;
  log(`[${n}] telemetry: ${S.telemetryRate} frame/s per proxy for ${S.telemetrySeconds} s`);
  // Protocol check: one frame from proxy 0 must be counted and must not close its stream.
  const once = await workers[0].call('telemetryOnce', { edges: S.telemetryEdges });
  await sleep(1000);
  const check = await proxiesSummary(cp.api);
  const state = await workers[0].call('clientState', { index: once.index });
  if (!once.sent || check.telemetryFrames < 1 || state?.state !== 'open') {
    const c = await counters(workers);
    scaleNote(
      `telemetry check failed (sent ${once.sent}, server counted ${check.telemetryFrames}, client ${state?.state}, ` +
        `closes ${JSON.stringify(c.closes)}); telemetry phase skipped`,
    );
    return { skipped: true };
  }
  const f0 = check.telemetryFrames;
  const c0 = await counters(workers);
  const m0 = cpuMark(ctx);
  const started = await all(workers, 'telemetryStart', { rate: S.telemetryRate, edges: S.telemetryEdges });
  const t0 = Math.min(...started.map((s) => s.started));
  await sleep(S.telemetrySeconds * 1000);
  const stopped = await all(workers, 'telemetryStop');
  const t1 = Math.max(...stopped.map((s) => s.stopped));
  const m1 = cpuMark(ctx);
  const atStop = await proxiesSummary(cp.api);
  const atStopAt = now() - atStop.fetchedMs / 2;
  const c1 = await counters(workers);
  const sent = c1.telemetryFrames - c0.telemetryFrames;
  // Drain: wait (bounded) until the control plane has counted everything sent.
  const drainDeadline = now() + 15_000;
  let drained = atStop;
  while (drained.telemetryFrames - f0 < sent && now() < drainDeadline) {
    await sleep(500);
    drained = await proxiesSummary(cp.api);
  }
  const counted = drained.telemetryFrames - f0;
  const seconds = (t1 - t0) / 1000;
  const out = {
    ratePerProxy: S.telemetryRate,
    edgesPerFrame: S.telemetryEdges,
    frameBytes: started[0]?.sampleFrameBytes ?? null,
    seconds,
    framesSent: sent,
    sentPerSecond: sent / seconds,
    bytesSentPerSecond: (c1.telemetryBytes - c0.telemetryBytes) / seconds,
    countedAtStop: atStop.telemetryFrames - f0,
    ingestedPerSecondDuringRun: (atStop.telemetryFrames - f0) / ((atStopAt - t0) / 1000),
    countedAfterDrain: counted,
    drainSeconds: (now() - t1) / 1000,
    allCounted: counted >= sent,
    skippedClosedClients: stopped.reduce((s, x) => s + x.skippedClosed, 0),
    closes: diffCounters(c0, c1).closes,
    cpu: cpuSince(m0, m1),
  };
  log(
    `[${n}] telemetry: sent ${fmt(out.sentPerSecond, 0)} frames/s (${fmtBytes(out.frameBytes)} each), control plane counted ` +
      `${fmt(out.ingestedPerSecondDuringRun, 0)}/s during the run, ${counted}/${sent} after ${out.drainSeconds.toFixed(1)} s; ` +
      `control plane ${out.cpu.controlCores.toFixed(2)} cores, clients ${out.cpu.clientCores.toFixed(2)}`,
  );
  if (!out.allCounted) scaleNote(`telemetry: the control plane counted ${counted} of ${sent} frames sent`);
  return out;
}

async function stormPhase(ctx, n, kind, scaleNote) {
  const { workers, cp } = ctx;
  const timeoutS = stormTimeoutS(n);
  log(`[${n}] reconnect storm (${kind}): every client drops and reconnects at once (limit ${timeoutS} s)`);
  await quiet(workers);
  const before = await proxiesSummary(cp.api);
  const rev0 = (await latestRevision(cp.api))?.revision ?? 0;
  const c0 = await counters(workers);
  const m0 = cpuMark(ctx);
  const warm = kind === 'warm';
  const t0 = now();
  const dropped = await all(workers, 'drop', { helloWithRevision: warm });
  const tDrop = Math.min(...dropped.map((d) => d.dropped));
  const issued = Math.max(...dropped.map((d) => d.issued)) - tDrop;
  const deadline = t0 + timeoutS * 1000;
  const pollMs = n > 2000 ? 1000 : 250;
  let syncedAt = null;
  let last = null;
  let lastLog = 0;
  while (now() < deadline) {
    const st = await all(workers, 'status', { since: tDrop });
    const open = st.reduce((s, x) => s + x.openSince, 0);
    if (open === n) {
      last = await proxiesSummary(cp.api, { since: tDrop });
      if (last.syncedSince === n) {
        syncedAt = now() - last.fetchedMs / 2;
        break;
      }
    }
    if (now() - lastLog > 10_000) {
      lastLog = now();
      log(
        `[${n}]   ${((now() - t0) / 1000).toFixed(0)} s: ${open} reconnected` +
          `${last ? `, ${last.syncedSince} synced (server)` : ''}`,
      );
    }
    await sleep(pollMs);
  }
  const m1 = cpuMark(ctx);
  const openTimes = (await all(workers, 'openTimes')).flat();
  const reopened = openTimes.filter((t) => t !== null && t >= tDrop);
  let received = null;
  if (!warm) {
    const rev = before.currentRevision ?? rev0;
    const w = await all(workers, 'waitRevision', { revision: rev, since: tDrop, timeoutMs: 0 });
    const times = w.flatMap((x) => x.times).filter((t) => t !== null);
    received = { ...stats(times.map((t) => t - tDrop)), count: times.length };
  }
  if (!last || last.syncedSince !== n)
    last = await proxiesSummary(cp.api, { since: tDrop }).catch(() => last);
  const rev1 = (await latestRevision(cp.api))?.revision ?? rev0;
  const c1 = await counters(workers);
  const d = diffCounters(c0, c1);
  const out = {
    kind,
    helloCarriesRevision: warm,
    timeoutSeconds: timeoutS,
    timedOut: syncedAt === null,
    reconnectsIssuedMs: issued,
    allReconnectedSeconds: reopened.length === n ? (Math.max(...reopened) - tDrop) / 1000 : null,
    reconnected: reopened.length,
    reconnectedMs: stats(reopened.map((t) => t - tDrop)),
    allSyncedSeconds: syncedAt === null ? null : (syncedAt - tDrop) / 1000,
    pollIntervalMs: pollMs,
    syncedAtEnd: last?.syncedSince ?? 0,
    serverStatuses: last?.statuses ?? {},
    receivedSnapshotMs: received,
    revisionsCreated: rev1 - rev0,
    messages: d.messagesIn,
    bytes: d.bytesIn,
    connectErrors: d.connectErrors,
    retries: d.reconnects,
    closes: d.closes,
    errors: d.errors,
    cpu: cpuSince(m0, m1),
  };
  log(
    `[${n}] storm (${kind}): ${out.reconnected}/${n} reconnected` +
      `${out.allReconnectedSeconds === null ? '' : ` in ${out.allReconnectedSeconds.toFixed(2)} s`}, ` +
      `${out.syncedAtEnd} synced ${out.allSyncedSeconds === null ? `(timed out after ${timeoutS} s)` : `in ${out.allSyncedSeconds.toFixed(2)} s`}; ` +
      `${out.revisionsCreated} revisions, ${out.connectErrors} failed attempts, control plane ${out.cpu.controlCores.toFixed(2)} cores`,
  );
  if (out.timedOut) scaleNote(`storm (${kind}): ${out.syncedAtEnd} of ${n} synced within ${timeoutS} s`);
  for (const [why, count] of Object.entries(out.closes))
    scaleNote(
      `storm (${kind}): the control plane closed ${count} streams with ${why}; those proxies retried`,
    );
  return out;
}

// ---- formatting -------------------------------------------------------------------------------------------------------
function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmtBytes(b) {
  if (b === null || b === undefined || Number.isNaN(b)) return '—';
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(2)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${Math.round(b)} B`;
}
const fmtInt = (v) => (v === null || v === undefined ? '—' : Math.round(v).toLocaleString('en-US'));
const triple = (s) => (s ? `${fmt(s.p50, 0)} / ${fmt(s.p99, 0)} / ${fmt(s.max, 0)}` : '—');

function buildTargets(scales) {
  const targets = [];
  for (const r of scales) {
    const ch = r.changes;
    const p99 = ch?.pooledFromCommitMs?.p99 ?? null;
    const missing = ch?.pooledFromCommitMs?.missingAcks ?? null;
    const primary = r.proxies === TARGETS.changeP99.scale;
    let result;
    if (!ch) result = 'NO DATA';
    else if (missing > 0) result = 'MISS';
    else result = p99 !== null && p99 < TARGETS.changeP99.limitMs ? 'PASS' : 'MISS';
    targets.push({
      id: 'changeP99',
      target: TARGETS.changeP99.text,
      proxies: r.proxies,
      primary,
      measured: ch
        ? `p99 ${fmt(p99, 0)} ms (max ${fmt(ch.pooledFromCommitMs.max, 0)} ms, ${ch.changes.length} changes)` +
          `${missing > 0 ? `; ${fmtInt(missing)} ACKs missing at the ${S.changeTimeoutS} s limit` : ''}`
        : (r.error?.split('\n')[0] ?? 'not measured'),
      result: primary ? result : `${result} (trend)`,
    });
  }
  if (!scales.some((r) => r.proxies === TARGETS.changeP99.scale)) {
    targets.push({
      id: 'changeP99',
      target: TARGETS.changeP99.text,
      proxies: TARGETS.changeP99.scale,
      primary: true,
      measured: `not run (scales: ${S.scales.join(', ')})`,
      result: 'NOT RUN',
    });
  }
  for (const r of scales) {
    const m = r.memory;
    const per = m?.perProxyBytes ?? null;
    const partial = r.connect && r.connect.connected < r.proxies;
    targets.push({
      id: 'memory',
      target: TARGETS.memory.text,
      proxies: r.proxies,
      primary: true,
      measured:
        per === null
          ? (r.error?.split('\n')[0] ?? 'not measured')
          : `${fmt(per / 1024, 1)} KiB (RSS ${fmt(m.rssBeforeBytes / 2 ** 20)} → ${fmt(m.rssAfterBytes / 2 ** 20)} MiB, ` +
            `${fmtInt(m.connected)} connected)` +
            `${m.perProxyRssAfterGcBytes !== null ? `; after a full GC ${fmt(m.perProxyRssAfterGcBytes / 1024, 1)} KiB RSS, ${fmt(m.perProxyHeapAfterGcBytes / 1024, 1)} KiB V8 heap` : ''}` +
            `${partial ? ` — only ${r.connect.connected} of ${r.proxies} connected` : ''}`,
      result: per === null ? 'NO DATA' : partial ? 'MISS' : per < TARGETS.memory.limitBytes ? 'PASS' : 'MISS',
    });
  }
  return targets;
}

function markdown(report) {
  const { settings: s, machine: m, scales } = report;
  const L = [];
  const cols = scales.map((r) => fmtInt(r.proxies));
  const row = (label, f) => L.push(`| ${label} | ${scales.map((r) => f(r) ?? '—').join(' | ')} |`);
  L.push('# Trellis control-plane benchmark');
  L.push('');
  L.push(
    `${report.date} · commit \`${report.build.git.commit?.slice(0, 12) ?? '?'}\`` +
      `${report.build.git.controlSourceDirty ? ' (apps/control, packages/schema or prisma have uncommitted changes: numbers are for the working tree)' : ''}`,
  );
  L.push('');
  L.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores shared by the control plane, Postgres and the simulated proxies, ` +
      `${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}; load average at start ${m.loadAverageAtStart.join(' / ')}.`,
  );
  L.push('');
  L.push(
    `Settings: ${s.scales.map(fmtInt).join(', ')} simulated proxies over ${s.workers} client process(es); ` +
      `${s.services} services, each declaring ${s.dependencies} dependencies (svc-000 + the next ones); ` +
      `${s.changes} route changes per scale, ${s.changeIntervalMs} ms apart; telemetry ${s.telemetryRate} frame/s ` +
      `per proxy (${s.telemetryEdges} edges) for ${s.telemetrySeconds} s; storm: ${s.storms.join(', ') || 'none'}. ` +
      `Control plane: \`${Object.entries(CONTROL_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}\`, one process, fresh database per scale. Command: \`${report.command}\`.`,
  );
  L.push('');
  L.push('## Results');
  L.push('');
  L.push(`| simulated proxies | ${cols.join(' | ')} |`);
  L.push(`|---|${cols.map(() => '---:').join('|')}|`);
  row('connected / synced after connecting', (r) =>
    r.connect ? `${fmtInt(r.connect.connected)} / ${fmtInt(r.connect.synced)}` : undefined,
  );
  row('connect: all synced (s)', (r) =>
    r.connect
      ? r.connect.timedOut
        ? `timed out (${r.connect.timeoutSeconds} s)`
        : fmt(r.connect.allSyncedSeconds, 1)
      : undefined,
  );
  row('connect: revisions created / bytes to clients', (r) =>
    r.connect ? `${fmtInt(r.connect.revisionsCreated)} / ${fmtBytes(r.connect.bytes)}` : undefined,
  );
  row('**change → ACK, from commit: p50 / p99 / max (ms)**', (r) =>
    r.changes ? `**${triple(r.changes.pooledFromCommitMs)}**` : undefined,
  );
  row('change → ACK, from the NOTIFY (real commit): p50 / p99 / max (ms)', (r) =>
    r.changes?.pooledFromNotifyMs ? triple(r.changes.pooledFromNotifyMs) : undefined,
  );
  row('createdAt → commit (NOTIFY seen), mean of the changes (ms)', (r) => {
    const xs = r.changes?.changes.map((c) => c.createdAtToNotifyMs).filter((x) => x !== null) ?? [];
    return xs.length ? fmt(xs.reduce((a, b) => a + b, 0) / xs.length, 0) : undefined;
  });
  row('change → ACK, from the 2xx: p50 / p99 / max (ms)', (r) =>
    r.changes ? triple(r.changes.pooledFrom2xxMs) : undefined,
  );
  row('worst "all ACKed" of a change (ms)', (r) =>
    r.changes
      ? r.changes.worstAllAckedMs === null
        ? 'not all ACKed'
        : fmt(r.changes.worstAllAckedMs, 0)
      : undefined,
  );
  row('server convergenceMs p50 / p99 / max (last change)', (r) =>
    r.changes ? triple(r.changes.changes.at(-1)?.serverConvergenceMs) : undefined,
  );
  row('bytes per change (all proxies)', (r) =>
    r.changes ? fmtBytes(r.changes.meanBytesPerChange) : undefined,
  );
  row('bytes per change per proxy', (r) => (r.changes ? fmtBytes(r.changes.meanBytesPerProxy) : undefined));
  row('control-plane CPU during the changes (cores)', (r) =>
    r.changes ? fmt(r.changes.cpu.controlCores, 2) : undefined,
  );
  row('client CPU during the changes (cores) / event-loop delay p99 (ms)', (r) =>
    r.changes
      ? `${fmt(r.changes.cpu.clientCores, 2)} / ${fmt(r.changes.clientEventLoopDelayMs.p99, 0)}`
      : undefined,
  );
  row('**control-plane RSS per connected proxy**', (r) =>
    r.memory?.perProxyBytes !== undefined && r.memory?.perProxyBytes !== null
      ? `**${fmt(r.memory.perProxyBytes / 1024, 1)} KiB**`
      : undefined,
  );
  row('after a full GC: RSS / V8 heap per connected proxy', (r) =>
    r.memory?.perProxyRssAfterGcBytes !== undefined && r.memory?.perProxyRssAfterGcBytes !== null
      ? `${fmt(r.memory.perProxyRssAfterGcBytes / 1024, 1)} KiB / ${fmt(r.memory.perProxyHeapAfterGcBytes / 1024, 1)} KiB`
      : undefined,
  );
  row('RSS before → after connecting → end of the scale / peak (MiB)', (r) =>
    r.memory
      ? `${fmt(r.memory.rssBeforeBytes / 2 ** 20)} → ${fmt(r.memory.rssAfterBytes / 2 ** 20)} → ` +
        `${fmt((r.memory.rssEndBytes ?? r.memory.rssAfterBytes) / 2 ** 20)} / ${fmt(r.memory.peakRssBytes / 2 ** 20)}`
      : undefined,
  );
  row('after a full GC, right after connecting → end of the scale: RSS / V8 heap (MiB)', (r) => {
    const a = r.memory?.afterGc?.after;
    const e = r.memory?.endAfterGc;
    if (!a || !e) return undefined;
    return (
      `${fmt(a.rssBytes / 2 ** 20)} → ${fmt(e.rssBytes / 2 ** 20)} / ` +
      `${fmt(a.heapUsedBytes / 2 ** 20)} → ${fmt(e.heapUsedBytes / 2 ** 20)}`
    );
  });
  for (const kind of s.storms) {
    row(`storm (${kind}): all reconnected / all synced (s)`, (r) => {
      const st = r.storms?.find((x) => x.kind === kind);
      if (!st) return undefined;
      return `${fmt(st.allReconnectedSeconds, 2)} / ${st.timedOut ? `timed out (${st.syncedAtEnd} synced at ${st.timeoutSeconds} s)` : fmt(st.allSyncedSeconds, 2)}`;
    });
    if (kind === 'cold')
      row('storm (cold): snapshot received after the drop p50 / p99 / max (ms)', (r) =>
        triple(r.storms?.find((x) => x.kind === kind)?.receivedSnapshotMs ?? null),
      );
    row(`storm (${kind}): revisions created / failed attempts`, (r) => {
      const st = r.storms?.find((x) => x.kind === kind);
      return st ? `${fmtInt(st.revisionsCreated)} / ${fmtInt(st.connectErrors)}` : undefined;
    });
  }
  row('telemetry: frames/s sent → counted by the control plane', (r) =>
    r.telemetry && !r.telemetry.skipped
      ? `${fmtInt(r.telemetry.sentPerSecond)} → ${fmtInt(r.telemetry.ingestedPerSecondDuringRun)}`
      : undefined,
  );
  row('telemetry: all counted / control-plane CPU (cores)', (r) =>
    r.telemetry && !r.telemetry.skipped
      ? `${r.telemetry.allCounted ? 'yes' : `no (${fmtInt(r.telemetry.countedAfterDrain)} of ${fmtInt(r.telemetry.framesSent)})`} / ${fmt(r.telemetry.cpu.controlCores, 2)}`
      : undefined,
  );
  L.push('');
  L.push(
    '"From commit" = the time a simulated proxy received the change minus the revision\'s `createdAt` (taken by the ' +
      "control plane inside the change's transaction, as its own `convergenceMs` does); each client acks at once on " +
      'receipt. "From the 2xx" = minus the time the REST answer reached the benchmark (the push can beat it: ' +
      'negative values). Percentiles pool every proxy over every change. Bytes are WebSocket payloads received by ' +
      'the clients. RSS per proxy = `VmRSS` of the control-plane process once every proxy is connected and synced, ' +
      'as found (garbage included), minus `VmRSS` before connecting (after a full GC), ÷ connected proxies; the ' +
      '"after a full GC" row has both readings after a full GC (forced through the inspector), and the growth of ' +
      'the V8 heap in use.',
  );
  for (const r of scales) {
    L.push('');
    L.push(`## ${fmtInt(r.proxies)} proxies`);
    L.push('');
    if (r.mesh)
      L.push(
        `${r.mesh.services} services (${fmt(r.mesh.proxiesPerService, 0)} proxies each), dependencies ${r.mesh.dependencies}. ` +
          `Control-plane open-files limit ${r.controlPlane?.fdLimit ?? '?'}.`,
      );
    if (r.changes) {
      L.push('');
      L.push(
        '| change | revision | acked | from commit p50 / p99 / max (ms) | from 2xx p50 / p99 / max | server convergenceMs p50 / p99 / max | createdAt → commit / → 2xx (ms) | messages (snapshot / config / endpoints) | bytes | per proxy | control / client CPU (cores) |',
      );
      L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      r.changes.changes.forEach((c, i) => {
        L.push(
          `| ${i + 1} | ${c.revision} | ${fmtInt(c.received)}/${fmtInt(r.proxies)} | ${triple(c.fromCommitMs)} | ${triple(c.from2xxMs)} | ` +
            `${triple(c.serverConvergenceMs)} | ${fmt(c.createdAtToNotifyMs, 0)} / ${fmt(c.commitTo2xxMs, 0)} | ${fmtInt(c.messages)} (${fmtInt(c.snapshots)} / ${fmtInt(c.configs)} / ${fmtInt(c.endpoints)}) | ` +
            `${fmtBytes(c.bytes)} | ${fmtBytes(c.bytesPerProxy)} | ${fmt(c.cpu.controlCores, 2)} / ${fmt(c.cpu.clientCores, 2)} |`,
        );
      });
    }
    const phases = [];
    if (r.connect) phases.push(['connect', r.connect.cpu]);
    if (r.changes) phases.push(['changes', r.changes.cpu]);
    if (r.telemetry && !r.telemetry.skipped) phases.push(['telemetry', r.telemetry.cpu]);
    for (const st of r.storms ?? []) phases.push([`storm (${st.kind})`, st.cpu]);
    if (phases.length) {
      L.push('');
      L.push(
        '| phase | seconds | control plane (cores) | Postgres (cores) | simulated proxies (cores) | box busy | other processes (cores) |',
      );
      L.push('|---|---:|---:|---:|---:|---:|---:|');
      for (const [name, c] of phases)
        L.push(
          `| ${name} | ${fmt(c.seconds, 1)} | ${fmt(c.controlCores, 2)} | ${fmt(c.postgresCores, 2)} | ${fmt(c.clientCores, 2)} | ` +
            `${fmt(c.boxBusyPercent, 0)}% | ${fmt(c.otherCores, 2)} |`,
        );
    }
    const logs = Object.entries(r.controlPlaneLog ?? {}).sort((a, b) => b[1] - a[1]);
    if (logs.length) {
      L.push('');
      L.push("Control-plane log (warn and above), with the first occurrence's error:");
      L.push('');
      for (const [k, v] of logs) {
        const why = r.controlPlaneLogExamples?.[k];
        L.push(`- ${fmtInt(v)} × "${k}"${why ? ` — ${why}` : ''}`);
      }
    }
    if (r.notes.length) {
      L.push('');
      for (const x of r.notes) L.push(`- ${x}`);
    }
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| target | proxies | measured | result |');
  L.push('|---|---:|---|---|');
  for (const t of report.targets)
    L.push(`| ${t.target} | ${fmtInt(t.proxies)} | ${t.measured} | **${t.result}** |`);
  L.push('');
  L.push(
    'The change target is stated at 10,000 proxies; rows at other scales are marked "(trend)". A phase that ran ' +
      'out of time counts as a MISS with what it got.',
  );
  if (report.notes.length) {
    L.push('');
    L.push('## Notes');
    L.push('');
    for (const x of report.notes) L.push(`- ${x}`);
  }
  return `${L.join('\n')}\n`;
}

// ---- main ---------------------------------------------------------------------------------------------------------------
async function main() {
  const started = now();
  log('Trellis control-plane benchmark');
  log(
    `settings: scales=${S.scales.join(',')} changes=${S.changes} services=${S.services} dependencies=${S.dependencies} ` +
      `telemetry=${S.telemetryRate}/s×${S.telemetrySeconds}s storm=${S.storms.join(',') || 'none'} ` +
      `accept-rate=${S.acceptRate}/s workers=${S.workers}${QUICK ? ' (quick)' : ''}`,
  );
  const expectedS =
    S.scales.reduce(
      (s, n) =>
        s +
        connectTimeoutS(n) +
        S.changes * (S.changeTimeoutS + 5) +
        S.telemetrySeconds +
        30 +
        S.storms.length * stormTimeoutS(n) +
        120,
      0,
    ) + 120;
  setTimeout(
    () => shutdown(1, `bench: watchdog: still running after ${expectedS} s, giving up`),
    expectedS * 1000,
  ).unref();

  fs.mkdirSync(RESULTS, { recursive: true });
  const machine = machineInfo();
  const build = { git: gitInfo() };
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`);
  if (build.git.controlSourceDirty)
    note(
      `apps/control / packages/schema / prisma have uncommitted changes (${build.git.dirtyFiles.length} files): the ` +
        'numbers are for the working tree, not the commit',
    );

  log('starting an embedded Postgres');
  const pgServer = await startPostgres();
  log(`postgres on 127.0.0.1:${pgServer.port}`);

  const scales = [];
  for (const n of S.scales) scales.push(await runScale(n, pgServer));
  await stopPostgres(pgServer);

  // Pool raw per-proxy values are not kept in the report (10,000 × changes numbers); the stats are.
  const report = {
    benchmark: 'trellis-control-plane',
    date: new Date().toISOString(),
    command: '',
    elapsedSeconds: Math.round((now() - started) / 1000),
    settings: { ...S, controlPlaneEnv: CONTROL_ENV, joinToken: '(benchmark token)' },
    machine,
    build,
    targets: buildTargets(scales),
    scales,
    notes,
  };
  report.command = commandLine('bench/control/run.mjs');
  await writeReport('control', report, markdown(report), 3);
  log(
    `\nwrote bench/results/control-latest.md and bench/results/control-latest.json in ${report.elapsedSeconds} s`,
  );
  return scales.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => shutdown(code),
  (error) => shutdown(1, `bench failed: ${error?.stack ?? error}`),
);
