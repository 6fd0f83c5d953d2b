// The proxy benchmark: `npm run bench:proxy` (see bench/README.md).
//
// Side by side, in one run, against the same upstream (a keep-alive Node http server in its own process):
//   direct        client → upstream
//   trellis-1hop  client → Trellis outbound listener → upstream
//   trellis-2hop  client → Trellis outbound sidecar → Trellis inbound sidecar → upstream (the real mesh path)
//   trellis-ingress-2w  client → Trellis ingress gateway, `--workers 2` (kernel-balanced accept) → upstream
//   nginx         client → nginx (1 worker, upstream keepalive 64) → upstream
//   nginx-2w      the same nginx with 2 worker processes
//   haproxy       client → HAProxy (nbthread 1, http-reuse always) → upstream
//   node-floor    client → the barest Node http + undici proxy (bench/proxy/node-floor.mjs) → upstream: the
//                 floor of the platform Trellis was first built on
//   socket-floor  client → the barest Node proxy on raw sockets, read and written as Trellis's engine does
//                 (bench/proxy/socket-floor.mjs) → upstream: the least a request costs a Node process here
//   batch-floor   the same proxy with its socket I/O done in C, one call into JavaScript per batch of reads
//                 (bench/proxy/batch-floor.mjs, batch-io.c, compiled by this script): what Node's I/O layer costs
//   engine-floor  client → Trellis's HTTP/1.1 engine (server, strict codec, upstream pool) with nothing above it
//                 (bench/proxy/engine-floor.ts, bundled by this script) → upstream: what parsing costs
//   nginx-2hop, nginx-2hop-mtls, socket-floor-2hop
//                 two of them chained (mutual TLS between the two nginx in the second): what two hops of a C
//                 proxy, and of the barest Node one, add on this machine, beside Trellis's two-hop rows
// Reports peak req/s (wrk, closed loop), latency at a fixed rate (open loop, bench/proxy/open-loop.mjs), proxy
// CPU seconds per 1000 requests and peak RSS, and the resident memory of an idle sidecar joined to a control plane
// (bench/proxy/idle-rss.mjs). Writes bench/results/proxy-latest.{md,json}.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commandLine, writeReport } from '../report.mjs';
import { haproxyConf, nginxConf, trellisInbound, trellisIngress, trellisOutbound } from './configs.mjs';
import { profileMarkdown, summarizeProfile } from './cpuprofile.mjs';
import {
  busyPercent,
  cpuSeconds,
  freePorts,
  get,
  killAllNow,
  machineCpu,
  otherCores,
  peakRssBytes,
  runToEnd,
  selfAndChildrenCpuSeconds,
  sleep,
  start,
  stealPercent,
  stop,
  stopAll,
  waitReady,
} from './procs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const PROXY_DIR = path.join(ROOT, 'packages/proxy');
const PROXY_BIN = path.join(PROXY_DIR, 'bin/trellis-proxy.mjs');
const PROXY_DIST = path.join(PROXY_DIR, 'dist/trellis-proxy.mjs');
/** The bundle PROXY_DIST loads (after setting V8's young generation: packages/proxy/src/heap.ts). */
const PROXY_BUNDLE = path.join(PROXY_DIR, 'dist/trellis-proxy-bundle.mjs');
const RESULTS = path.join(ROOT, 'bench/results');
const UPSTREAM = path.join(HERE, 'upstream.mjs');
const OPEN_LOOP = path.join(HERE, 'open-loop.mjs');
const CERTS = path.join(HERE, 'certs.mjs');
const HANDSHAKES = path.join(HERE, 'handshakes.mjs');
const IDLE_RSS = path.join(HERE, 'idle-rss.mjs');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const TRUST_DOMAIN = 'bench.local';
const ALL_SCENARIOS = [
  'direct',
  'trellis-1hop',
  'trellis-2hop',
  'trellis-2hop-mtls',
  'trellis-ingress-2w',
  'nginx',
  'nginx-2w',
  'haproxy',
  'node-floor',
  'socket-floor',
  'engine-floor',
  'batch-floor',
  'nginx-2hop',
  'nginx-2hop-mtls',
  'socket-floor-2hop',
];
const NODE_FLOOR = path.join(HERE, 'node-floor.mjs');
const SOCKET_FLOOR = path.join(HERE, 'socket-floor.mjs');
const BATCH_FLOOR = path.join(HERE, 'batch-floor.mjs');
const BATCH_IO = path.join(HERE, 'batch-io.c');
const ENGINE_FLOOR = path.join(HERE, 'engine-floor.ts');
/** Where node keeps its headers (node_api.h, uv.h), beside its binary as installed. */
const NODE_INCLUDE = path.resolve(path.dirname(process.execPath), '../include/node');
/** Steal (the hypervisor running other machines) from which a run counts as disturbed, in percent of the machine. */
const STEAL_DISTURBED_PERCENT = 3;

// ---- settings: flags override env, env overrides defaults -----------------------------------------------------
const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    'lat-duration': { type: 'string' },
    'lat-warmup': { type: 'string' },
    rate: { type: 'string' },
    scenarios: { type: 'string' },
    profile: { type: 'string' },
    'idle-rss': { type: 'string' },
    build: { type: 'boolean' },
    'no-install': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(`usage: npm run bench:proxy -- [--duration 10] [--runs 3] [--warmup 3] [--lat-duration <duration>]
                             [--lat-warmup 3] [--rate 1000] [--scenarios direct,trellis-1hop,...]
                             [--profile auto|1|0] [--idle-rss 1|0] [--build] [--no-install]
env: BENCH_DURATION BENCH_RUNS BENCH_WARMUP BENCH_LAT_DURATION BENCH_LAT_WARMUP BENCH_RATE BENCH_SCENARIOS
     BENCH_PROFILE BENCH_IDLE_RSS BENCH_BUILD=1 BENCH_NO_INSTALL=1   (see bench/README.md)
`);
  process.exit(0);
}
// The benchmark is not a turbo task: its BENCH_* variables only steer this script.
const fromEnv = (name) => process.env[name];
function setting(flag, env, fallback, check) {
  const raw = flags[flag] ?? fromEnv(env);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!check(n)) {
    process.stderr.write(`bench: bad value for --${flag} / ${env}: "${raw}"\n`);
    process.exit(2);
  }
  return n;
}
const positive = (n) => Number.isFinite(n) && n > 0;
const S = {};
S.duration = setting('duration', 'BENCH_DURATION', 10, (n) => Number.isInteger(n) && n > 0 && n <= 600);
S.runs = setting('runs', 'BENCH_RUNS', 3, (n) => Number.isInteger(n) && n > 0 && n <= 20);
S.warmup = setting('warmup', 'BENCH_WARMUP', 3, (n) => Number.isInteger(n) && n >= 0 && n <= 120);
S.latDuration = setting('lat-duration', 'BENCH_LAT_DURATION', S.duration, (n) => positive(n) && n <= 600);
S.latWarmup = setting('lat-warmup', 'BENCH_LAT_WARMUP', 3, (n) => Number.isFinite(n) && n >= 0 && n <= 120);
S.rate = setting('rate', 'BENCH_RATE', 1000, (n) => positive(n) && n <= 50_000);
S.wrkThreads = 2;
S.wrkConnections = 50;
S.latConnections = 16;
S.peakBodyBytes = 12;
S.latBodyBytes = 1024;
S.scenarios = (flags.scenarios ?? fromEnv('BENCH_SCENARIOS') ?? ALL_SCENARIOS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const s of S.scenarios) {
  if (!ALL_SCENARIOS.includes(s)) {
    process.stderr.write(`bench: unknown scenario "${s}" (known: ${ALL_SCENARIOS.join(', ')})\n`);
    process.exit(2);
  }
}
if (!S.scenarios.includes('direct')) S.scenarios.unshift('direct'); // everything is relative to direct
S.scenarios = ALL_SCENARIOS.filter((s) => S.scenarios.includes(s));
S.profile = String(flags.profile ?? fromEnv('BENCH_PROFILE') ?? 'auto');
if (!['auto', '1', '0'].includes(S.profile)) {
  process.stderr.write('bench: BENCH_PROFILE / --profile must be auto, 1 or 0\n');
  process.exit(2);
}
S.idleRss = String(flags['idle-rss'] ?? fromEnv('BENCH_IDLE_RSS') ?? '1') !== '0';
S.build = Boolean(flags.build) || fromEnv('BENCH_BUILD') === '1';
S.install = !(flags['no-install'] || fromEnv('BENCH_NO_INSTALL') === '1');

