// `npm start`: install if needed, build, then run the control plane on an embedded Postgres (or DATABASE_URL)
// and, once it is ready, the live demo mesh (packages/demo; TRELLIS_DEMO=false turns it off, which the demo itself
// reads) and the console (apps/console's production build on TRELLIS_CONSOLE_PORT, 3000; TRELLIS_CONSOLE=false
// turns it off). SIGINT/SIGTERM go to all; this exits when all have stopped. The demo does not supervise the control
// plane: if it dies, its proxies keep serving from their last-known-good snapshots and reconnect when it is back.
// Every run makes a new admin API token (unless TRELLIS_ADMIN_TOKEN is set) for the demo's calls to the API, kept in
// <data dir>/admin-token (0600) for curl and the CLI, and prints how to sign in to the console.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ENV, ensureInstalled, ROOT, turbo } from './lib.mjs';

ensureInstalled();

// The console's settings, checked before the build so that a bad value stops the start at once, naming it.
function consoleSettings(env) {
  const enabled = (env.TRELLIS_CONSOLE ?? 'true').trim().toLowerCase();
  if (enabled !== 'true' && enabled !== 'false') {
    process.stderr.write(
      `TRELLIS_CONSOLE: must be true or false, got ${JSON.stringify(env.TRELLIS_CONSOLE)}\n`,
    );
    process.exit(1);
  }
  const port = (env.TRELLIS_CONSOLE_PORT ?? '3000').trim();
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    process.stderr.write(`TRELLIS_CONSOLE_PORT: must be a port number (0 picks a free one), got ${port}\n`);
    process.exit(1);
  }
  return { enabled: enabled === 'true', port };
}
const consoleSetting = consoleSettings(ENV);

if (turbo(['run', 'build', '--output-logs=errors-only']) !== 0) {
  process.stderr.write('build failed\n');
  process.exit(1);
}

const dataDir = path.resolve(ENV.TRELLIS_DATA_DIR || path.join(ROOT, '.trellis'));
const tokenFile = path.join(dataDir, 'admin-token');
const ownToken = Boolean(ENV.TRELLIS_ADMIN_TOKEN);
const adminToken = ownToken ? ENV.TRELLIS_ADMIN_TOKEN : `trellis_${randomBytes(32).toString('base64url')}`;
if (!ownToken) {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
}
// The console on this machine forwards each browser's address (X-Forwarded-For) so that failed logins are counted
// per browser, not all in one bucket for the console: the control plane believes it from loopback peers only.
const childEnv = {
  ...ENV,
  TRELLIS_ADMIN_TOKEN: adminToken,
  ...(consoleSetting.enabled && !ENV.TRELLIS_TRUSTED_PROXIES ? { TRELLIS_TRUSTED_PROXIES: 'loopback' } : {}),
};

const running = new Map();
let stopping = false;
let exitCode = 0;

function track(name, child) {
  running.set(name, child);
  child.on('exit', (code, signal) => {
    running.delete(name);
    if (code !== 0 && code !== null) exitCode ||= code;
    if (!stopping && name === 'control plane') {
      process.stderr.write(
        `\nthe control plane exited (${signal ?? `code ${code}`})` +
          (running.has('demo')
            ? '; the demo mesh keeps serving from its last-known-good snapshots. Ctrl-C stops it.\n'
            : '\n'),
      );
    }
    if (!stopping && (name === 'demo' || name === 'console') && code !== 0) {
      // It could not start (a bad TRELLIS_DEMO_* value, a port in use): stop, as a bad setting does.
      process.stderr.write(
        `the ${name === 'demo' ? 'demo mesh' : name} exited (${signal ?? `code ${code}`}); stopping\n`,
      );
      stopAll('SIGTERM');
    }
    if (running.size === 0) process.exit(exitCode || (signal && !stopping ? 1 : 0));
  });
}

function stopAll(signal) {
  stopping = true;
  for (const child of running.values()) child.kill(signal);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll(signal));

// `node --import tsx`, one process: the tsx CLI wrapper relays signals to its child and SIGKILLs it when a second
// SIGINT comes (and a terminal's Ctrl-C reaches it twice: from the terminal and forwarded from here).
// In a process group of its own (detached), so that a terminal's Ctrl-C reaches only this script, which passes it
// on to the control plane alone: its embedded Postgres must outlive it long enough for the last telemetry to be
// written, and the control plane stops Postgres itself. The parent-watch preload and IPC channel stop it should
// this script be killed outright.
const control = spawn(
  process.execPath,
  [
    '--import',
    pathToFileURL(path.join(ROOT, 'packages', 'demo', 'dist', 'parent-watch.mjs')).href,
    '--import',
    'tsx',
    path.join(ROOT, 'apps', 'control', 'src', 'main.ts'),
  ],
  {
    cwd: ROOT,
    stdio: ['inherit', 'pipe', 'inherit', 'ipc'],
    env: childEnv,
    detached: true,
  },
);
control.channel?.unref();
track('control plane', control);

// The control plane prints where it listens ("  health     http://127.0.0.1:7070/healthz ..."); its output is
// passed through and read for that line, so that a port of 0 (or any host) works without parsing settings here.
// On the first run it says where the generated password of user admin is (its output is a pipe, not a terminal, so
// it does not print the password itself); this script, whose output is the terminal, shows it once. The proxies'
// line gives the proxy stream's wss:// URL and the CA bundle the demo's proxies verify it with.
let firstRunPasswordFile;
let proxyStream;
const controlUrl = new Promise((resolve) => {
  let buffer = '';
  control.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    if (buffer === null) return;
    buffer += chunk.toString('utf8');
    firstRunPasswordFile ??= /first run: the password of admin is in (\S+)/.exec(buffer)?.[1];
    const found = /^\s*health\s+(https?:\/\/\S+)\/healthz/m.exec(buffer);
    if (found) {
      const stream = /^\s*proxies\s+(wss:\/\/\S+)\s+\(CA: (.+)\)$/m.exec(buffer);
      if (stream) proxyStream = { url: stream[1], ca: stream[2] };
      buffer = null;
      resolve(found[1]);
    } else if (buffer.length > 1_000_000) buffer = buffer.slice(-10_000);
  });
});

/** GET /readyz's status; an HTTPS control plane (TRELLIS_CONTROL_TLS) is verified against the mesh CA bundle. */
function readyz(url) {
  return new Promise((resolve, reject) => {
    const options = {
      timeout: 2000,
      ...(url.startsWith('https:') && proxyStream ? { ca: readFileSync(proxyStream.ca) } : {}),
    };
    const req = (url.startsWith('https:') ? https : http).get(`${url}/readyz`, options, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function ready(url) {
  for (;;) {
    try {
      if ((await readyz(url)) === 200) return;
    } catch {
      // not listening yet
    }
    if (stopping || !running.has('control plane')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const url = await controlUrl;
// An HTTPS API (TRELLIS_CONTROL_TLS) presents a certificate of the mesh CA: the console and the demo trust its bundle.
const trustMeshCa = url.startsWith('https:') && proxyStream ? { NODE_EXTRA_CA_CERTS: proxyStream.ca } : {};
await ready(url);
const firstRunPassword = firstRunPasswordFile ? readFileSync(firstRunPasswordFile, 'utf8').trim() : undefined;
if (!stopping && running.has('control plane')) {
  process.stdout.write(
    [
      '',
      firstRunPassword
        ? `login: admin / ${firstRunPassword}`
        : `login: admin (password: see ${path.join(dataDir, 'initial-admin-password')}, or the one you set)`,
      ownToken
        ? 'api token  TRELLIS_ADMIN_TOKEN (as set)'
        : `api token  export TRELLIS_TOKEN=$(cat ${tokenFile})   # this run's admin token, for curl -H "authorization: Bearer $TRELLIS_TOKEN" and the trellis CLI`,
      '',
    ].join('\n'),
  );
}
if (!stopping && running.has('control plane') && consoleSetting.enabled) {
  // The production build (`next build`, run by the build above), served by one process that prints
  // "Trellis console is up: <url>" and stops on SIGINT/SIGTERM, or when this script dies (parent-watch).
  const consoleDir = path.join(ROOT, 'apps', 'console');
  const consoleApp = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(path.join(ROOT, 'packages', 'demo', 'dist', 'parent-watch.mjs')).href,
      path.join(consoleDir, 'scripts', 'serve.mjs'),
      '--port',
      consoleSetting.port,
    ],
    {
      cwd: consoleDir,
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...ENV, ...trustMeshCa, TRELLIS_CONSOLE_CONTROL_URL: url },
    },
  );
  consoleApp.channel?.unref();
  track('console', consoleApp);
}
if (!stopping && running.has('control plane')) {
  // With an IPC channel and the demo's parent-watch preload, the demo stops (and stops its processes) even if this
  // script is killed outright.
  const demoDist = path.join(ROOT, 'packages', 'demo', 'dist');
  const demo = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(path.join(demoDist, 'parent-watch.mjs')).href,
      path.join(demoDist, 'trellis-demo.mjs'),
      '--control-url',
      url,
      ...(proxyStream ? ['--stream-url', proxyStream.url, '--control-plane-ca', proxyStream.ca] : []),
    ],
    { cwd: ROOT, stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...childEnv, ...trustMeshCa } },
  );
  demo.channel?.unref();
  track('demo', demo);
}