// The targets of issue [M9], each computed from this run's own measurements.
const TARGETS = {
  oneHopVsNginx: 'one hop peak ≥ 0.75× nginx, 1 worker (stretch: ≥ 1.0×)',
  oneHopVsFloor: 'one hop peak ≥ 1.5× the node-floor row',
  twoHopP50: 'two hops at 1000 req/s, 1 KiB: added p50 ≤ +0.25 ms',
  twoHopP99: 'two hops at 1000 req/s, 1 KiB: added p99 ≤ +2 ms',
  mtlsP50: 'two hops with mutual TLS: added p50 ≤ +0.4 ms',
  cpuPerHop: 'proxy CPU per request per hop ≤ 0.07 ms',
  idleRss: 'idle sidecar RSS ≤ 50 MiB',
  peakRss: 'peak RSS of a proxy under load ≤ 80 MiB',
};

const log = (msg = '') => process.stderr.write(`${msg}\n`);
const notes = [];
const note = (msg) => {
  notes.push(msg);
  log(`note: ${msg}`);
};

// ---- cleanup: every child dies with us ------------------------------------------------------------------------
const tmpDirs = [];
let shuttingDown = false;
async function shutdown(code, message) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (message) log(message);
  await stopAll(2000).catch(() => {});
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => shutdown(130, '\ninterrupted: stopping every child process…'));
process.on('SIGTERM', () => shutdown(143, 'terminated: stopping every child process…'));
process.on('SIGHUP', () => shutdown(129, 'hang-up: stopping every child process…'));
process.on('uncaughtException', (e) => shutdown(1, `bench failed: ${e?.stack ?? e}`));
process.on('unhandledRejection', (e) => shutdown(1, `bench failed: ${e?.stack ?? e}`));
process.on('exit', () => killAllNow());

function tmpDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `trellis-bench-${prefix}-`));
  fs.chmodSync(d, 0o755); // nginx workers run as nobody and only need to traverse it
  tmpDirs.push(d);
  return d;
}

// ---- tools ------------------------------------------------------------------------------------------------------
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

async function ensureTools() {
  const wanted = { wrk: 'wrk', nginx: 'nginx', haproxy: 'haproxy' };
  const missing = () => Object.keys(wanted).filter((c) => !have(c));
  if (missing().length && S.install) {
    if (process.getuid?.() !== 0) {
      note(
        `missing ${missing().join(', ')} and not root: install with \`sudo apt-get install -y wrk nginx haproxy\``,
      );
    } else if (!have('apt-get')) {
      note(`missing ${missing().join(', ')} and no apt-get on this machine`);
    } else {
      const pkgs = missing().map((c) => wanted[c]);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      log(`installing ${pkgs.join(' ')} with apt-get…`);
      let r = await runToEnd('apt-get', 'apt-get', ['install', '-y', ...pkgs], { env, timeoutMs: 600_000 });
      if (r.code !== 0) {
        log('apt-get install failed; running apt-get update and retrying…');
        await runToEnd('apt-get', 'apt-get', ['update'], { env, timeoutMs: 600_000 });
        r = await runToEnd('apt-get', 'apt-get', ['install', '-y', ...pkgs], { env, timeoutMs: 600_000 });
        if (r.code !== 0)
          note(`apt-get install ${pkgs.join(' ')} failed: ${r.stderr.trim().split('\n').at(-1)}`);
      }
    }
  }
  if (!have('wrk')) {
    throw new Error('wrk is required for the peak test and could not be installed (apt-get install -y wrk)');
  }
  for (const peer of ['nginx', 'haproxy']) {
    if (!have(peer)) {
      for (const scenario of S.scenarios.filter((s) => s === peer || s.startsWith(`${peer}-`))) {
        note(`${peer} is not installed: the ${scenario} scenario is skipped`);
        S.scenarios = S.scenarios.filter((s) => s !== scenario);
      }
    }
  }
}

function versionOf(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
    return out || null;
  } catch {
    return null;
  }
}

// ---- the proxy build --------------------------------------------------------------------------------------------
function newestMtime(dir) {
  let newest = 0;
  let count = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        newest = Math.max(newest, fs.statSync(p).mtimeMs);
        count++;
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return { newest, count };
}

async function ensureBuild() {
  if (S.build || !fs.existsSync(PROXY_DIST) || !fs.existsSync(PROXY_BUNDLE)) {
    log(
      S.build
        ? 'building the proxy (npm run build -w @trellis/proxy)…'
        : `no proxy build at ${path.relative(ROOT, PROXY_DIST)}: building it (npm run build -w @trellis/proxy)…`,
    );
    const r = await runToEnd('build', 'npm', ['run', 'build', '-w', '@trellis/proxy'], {
      cwd: ROOT,
      timeoutMs: 300_000,
    });
    if (r.code !== 0 || !fs.existsSync(PROXY_BUNDLE)) {
      throw new Error(
        `the proxy build is missing and \`npm run build -w @trellis/proxy\` failed (exit ${r.code}):\n${r.stdout}${r.stderr}`,
      );
    }
  }
  const distStat = fs.statSync(PROXY_BUNDLE);
  const src = [path.join(PROXY_DIR, 'src'), path.join(ROOT, 'packages/schema/src')].map(newestMtime);
  const newestSrc = Math.max(...src.map((s) => s.newest));
  const stale = newestSrc > distStat.mtimeMs;
  if (stale) {
    note(
      'the proxy bundle is older than packages/proxy/src or packages/schema/src: these numbers are for the last ' +
        'build, not the working tree (BENCH_BUILD=1 rebuilds first)',
    );
  }
  return {
    bundle: path.relative(ROOT, PROXY_BUNDLE),
    bundleMtime: distStat.mtime.toISOString(),
    bundleSha256: createHash('sha256').update(fs.readFileSync(PROXY_BUNDLE)).digest('hex').slice(0, 16),
    bundleBytes: distStat.size,
    olderThanSource: stale,
  };
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
  const dirty = git('status', '--porcelain', '--', 'packages/proxy', 'packages/schema');
  return { commit: git('rev-parse', 'HEAD'), proxySourceDirty: dirty === null ? null : dirty.length > 0 };
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
    wrk: versionOf('wrk', ['-v'])?.replace(/\s*Copyright.*/, '') ?? null,
    nginx: have('nginx') ? versionOf('nginx', ['-v']) : null,
    haproxy: have('haproxy') ? versionOf('haproxy', ['-v']) : null,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

// ---- starting things ----------------------------------------------------------------------------------------------
async function startUpstream(port) {
  const p = start('upstream', process.execPath, [UPSTREAM, '--port', String(port)]);
  await waitReady(port, [p], { expect: 'hello world\n' });
  return p;
}

function startTrellis(name, config, nodeArgs = [], proxyArgs = []) {
  const dir = tmpDir(name);
  const file = path.join(dir, 'proxy.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return start(name, process.execPath, [
    ...nodeArgs,
    PROXY_BIN,
    '--config',
    file,
    '--admin-port',
    '0',
    '--log-level',
    'warn',
    '--drain-timeout-ms',
    '1000',
    ...proxyArgs,
  ]);
}

/** Identities for the mTLS scenario (bench/proxy/certs.mjs): a folder per service, for --identity-dir. */
async function makeIdentities() {
  const dir = tmpDir('identities');
  const r = await runToEnd(
    'certs',
    TSX,
    [CERTS, '--out', dir, '--trust-domain', TRUST_DOMAIN, 'svc', 'bench-client'],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`certs.mjs failed:\n${r.stderr}`);
  const args = (service) => ['--identity-dir', path.join(dir, service), '--trust-domain', TRUST_DOMAIN];
  return { dir, args };
}

/** Full mTLS handshakes per second into the mTLS scenario's inbound sidecar, and its CPU per handshake. */
async function measureHandshakes(port, identityArgs, inbound) {
  const identity = identityArgs[1];
  const cpu0 = cpuSeconds(inbound.pid);
  const r = await runToEnd(
    'handshakes',
    process.execPath,
    [
      HANDSHAKES,
      '--port',
      String(port),
      '--identity',
      identity,
      '--seconds',
      String(S.duration),
      '--concurrency',
      '8',
    ],
    { timeoutMs: (S.duration + 30) * 1000 },
  );
  if (r.code !== 0) throw new Error(`handshakes.mjs failed:\n${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  const cpu = cpuSeconds(inbound.pid) - cpu0;
  return {
    ...result,
    perSecond: result.connections / result.seconds,
    inboundCpuMsPerHandshake: result.connections ? (cpu * 1000) / result.connections : null,
  };
}

/**
 * An idle sidecar as the demo runs one (bench/proxy/idle-rss.mjs: joined to a stub control plane speaking the real
 * stream protocol, its snapshot applied and its certificate issued, one request through each listener, then 30 s
 * of quiet, read at 5 s too), median of `S.runs`, beside a bare `node` process idling.
 */
async function measureIdleRss() {
  const r = await runToEnd(
    'idle-rss',
    TSX,
    [IDLE_RSS, '--proxy-bin', PROXY_BIN, '--samples', String(S.runs), '--settle-ms', '30000'],
    { timeoutMs: S.runs * 90_000 + 30_000 },
  );
  if (r.code !== 0) throw new Error(`idle-rss.mjs failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Starts the processes of one scenario; returns where the client should connect and which pids are "the proxy". */
async function startScenario(name, ports, upstreamPort) {
  switch (name) {
    case 'direct':
      return { port: upstreamPort, procs: [] };
    case 'trellis-1hop': {
      const p = startTrellis('trellis-1hop', trellisOutbound(ports.t1, upstreamPort));
      await waitReady(ports.t1, [p]);
      return { port: ports.t1, procs: [p] };
    }
    case 'trellis-2hop': {
      const inbound = startTrellis('trellis-2hop-inbound', trellisInbound(ports.t2in, upstreamPort));
      await waitReady(ports.t2in, [inbound]);
      const outbound = startTrellis('trellis-2hop-outbound', trellisOutbound(ports.t2out, ports.t2in));
      await waitReady(ports.t2out, [outbound, inbound]);
      return { port: ports.t2out, procs: [outbound, inbound] };
    }
    case 'trellis-2hop-mtls': {
      const identity = (await makeIdentities()).args;
      const inbound = startTrellis(
        'trellis-2hop-mtls-inbound',
        trellisInbound(ports.t2tlsIn, upstreamPort, { mtls: true }),
        [],
        identity('svc'),
      );
      const outbound = startTrellis(
        'trellis-2hop-mtls-outbound',
        trellisOutbound(ports.t2tlsOut, ports.t2tlsIn, { mtls: true }),
        [],
        identity('bench-client'),
      );
      await waitReady(ports.t2tlsOut, [outbound, inbound]);
      // Measured only once the inbound holds its certificate and refuses plaintext: from then on every request
      // that passes is mutual TLS.
      const until = Date.now() + 10_000;
      while ((await get(ports.t2tlsIn).catch(() => null))?.status === 200) {
        if (Date.now() > until) throw new Error('the mTLS inbound still answers plaintext after 10 s');
        await sleep(100);
      }
      return { port: ports.t2tlsOut, procs: [outbound, inbound], inboundPort: ports.t2tlsIn, identity };
    }
    case 'trellis-ingress-2w': {
      const p = startTrellis(
        'trellis-ingress-2w',
        trellisIngress(ports.tIngress, upstreamPort),
        [],
        ['--workers', '2'],
      );
      await waitReady(ports.tIngress, [p]);
      return { port: ports.tIngress, procs: [p] };
    }
    case 'nginx':
    case 'nginx-2w': {
      const port = name === 'nginx' ? ports.nginx : ports.nginx2;
      const p = await startNginx(name, port, upstreamPort, { workers: name === 'nginx' ? 1 : 2 });
      return { port, procs: [p], errorLogs: [p.errorLog] };
    }
    case 'nginx-2hop': {
      const back = await startNginx('nginx-2hop-inbound', ports.n2in, upstreamPort);
      const front = await startNginx('nginx-2hop-outbound', ports.n2out, ports.n2in);
      return { port: ports.n2out, procs: [front, back], errorLogs: [front.errorLog, back.errorLog] };
    }
    case 'nginx-2hop-mtls': {
      const { dir } = await makeIdentities();
      const files = (service) => ({
        cert: path.join(dir, service, 'cert.pem'),
        key: path.join(dir, service, 'key.pem'),
        roots: path.join(dir, service, 'roots.pem'),
      });
      const back = await startNginx('nginx-2hop-mtls-inbound', ports.n2tlsIn, upstreamPort, {
        serverTls: files('svc'),
      });
      const front = await startNginx('nginx-2hop-mtls-outbound', ports.n2tlsOut, ports.n2tlsIn, {
        upstreamTls: files('bench-client'),
      });
      return { port: ports.n2tlsOut, procs: [front, back], errorLogs: [front.errorLog, back.errorLog] };
    }
    case 'haproxy': {
      const dir = tmpDir('haproxy');
      const conf = path.join(dir, 'haproxy.cfg');
      fs.writeFileSync(conf, haproxyConf(ports.haproxy, upstreamPort));
      const t = await runToEnd('haproxy -c', 'haproxy', ['-c', '-f', conf], { timeoutMs: 10_000 });
      if (t.code !== 0) throw new Error(`haproxy rejected its config:\n${t.stdout}${t.stderr}`);
      const p = start('haproxy', 'haproxy', ['-f', conf, '-db']);
      await waitReady(ports.haproxy, [p]);
      return { port: ports.haproxy, procs: [p] };
    }
    case 'node-floor':
    case 'socket-floor':
    case 'engine-floor':
    case 'batch-floor': {
      const [script, port] = {
        'node-floor': [async () => NODE_FLOOR, ports.floor],
        'socket-floor': [async () => SOCKET_FLOOR, ports.socketFloor],
        'engine-floor': [bundleEngineFloor, ports.engineFloor],
        'batch-floor': [async () => BATCH_FLOOR, ports.batchFloor],
      }[name];
      const addon = name === 'batch-floor' ? ['--addon', await buildBatchIo()] : [];
      const p = startFloor(name, [await script(), ...addon], port, upstreamPort);
      await waitReady(port, [p]);
      return { port, procs: [p] };
    }
    case 'socket-floor-2hop': {
      const back = startFloor(name, [SOCKET_FLOOR], ports.sf2in, upstreamPort);
      await waitReady(ports.sf2in, [back]);
      const front = startFloor(name, [SOCKET_FLOOR], ports.sf2out, ports.sf2in);
      await waitReady(ports.sf2out, [front, back]);
      return { port: ports.sf2out, procs: [front, back] };
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

/** A floor proxy (`script` and its own arguments) listening on `port`, in front of `to`. */
function startFloor(name, scriptArgs, port, to) {
  return start(name, process.execPath, [
    ...scriptArgs,
    '--port',
    String(port),
    '--upstream-port',
    String(to),
  ]);
}

/**
 * One nginx (master and workers) on `port` in a directory of its own, its config checked first; `options` as
 * nginxConf takes them. The process carries the path of its error log.
 */
async function startNginx(name, port, upstreamPort, options = {}) {
  const dir = tmpDir(name);
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConf(dir, port, upstreamPort, options));
  const args = ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', conf];
  const t = await runToEnd('nginx -t', 'nginx', ['-t', ...args], { timeoutMs: 10_000 });
  if (t.code !== 0) throw new Error(`nginx rejected its config:\n${t.stderr}`);
  const p = start(name, 'nginx', [...args, '-g', 'daemon off;']);
  // On its TLS port nginx answers a plaintext request with 400: it is up.
  await waitReady(port, [p], { status: options.serverTls ? 400 : 200 });
  p.errorLog = path.join(dir, 'error.log');
  return p;
}

/** bench/proxy/batch-io.c compiled against this node's headers, in a temporary directory: the addon's path. */
async function buildBatchIo() {
  const addon = path.join(tmpDir('batch-io'), 'batch-io.node');
  const cc = await runToEnd(
    'cc',
    'cc',
    ['-O2', '-shared', '-fPIC', `-I${NODE_INCLUDE}`, '-o', addon, BATCH_IO],
    {
      timeoutMs: 60_000,
    },
  );
  if (cc.code !== 0) throw new Error(`batch-io.c did not compile:\n${cc.stdout}${cc.stderr}`);
  return addon;
}

/** bench/proxy/engine-floor.ts bundled as the proxy is (scripts/bundle.mjs), in a temporary directory. */
async function bundleEngineFloor() {
  const { bundleNode } = await import('../../scripts/bundle.mjs');
  const outfile = path.join(tmpDir('engine-floor'), 'engine-floor.mjs');
  await bundleNode({ entryPoints: [ENGINE_FLOOR], outfile, sourcemap: false });
  return outfile;
}

/** Every scenario must serve the right bodies before it is measured. */
async function verifyScenario(name, port) {
  const small = await get(port, '/', 'svc');
  const big = await get(port, '/1k', 'svc');
  if (small.status !== 200 || small.body.length !== S.peakBodyBytes)
    throw new Error(
      `${name}: GET / answered ${small.status} with ${small.body.length} bytes, want 200 and 12`,
    );
  if (big.status !== 200 || big.body.length !== S.latBodyBytes)
    throw new Error(
      `${name}: GET /1k answered ${big.status} with ${big.body.length} bytes, want 200 and 1024`,
    );
}

// ---- wrk ----------------------------------------------------------------------------------------------------------
function toMs(value, unit) {
  const v = Number(value);
  return unit === 'us'
    ? v / 1000
    : unit === 'ms'
      ? v
      : unit === 's'
        ? v * 1000
        : unit === 'm'
          ? v * 60_000
          : v;
}

function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const latency = {};
  for (const m of out.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm))
    latency[`p${m[1]}`] = toMs(m[2], m[3]);
  const req = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: req ? Number(req[1]) : null,
    seconds: req ? toMs(req[2], req[3]) / 1000 : null,
    non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    socketErrors: sock
      ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    latencyMs: latency,
  };
}

async function wrk(port, seconds) {
  const args = [
    `-t${S.wrkThreads}`,
    `-c${S.wrkConnections}`,
    `-d${seconds}s`,
    '--latency',
    '-H',
    'Host: svc',
    `http://127.0.0.1:${port}/`,
  ];
  const r = await runToEnd('wrk', 'wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  if (r.timedOut) throw new Error(`wrk did not finish within ${seconds + 30} s`);
  if (r.code !== 0) throw new Error(`wrk failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  const parsed = parseWrk(r.stdout);
  if (parsed.rps === null) throw new Error(`could not parse wrk output:\n${r.stdout}${r.stderr}`);
  const errors =
    parsed.non2xx3xx +
    parsed.socketErrors.connect +
    parsed.socketErrors.read +
    parsed.socketErrors.write +
    parsed.socketErrors.timeout;
  return { ...parsed, errors, stderr: r.stderr.trim() || undefined };
}

// ---- open loop ------------------------------------------------------------------------------------------------------
async function openLoop(port) {
  const args = [
    OPEN_LOOP,
    '--url',
    `http://127.0.0.1:${port}/1k`,
    '--host',
    'svc',
    '--rate',
    String(S.rate),
    '--connections',
    String(S.latConnections),
    '--duration',
    String(S.latDuration),
    '--warmup',
    String(S.latWarmup),
    '--expect-bytes',
    String(S.latBodyBytes),
  ];
  const limit = (S.latDuration + S.latWarmup + 45) * 1000;
  const r = await runToEnd('open-loop', process.execPath, args, { timeoutMs: limit });
  if (r.code !== 0) throw new Error(`open-loop generator failed (exit ${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  if (r.stderr.trim()) out.stderr = r.stderr.trim();
  return out;
}

const LADDER = [0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];
/** Nearest-rank percentile of a sorted array. */
function percentile(sorted, p) {
  if (!sorted.length) return null;
  if (p <= 0) return sorted[0];
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
function ladderMs(sortedUs) {
  const out = {};
  for (const p of LADDER) out[`p${p}`] = sortedUs.length ? percentile(sortedUs, p) / 1000 : null;
  out.mean = sortedUs.length ? sortedUs.reduce((a, b) => a + b, 0) / sortedUs.length / 1000 : null;
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- profile ----------------------------------------------------------------------------------------------------------
async function profileOneHop(port, upstreamPort) {
  const dir = tmpDir('profile');
  const seconds = Math.min(S.duration, 10);
  log(`profiling the one-hop proxy under node --cpu-prof (${seconds} s of wrk)…`);
  const p = startTrellis('trellis-1hop-profiled', trellisOutbound(port, upstreamPort), [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-name=proxy.cpuprofile',
  ]);
  const spawnedAt = Date.now();
  await waitReady(port, [p]);
  const warm = Math.min(3, S.warmup);
  if (warm > 0) await wrk(port, warm);
  const skipMs = Date.now() - spawnedAt; // start-up and warm-up are left out of the summary
  const run = await wrk(port, seconds);
  await stop(p, 15_000); // SIGTERM: the proxy drains and exits, which writes the profile
  const file = path.join(dir, 'proxy.cpuprofile');
  if (!fs.existsSync(file))
    throw new Error(`node --cpu-prof wrote no profile (proxy output: ${p.logs.join(' | ')})`);
  const dest = path.join(RESULTS, 'proxy-latest.cpuprofile');
  fs.copyFileSync(file, dest);
  fs.chmodSync(dest, 0o644);
  const summary = summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')), 15, { skipMs });
  return {
    file: path.relative(ROOT, dest),
    wrkSeconds: seconds,
    rpsUnderProfiler: run.rps,
    errors: run.errors,
    summary,
  };
}

// ---- formatting -------------------------------------------------------------------------------------------------------
const LABELS = {
  direct: 'direct (no proxy)',
  'trellis-1hop': 'Trellis, 1 hop',
  'trellis-2hop': 'Trellis, 2 hops (mesh path)',
  'trellis-2hop-mtls': 'Trellis, 2 hops, mutual TLS (strict)',
  'trellis-ingress-2w': 'Trellis ingress, 2 workers',
  nginx: 'nginx, 1 worker',
  'nginx-2w': 'nginx, 2 workers',
  haproxy: 'HAProxy, 1 thread',
  'node-floor': 'bare Node http + undici proxy (floor)',
  'socket-floor': 'bare Node proxy on raw sockets (socket floor)',
  'batch-floor': 'the same with its socket I/O in C, batched (batch floor)',
  'engine-floor': "Trellis's engine alone, nothing above it (engine floor)",
  'nginx-2hop': 'nginx, 2 hops (1 worker each)',
  'nginx-2hop-mtls': 'nginx, 2 hops, mutual TLS',
  'socket-floor-2hop': 'socket floor, 2 hops',
};
const fmtInt = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const fmtMs = (n) => (n === null || n === undefined ? '—' : n.toFixed(3));
const fmtAdd = (n) => (n === null || n === undefined ? '—' : `${n >= 0 ? '+' : ''}${n.toFixed(3)}`);
const fmtMiB = (b) => (b ? (b / 2 ** 20).toFixed(1) : '—');
const fmtCpu = (n) => (n === null || n === undefined ? '—' : n.toFixed(4));

/** The scenarios whose processes are sidecars (one proxy process each), for the per-proxy memory target. */
const SIDECAR_SCENARIOS = ['trellis-1hop', 'trellis-2hop', 'trellis-2hop-mtls'];
const MiB = 2 ** 20;

/** The targets table: each target from this run's own measurements, PASS, MISS, INVALID (errors) or N/A. */
function computeTargets(by, idle, perProcessRss) {
  const targets = [];
  const row = (id, measured, result) => targets.push({ id, target: TARGETS[id], measured, result });
  const invalid = (...xs) => xs.some((x) => x.peak.errors || x.latency.errors);
  const one = by['trellis-1hop'];
  for (const [id, peer, label, least] of [
    ['oneHopVsNginx', 'nginx', 'nginx not available', 0.75],
    ['oneHopVsFloor', 'node-floor', 'node-floor not run', 1.5],
  ]) {
    const other = by[peer];
    if (!one || !other) {
      row(id, one ? label : 'trellis-1hop not run', 'N/A');
      continue;
    }
    const ratio = one.peak.medianRps / other.peak.medianRps;
    const stretch = id === 'oneHopVsNginx' && ratio >= 1 ? ' (stretch too)' : '';
    row(
      id,
      `${fmtInt(one.peak.medianRps)} vs ${fmtInt(other.peak.medianRps)} req/s (${ratio.toFixed(2)}×)`,
      one.peak.errors || other.peak.errors ? 'INVALID' : ratio >= least ? `PASS${stretch}` : 'MISS',
    );
  }
  // Beside each, what two hops of the reference proxies added in the same run.
  const references = (names, key) =>
    names
      .filter((n) => by[n] && !invalid(by[n], by.direct))
      .map((n) => `; ${LABELS[n]}: ${fmtAdd(by[n].latency.addedMs[key])} ms`)
      .join('');
  for (const [id, scenario, key, limit, peers] of [
    ['twoHopP50', 'trellis-2hop', 'p50', 0.25, ['nginx-2hop', 'socket-floor-2hop']],
    ['twoHopP99', 'trellis-2hop', 'p99', 2, ['nginx-2hop', 'socket-floor-2hop']],
    ['mtlsP50', 'trellis-2hop-mtls', 'p50', 0.4, ['nginx-2hop-mtls']],
  ]) {
    const t = by[scenario];
    if (!t) {
      row(id, `${scenario} not run`, 'N/A');
      continue;
    }
    const added = t.latency.addedMs[key];
    row(
      id,
      `${fmtAdd(added)} ms (${fmtMs(t.latency.ms[key])} vs ${fmtMs(by.direct.latency.ms[key])})${references(peers, key)}`,
      invalid(t, by.direct) ? 'INVALID' : added <= limit ? 'PASS' : 'MISS',
    );
  }
  if (!one) row('cpuPerHop', 'trellis-1hop not run', 'N/A');
  else {
    const perHop = one.peak.proxyCpuSecondsPer1k; // s per 1000 requests = ms per request
    const two = by['trellis-2hop']?.peak.proxyCpuSecondsPer1k;
    const floor = by['socket-floor']?.peak.proxyCpuSecondsPer1k;
    const batched = by['batch-floor']?.peak.proxyCpuSecondsPer1k;
    const engine = by['engine-floor']?.peak.proxyCpuSecondsPer1k;
    row(
      'cpuPerHop',
      `${perHop.toFixed(4)} ms (one hop at peak)${two === undefined ? '' : `; two hops: ${(two / 2).toFixed(4)} ms per hop`}` +
        `${floor === undefined ? '' : `; the socket floor: ${floor.toFixed(4)} ms`}` +
        `${engine === undefined ? '' : `; the engine floor: ${engine.toFixed(4)} ms`}` +
        `${batched === undefined ? '' : `; the batch floor: ${batched.toFixed(4)} ms`}`,
      one.peak.errors ? 'INVALID' : perHop <= 0.07 ? 'PASS' : 'MISS',
    );
  }
  if (!idle) row('idleRss', 'not measured (--idle-rss 0, or it failed: see the notes)', 'N/A');
  else {
    const rss = idle.sidecar.rss / MiB;
    row(
      'idleRss',
      `${rss.toFixed(1)} MiB (a bare node process: ${(idle.floor.rss / MiB).toFixed(1)} MiB)`,
      rss <= 50 ? 'PASS' : 'MISS',
    );
  }
  if (perProcessRss.length === 0) row('peakRss', 'no Trellis sidecar scenario run', 'N/A');
  else {
    const worst = perProcessRss.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    row(
      'peakRss',
      `${(worst.bytes / MiB).toFixed(1)} MiB VmHWM (${worst.process}, the highest of ${perProcessRss.length} sidecar processes)`,
      worst.bytes / MiB <= 80 ? 'PASS' : 'MISS',
    );
  }
  return targets;
}

/** "What the memory is": the idle sidecar's resident memory taken apart, against a bare node process. */
function memoryTable(idle) {
  const f = idle.floor;
  const s = idle.sidecar;
  const after = s.afterScrape ?? s;
  const spaces = Object.values(s.heap).reduce((sum, x) => sum + x.size, 0);
  const size = (space) => s.heap[space]?.size ?? 0;
  const heapAbove = spaces - f.heap.total;
  const outside = after.anon - f.anon - heapAbove;
  const rows = [
    ['a bare Node 20 process idling (`node -e`: the binary, V8, libuv)', f.rss],
    ["more of node's binary paged in (TLS, crypto, the optimizing compiler, ICU)", after.file - f.file],
    ["V8 heap, above the bare process's", heapAbove],
    ['outside the V8 heap (malloc: OpenSSL, sockets, libuv)', outside],
  ];
  const L = ['| part | MiB |', '|---|---:|'];
  for (const [part, bytes] of rows) L.push(`| ${part} | ${(bytes / MiB).toFixed(1)} |`);
  L.push(`| **the sidecar** | **${(after.rss / MiB).toFixed(1)}** |`);
  L.push('');
  L.push(
    `The sidecar's V8 heap: ${fmtMiB(size('old'))} MiB old space (objects, bytecode, the bundle's source), ` +
      `${fmtMiB(size('new'))} MiB new space (the young generation), ${fmtMiB(size('large_object'))} MiB large ` +
      `objects, ${fmtMiB(size('code'))} MiB code; the bare process's: ${fmtMiB(f.heap.total)} MiB in all.`,
  );
  return L.join('\n');
}

function markdown(report) {
  const { settings: s, machine: m, scenarios, targets } = report;
  const L = [];
  L.push('# Trellis proxy benchmark');
  L.push('');
  L.push(
    `${report.date} · commit \`${report.build.git.commit?.slice(0, 12) ?? '?'}\`` +
      `${report.build.git.proxySourceDirty ? ' (proxy/schema source has uncommitted changes)' : ''}` +
      ` · bundle \`${report.build.bundle}\` (${fmtInt(report.build.bundleBytes / 1024)} KiB) sha256 ${report.build.bundleSha256}…` +
      `${report.build.olderThanSource ? ' **(older than the source)**' : ''}`,
  );
  L.push('');
  L.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores (shared by wrk/the generator, the upstream and the proxies), ` +
      `${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}; ${m.wrk ?? 'wrk ?'}; ${m.nginx ?? 'nginx: n/a'}; ` +
      `${m.haproxy?.replace(/ - https.*/, '') ?? 'haproxy: n/a'}.`,
  );
  L.push('');
  L.push(
    `Settings: peak ${s.runs} × ${s.duration} s per scenario (+${s.warmup} s warm-up), latency ${s.runs} × ` +
      `${s.latDuration} s at ${s.rate} req/s (+${s.latWarmup} s warm-up each, excluded). ` +
      `Command: \`${report.command}\`.`,
  );
  L.push('');
  L.push(
    `## Peak throughput — \`wrk -t${s.wrkThreads} -c${s.wrkConnections} -d${s.duration}s --latency\`, ` +
      `${s.peakBodyBytes}-byte body, median of ${s.runs}`,
  );
  L.push('');
  L.push(
    '| scenario | req/s | vs direct | runs (req/s) | wrk p50 / p99 ms (median run) | proxy CPU s / 1k req | proxy peak RSS MiB | box busy / other cores / steal | errors |',
  );
  L.push('|---|---:|---:|---|---:|---:|---:|---:|---:|');
  for (const sc of scenarios) {
    const p = sc.peak;
    if (!p) continue;
    const last = p.runs.find((r) => r.rps === p.medianRps) ?? p.runs[0]; // the median run
    L.push(
      `| ${LABELS[sc.name]} | ${fmtInt(p.medianRps)} | ${p.ratioToDirect === null ? '—' : `${p.ratioToDirect.toFixed(2)}×`} | ` +
        `${p.runs.map((r) => fmtInt(r.rps)).join(' / ')} | ${fmtMs(last?.latencyMs?.p50)} / ${fmtMs(last?.latencyMs?.p99)} | ` +
        `${sc.name === 'direct' ? '—' : fmtCpu(p.proxyCpuSecondsPer1k)} | ${sc.name === 'direct' ? '—' : fmtMiB(sc.proxyPeakRssBytes)} | ` +
        `${p.medianBoxBusyPercent.toFixed(0)}% / ${p.maxOtherCores.toFixed(2)} / ${p.maxStealPercent.toFixed(1)}% | ${p.errors ? `**${p.errors} (INVALID)**` : '0'} |`,
    );
  }
  L.push('');
  L.push(
    'Proxy CPU = utime+stime of the proxy process(es) during the measured runs (both proxies for two hops, master + ' +
      'worker for nginx) ÷ requests served × 1000. Peak RSS = VmHWM summed over those processes, over the whole run. ' +
      'Box busy = median share of both cores in use during the runs; other cores = the most CPU that processes ' +
      'outside the benchmark took during any run (should be ~0); steal = the most of the machine its hypervisor ' +
      'gave to other virtual machines during any run (should be ~0: with a few percent the runs measured a machine ' +
      'that was not all there).',
  );
  L.push('');
  L.push(
    `## Latency at ${s.rate} req/s — open loop, ${s.latConnections} keep-alive connections, ` +
      `${s.latBodyBytes}-byte body (ms, from the intended send time; ${s.runs} × ${s.latDuration} s pooled)`,
  );
  L.push('');
  L.push(
    '| scenario | p50 | p90 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 | p99 per run | samples | steal | errors |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const sc of scenarios) {
    const l = sc.latency;
    if (!l) continue;
    const a = l.addedMs ?? {};
    L.push(
      `| ${LABELS[sc.name]} | ${fmtMs(l.ms.p50)} | ${fmtMs(l.ms.p90)} | ${fmtMs(l.ms.p99)} | ${fmtMs(l.ms['p99.9'])} | ` +
        `${sc.name === 'direct' ? '—' : fmtAdd(a.p50)} | ${sc.name === 'direct' ? '—' : fmtAdd(a.p90)} | ` +
        `${sc.name === 'direct' ? '—' : fmtAdd(a.p99)} | ${sc.name === 'direct' ? '—' : fmtAdd(a['p99.9'])} | ` +
        `${l.runs.map((r) => fmtMs(r.ms.p99)).join(' / ')} | ` +
        `${fmtInt(l.samples)} | ${l.maxStealPercent.toFixed(1)}% | ${l.errors ? `**${l.errors} (INVALID)**` : '0'} |`,
    );
  }
  const lag = scenarios.find((x) => x.name === 'direct')?.latency?.schedulerLagMs;
  L.push('');
  L.push(
    `Every number includes the generator's own send lag (median ${fmtMs(lag?.p50)} ms, p99 ${fmtMs(lag?.p99)} ms in ` +
      'the direct runs), which is the same for every scenario and cancels out in the "added" columns. ' +
      '"added" = scenario percentile − direct percentile. Steal: the most of the machine its hypervisor gave to ' +
      "other virtual machines during any of the scenario's runs.",
  );
  const mtls = scenarios.find((x) => x.name === 'trellis-2hop-mtls');
  const plain = scenarios.find((x) => x.name === 'trellis-2hop');
  if (mtls?.latency && plain?.latency) {
    const cost = (k) => fmtAdd(mtls.latency.ms[k] - plain.latency.ms[k]);
    L.push('');
    L.push('## Mutual TLS');
    L.push('');
    L.push(
      `What mutual TLS adds to the two-hop path (mTLS row − plaintext row, same run): p50 ${cost('p50')} ms, ` +
        `p90 ${cost('p90')} ms, p99 ${cost('p99')} ms, p99.9 ${cost('p99.9')} ms at ${s.rate} req/s; peak ` +
        `${fmtInt(mtls.peak?.medianRps)} vs ${fmtInt(plain.peak?.medianRps)} req/s.`,
    );
  }
  if (report.handshakes) {
    const h = report.handshakes;
    L.push('');
    L.push(
      `New connections: ${fmtInt(h.perSecond)} full mTLS handshakes per second into one inbound sidecar ` +
        `(8 clients, each connection a TLS 1.3 handshake with a client certificate and one request; ` +
        `${h.seconds.toFixed(1)} s, ${fmtInt(h.connections)} connections, ${h.errors} errors), ` +
        `${h.inboundCpuMsPerHandshake === null ? '—' : h.inboundCpuMsPerHandshake.toFixed(2)} ms of the ` +
        "sidecar's CPU per connection.",
    );
  }
  if (report.idleRss) {
    const idle = report.idleRss;
    const s = idle.sidecar;
    L.push('');
    L.push('## Idle sidecar RSS');
    L.push('');
    L.push(
      `A sidecar as the demo runs one (bench/proxy/idle-rss.mjs): joined to a control plane (a stub speaking the ` +
        'stream protocol, with a slice shaped like the demo mesh), its snapshot applied, its certificate issued, ' +
        `one request through each listener, then ${idle.settleMs / 1000} s idle: **${fmtMiB(s.rss)} MiB** VmRSS ` +
        `(median of ${idle.samples.sidecarRss.length}: ${idle.samples.sidecarRss.map(fmtMiB).join(' / ')}), ` +
        `VmHWM ${fmtMiB(s.hwm)} MiB since it started. A bare \`node\` process idling: ${fmtMiB(idle.floor.rss)} MiB.` +
        (s.early
          ? ` ${s.early.ms / 1000} s after the requests it stood at ${fmtMiB(s.early.rss)} MiB: it keeps the schemas it ` +
            'validated with for 3 s after the last config message, and V8 returns freed pages at its next ' +
            'memory-reducing collection, some seconds later.'
          : ''),
    );
    L.push('');
    L.push(
      `What the memory is (the median sample; read after a /metrics scrape, which loads prom-client and so ` +
        `stands at ${fmtMiB(s.afterScrape?.rss ?? s.rss)} MiB; heap figures from that scrape):`,
    );
    L.push('');
    L.push(memoryTable(idle));
  }
  if (report.perProcessPeakRss?.length) {
    L.push('');
    L.push(
      `Peak RSS (VmHWM) of each sidecar process over the whole run: ${report.perProcessPeakRss
        .map((p) => `${p.process} ${fmtMiB(p.bytes)} MiB`)
        .join(', ')}.`,
    );
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| target | measured | result |');
  L.push('|---|---|---|');
  for (const t of targets) L.push(`| ${t.target} | ${t.measured} | **${t.result}** |`);
  if (report.notes.length) {
    L.push('');
    L.push('## Notes');
    L.push('');
    for (const n of report.notes) L.push(`- ${n}`);
  }
  if (report.profile) {
    L.push('');
    L.push('## Where the time goes');
    L.push('');
    L.push(
      `One Trellis hop under \`node --cpu-prof\`, driven by \`wrk -t${s.wrkThreads} -c${s.wrkConnections} ` +
        `-d${report.profile.wrkSeconds}s\` (${fmtInt(report.profile.rpsUnderProfiler)} req/s under the profiler). ` +
        `Profile: \`${report.profile.file}\` (open in Chrome DevTools or VS Code; \`node bench/proxy/cpuprofile.mjs ` +
        `${report.profile.file}\` re-prints this summary).`,
    );
    L.push('');
    L.push(profileMarkdown(report.profile.summary));
  }
  return `${L.join('\n')}\n`;
}

// ---- main ---------------------------------------------------------------------------------------------------------------
async function main() {
  const started = Date.now();
  log('Trellis proxy benchmark');
  log(
    `settings: duration=${S.duration}s runs=${S.runs} warmup=${S.warmup}s lat-duration=${S.latDuration}s ` +
      `lat-warmup=${S.latWarmup}s rate=${S.rate}/s scenarios=${S.scenarios.join(',')} profile=${S.profile} ` +
      `(env BENCH_DURATION, BENCH_RUNS, BENCH_WARMUP, BENCH_LAT_DURATION, BENCH_LAT_WARMUP, BENCH_RATE, ` +
      `BENCH_SCENARIOS, BENCH_PROFILE)`,
  );
  // A watchdog on top of every bounded step.
  const expectedS =
    S.scenarios.length * (S.warmup + S.runs * (S.duration + 1) + S.runs * (S.latDuration + S.latWarmup + 2)) +
    (S.idleRss ? S.runs * 15 : 0) +
    60;
  setTimeout(
    () => shutdown(1, `bench: watchdog: still running after ${2 * expectedS + 600} s, giving up`),
    (2 * expectedS + 600) * 1000,
  ).unref();

  await ensureTools();
  const build = { ...(await ensureBuild()), git: gitInfo() };
  fs.mkdirSync(RESULTS, { recursive: true });
  const machine = machineInfo();
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`);
  log(`estimated time: ~${Math.round(expectedS / 60)} min`);

  // First, on a quiet machine: nothing else of the benchmark runs yet.
  let idle = null;
  if (S.idleRss) {
    try {
      log(`idle sidecar RSS: ${S.runs} sample(s)…`);
      idle = await measureIdleRss();
      log(
        `idle sidecar RSS ${fmtMiB(idle.sidecar.rss)} MiB (a bare node process: ${fmtMiB(idle.floor.rss)} MiB)`,
      );
    } catch (error) {
      note(`the idle RSS measurement failed: ${error.message}`);
    }
  }

  const scenarioPorts = [
    't1',
    't2in',
    't2out',
    'nginx',
    'haproxy',
    'floor',
    't2tlsIn',
    't2tlsOut',
    'tIngress',
    'nginx2',
    'socketFloor',
    'engineFloor',
    'batchFloor',
    'n2in',
    'n2out',
    'n2tlsIn',
    'n2tlsOut',
    'sf2in',
    'sf2out',
  ];
  const [up, prof, ...picked] = await freePorts(2 + scenarioPorts.length);
  const ports = Object.fromEntries(scenarioPorts.map((name, i) => [name, picked[i]]));
  const upstream = await startUpstream(up);
  const stacks = {};
  for (const name of S.scenarios) {
    try {
      stacks[name] = await startScenario(name, ports, up);
      await verifyScenario(name, stacks[name].port);
      log(`started ${name} on 127.0.0.1:${stacks[name].port}`);
    } catch (error) {
      if (name.startsWith('nginx') || name === 'haproxy' || name === 'batch-floor') {
        note(
          `${name} could not be started, skipped: ${error.message
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
            .join(' | ')
            .slice(0, 600)}`,
        );
        for (const p of stacks[name]?.procs ?? []) await stop(p);
        delete stacks[name];
        continue;
      }
      throw error;
    }
  }
  const names = S.scenarios.filter((n) => stacks[n]);
  const allPids = (name) => stacks[name].procs.map((p) => p.pid);
  const proxyCpu = (name) => allPids(name).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  // CPU of everything the benchmark runs (all stacks, the upstream, this script and its finished children), to
  // tell how much of the machine other processes took during a run.
  const benchmarkCpu = () =>
    cpuSeconds(upstream.pid) + names.reduce((s, n) => s + proxyCpu(n), 0) + selfAndChildrenCpuSeconds();
  const checkAlive = (name) => {
    for (const p of [upstream, ...stacks[name].procs]) {
      if (p.done) throw new Error(`${p.name} died during the ${name} scenario:\n  ${p.logs.join('\n  ')}`);
    }
  };

  // Peak: warm each scenario up, then interleave the measured runs (rotating the order) so that drift on a shared
  // machine spreads over all scenarios instead of penalising whichever ran last.
  const peak = Object.fromEntries(names.map((n) => [n, []]));
  if (S.warmup > 0) {
    for (const name of names) {
      log(`peak: warm-up ${name} (${S.warmup} s)`);
      const w = await wrk(stacks[name].port, S.warmup);
      if (w.errors) note(`${name}: the warm-up run had ${w.errors} errors`);
    }
  }
  for (let run = 0; run < S.runs; run++) {
    const order = names.map((_, i) => names[(i + run) % names.length]);
    for (const name of order) {
      checkAlive(name);
      await sleep(500);
      const cpu0 = proxyCpu(name);
      const up0 = cpuSeconds(upstream.pid);
      const all0 = benchmarkCpu();
      const box0 = machineCpu();
      const r = await wrk(stacks[name].port, S.duration);
      const box1 = machineCpu();
      const all1 = benchmarkCpu();
      r.proxyCpuSeconds = proxyCpu(name) - cpu0;
      r.upstreamCpuSeconds = cpuSeconds(upstream.pid) - up0;
      r.boxBusyPercent = busyPercent(box0, box1);
      r.otherCores = otherCores(box0, box1, all1 - all0);
      r.stealPercent = stealPercent(box0, box1);
      peak[name].push(r);
      log(
        `peak: ${name} run ${run + 1}/${S.runs}: ${fmtInt(r.rps)} req/s` +
          `${name === 'direct' ? '' : `, proxy CPU ${r.proxyCpuSeconds.toFixed(2)} s`}, box ${r.boxBusyPercent.toFixed(0)}% busy` +
          `, other processes ${r.otherCores.toFixed(2)} cores, steal ${r.stealPercent.toFixed(1)}%` +
          `${r.errors ? `, ${r.errors} ERRORS (non-2xx ${r.non2xx3xx}, socket ${JSON.stringify(r.socketErrors)})` : ''}`,
      );
    }
  }

  // Latency: open loop at a fixed rate, interleaved the same way; samples are pooled over the runs.
  const lat = Object.fromEntries(names.map((n) => [n, { runs: [], samples: [] }]));
  for (let run = 0; run < S.runs; run++) {
    const order = names.map((_, i) => names[(i + run) % names.length]);
    for (const name of order) {
      checkAlive(name);
      await sleep(500);
      const all0 = benchmarkCpu();
      const box0 = machineCpu();
      const o = await openLoop(stacks[name].port);
      const box1 = machineCpu();
      o.otherCores = otherCores(box0, box1, benchmarkCpu() - all0);
      o.stealPercent = stealPercent(box0, box1);
      const sorted = Float64Array.from(o.latencyUs).sort();
      const errors = o.errors + o.non2xx + o.badBody + o.incomplete;
      lat[name].runs.push({
        ...Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'latencyUs')),
        samples: sorted.length,
        errorsTotal: errors,
        ms: ladderMs(sorted),
      });
      for (const v of o.latencyUs) lat[name].samples.push(v);
      log(
        `latency: ${name} run ${run + 1}/${S.runs}: p50 ${fmtMs(percentile(sorted, 50) / 1000)} ms, p99 ` +
          `${fmtMs(percentile(sorted, 99) / 1000)} ms, ${sorted.length} samples, generator ${o.generatorCpuPercent.toFixed(0)}% CPU` +
          `, steal ${o.stealPercent.toFixed(1)}%` +
          `${errors ? `, ${errors} ERRORS ${JSON.stringify(o.errorKinds)}` : ''}`,
      );
    }
  }

  // Memory: VmHWM over the whole run, read before anything is stopped.
  const rss = Object.fromEntries(
    names.map((n) => [n, allPids(n).reduce((s, pid) => s + peakRssBytes(pid), 0)]),
  );
  const upstreamRss = peakRssBytes(upstream.pid);
  // Each sidecar process on its own (the target is per proxy; the rows above sum a scenario's processes).
  const perProcessRss = names
    .filter((n) => SIDECAR_SCENARIOS.includes(n))
    .flatMap((n) =>
      stacks[n].procs.map((p) => ({ scenario: n, process: p.name, bytes: peakRssBytes(p.pid) })),
    );

  // ---- assemble ----
  const directRps = median(peak.direct.map((r) => r.rps));
  const directLat = Float64Array.from(lat.direct.samples).sort();
  const scenarios = names.map((name) => {
    const runs = peak[name];
    const requests = runs.reduce((s, r) => s + (r.requests ?? 0), 0);
    const cpu = runs.reduce((s, r) => s + r.proxyCpuSeconds, 0);
    const upCpu = runs.reduce((s, r) => s + r.upstreamCpuSeconds, 0);
    const medianRps = median(runs.map((r) => r.rps));
    const sorted = Float64Array.from(lat[name].samples).sort();
    const ms = ladderMs(sorted);
    const directMs = ladderMs(directLat);
    const addedMs = {};
    for (const k of ['p50', 'p90', 'p99', 'p99.9']) addedMs[k] = ms[k] - directMs[k];
    const lagP50 = median(lat[name].runs.map((r) => r.schedulerLagUs.p50)) / 1000;
    const lagP99 = median(lat[name].runs.map((r) => r.schedulerLagUs.p99)) / 1000;
    return {
      name,
      label: LABELS[name],
      port: stacks[name].port,
      processes: stacks[name].procs.map((p) => p.name),
      peak: {
        medianRps,
        ratioToDirect: directRps ? medianRps / directRps : null,
        requests,
        proxyCpuSeconds: name === 'direct' ? null : cpu,
        proxyCpuSecondsPer1k: name === 'direct' || !requests ? null : (cpu / requests) * 1000,
        upstreamCpuSecondsPer1k: requests ? (upCpu / requests) * 1000 : null,
        medianBoxBusyPercent: median(runs.map((r) => r.boxBusyPercent)),
        maxOtherCores: Math.max(...runs.map((r) => r.otherCores)),
        maxStealPercent: Math.max(...runs.map((r) => r.stealPercent ?? 0)),
        errors: runs.reduce((s, r) => s + r.errors, 0),
        runs,
      },
      latency: {
        samples: sorted.length,
        errors: lat[name].runs.reduce((s, r) => s + r.errorsTotal, 0),
        ms,
        addedMs: name === 'direct' ? null : addedMs,
        schedulerLagMs: { p50: lagP50, p99: lagP99 },
        maxStealPercent: Math.max(...lat[name].runs.map((r) => r.stealPercent ?? 0)),
        runs: lat[name].runs,
      },
      proxyPeakRssBytes: name === 'direct' ? null : rss[name],
    };
  });
  const by = Object.fromEntries(scenarios.map((s) => [s.name, s]));

  // ---- targets ----
  const targets = computeTargets(by, idle, perProcessRss);

  const anyMiss = targets.some((t) => t.result === 'MISS');
  for (const sc of scenarios) {
    const disturbed = [
      ...sc.peak.runs.map((r, i) => ({ what: `peak run ${i + 1}`, cores: r.otherCores })),
      ...sc.latency.runs.map((r, i) => ({ what: `latency run ${i + 1}`, cores: r.otherCores })),
    ].filter((d) => d.cores > 0.15);
    const stolen = [
      ...sc.peak.runs.map((r, i) => ({ what: `peak run ${i + 1}`, percent: r.stealPercent ?? 0 })),
      ...sc.latency.runs.map((r, i) => ({ what: `latency run ${i + 1}`, percent: r.stealPercent ?? 0 })),
    ].filter((d) => d.percent >= STEAL_DISTURBED_PERCENT);
    if (stolen.length) {
      note(
        `${sc.name}: the hypervisor took ${stolen.map((d) => `${d.percent.toFixed(0)} % (${d.what})`).join(', ')} ` +
          'of the machine: those runs are disturbed',
      );
    }
    if (disturbed.length) {
      note(
        `${sc.name}: processes outside the benchmark were using CPU during ` +
          `${disturbed.map((d) => `${d.what} (${d.cores.toFixed(2)} cores)`).join(', ')}: those runs are disturbed`,
      );
    }
  }
  const invalidScenarios = scenarios.filter((s) => s.peak.errors || s.latency.errors).map((s) => s.name);
  if (invalidScenarios.length) {
    note(
      `runs with errors (not valid): ${invalidScenarios.join(', ')} — see the errors columns and the JSON`,
    );
  }
  for (const [name, nginxLog] of names.flatMap((n) => (stacks[n].errorLogs ?? []).map((log) => [n, log]))) {
    if (!fs.existsSync(nginxLog)) continue;
    const lines = fs
      .readFileSync(nginxLog, 'utf8')
      .split('\n')
      .filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
    if (lines.length) note(`${name} error log has ${lines.length} error lines, e.g. ${lines[0]}`);
  }
  for (const name of names) {
    for (const p of stacks[name].procs) {
      const interesting = p.logs.filter((l) => !/^\s*$/.test(l));
      if (interesting.length) {
        note(`${p.name} printed ${interesting.length} line(s), e.g. ${interesting[0].slice(0, 300)}`);
      }
    }
  }

  let handshakes = null;
  const tlsStack = stacks['trellis-2hop-mtls'];
  if (tlsStack) {
    try {
      handshakes = await measureHandshakes(
        tlsStack.inboundPort,
        tlsStack.identity('bench-client'),
        tlsStack.procs[1],
      );
      log(`mTLS handshakes: ${Math.round(handshakes.perSecond)}/s`);
    } catch (error) {
      note(`the handshake measurement failed: ${error.message}`);
    }
  }

  // Stop the scenario processes before profiling, so the profiled proxy has the machine to itself (with wrk).
  for (const name of names) for (const p of stacks[name].procs) await stop(p);

  let profile = null;
  if ((S.profile === '1' || (S.profile === 'auto' && anyMiss)) && S.scenarios.includes('trellis-1hop')) {
    try {
      profile = await profileOneHop(prof, up);
    } catch (error) {
      note(`profiling failed: ${error.message}`);
    }
  }
  await stop(upstream);

  const report = {
    benchmark: 'trellis-proxy',
    date: new Date().toISOString(),
    command: '',
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
    settings: S,
    machine,
    build,
    upstream: { peakRssBytes: upstreamRss, body: { peak: S.peakBodyBytes, latency: S.latBodyBytes } },
    targets,
    scenarios,
    idleRss: idle,
    perProcessPeakRss: perProcessRss,
    handshakes,
    notes,
    profile,
  };
  report.command = commandLine('bench/proxy/run.mjs');
  await writeReport('proxy', report, markdown(report), 6);
  log(
    `\nwrote bench/results/proxy-latest.md and bench/results/proxy-latest.json` +
      `${profile ? ` and ${profile.file}` : ''} in ${report.elapsedSeconds} s`,
  );
  return invalidScenarios.length ? 1 : 0;
}

main().then(
  (code) => shutdown(code),
  (error) => shutdown(1, `bench failed: ${error?.stack ?? error}`),
);
