/**
 * The real stack for the e2e tests, every part started the way `npm start` starts it: a Postgres server (the one
 * behind DATABASE_URL, as for every test run, else a throw-away embedded one, with the control plane's own code)
 * with a database of this run's own, the control plane
 * (`apps/control/src/main.ts` under tsx, seeding the example mesh), the demo mesh (`trellis-demo`, on free ports,
 * with steady traffic) and the built console (`apps/console/scripts/serve.mjs`) pointed at that control plane.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../../apps/control/src/config.ts';
import { ensureDatabase, startEmbeddedPostgres } from '../../apps/control/src/db/embedded.ts';
import { freePort } from '../../apps/control/test/support/ports.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO_DIST = path.join(REPO_ROOT, 'packages/demo/dist');
const PARENT_WATCH = pathToFileURL(path.join(DEMO_DIST, 'parent-watch.mjs')).href;
const CONSOLE_DIR = path.join(REPO_ROOT, 'apps/console');

export interface Stack {
  controlUrl: string;
  consoleUrl: string;
  /** Stops the control plane (SIGTERM) until `startControl`: the "control plane unreachable" test. */
  stopControl(): Promise<void>;
  /** Starts it again on the same port and database; resolves once it is up. */
  startControl(): Promise<void>;
  /**
   * Freezes the control plane (SIGSTOP) until `thawControl` (SIGCONT): its sockets stay open and nothing is
   * answered, as when its event loop is held. The "control plane not answering" test.
   */
  freezeControl(): Promise<void>;
  thawControl(): Promise<void>;
  /** The demo's ingress gateway, where its traffic enters the mesh (a test can send requests of its own). */
  ingressUrl: string;
  stop(): Promise<void>;
}

/** A child process in a group of its own, its output kept for error messages. */
class Child {
  readonly output: string[] = [];
  readonly exited: Promise<number | string | null>;
  private readonly waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    for (const stream of [process.stdout, process.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.output.push(...chunk.split('\n').filter(Boolean));
        if (this.output.length > 2000) this.output.splice(0, 1000);
        const text = this.output.join('\n');
        for (const w of [...this.waiters]) {
          const m = w.pattern.exec(text);
          if (m) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      });
    }
    this.exited = new Promise((resolve) => process.once('exit', (code, signal) => resolve(signal ?? code)));
  }

  static start(name: string, args: string[], env: Record<string, string>, cwd = REPO_ROOT): Child {
    const child = spawn(process.execPath, args, {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env },
    });
    child.channel?.unref();
    return new Child(name, child);
  }

  tail(): string {
    return this.output.slice(-30).join('\n');
  }

  /** Resolves when the output matches; rejects when the process exits first or after `ms`. */
  printed(pattern: RegExp, ms: number): Promise<RegExpExecArray> {
    return Promise.race([
      new Promise<RegExpExecArray>((resolve) => {
        const m = pattern.exec(this.output.join('\n'));
        if (m) resolve(m);
        else this.waiters.push({ pattern, resolve });
      }),
      this.exited.then((how) => {
        throw new Error(`${this.name} exited (${how}) before printing ${pattern}:\n${this.tail()}`);
      }),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`${this.name}: no ${pattern} within ${ms} ms:\n${this.tail()}`)),
          ms,
        ),
      ),
    ]);
  }

  /** Sends `signal` to its group (SIGSTOP, SIGCONT); nothing when it has exited. */
  signal(signal: NodeJS.Signals): void {
    const pid = this.process.pid;
    if (!pid || this.process.exitCode !== null || this.process.signalCode !== null) return;
    process.kill(-pid, signal);
  }

  /** SIGTERM to its group, SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    const pid = this.process.pid;
    if (!pid || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // gone
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The stack's credentials: the control plane's static admin token (TRELLIS_ADMIN_TOKEN, which the demo calls the
 * API with too) and the first-run password of user `admin`, both new for every run. startStack exports them to
 * the tests as TRELLIS_E2E_ADMIN_TOKEN and TRELLIS_E2E_ADMIN_PASSWORD.
 */
const ADMIN_TOKEN = `trellis_${randomBytes(32).toString('base64url')}`;
const ADMIN_PASSWORD = `e2e-${randomBytes(12).toString('base64url')}`;

export async function startStack(): Promise<Stack> {
  process.env.TRELLIS_E2E_ADMIN_TOKEN = ADMIN_TOKEN;
  process.env.TRELLIS_E2E_ADMIN_PASSWORD = ADMIN_PASSWORD;
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-e2e-'));
    await fs.chmod(dataDir, 0o755);
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));

    let adminUrl = loadConfig().databaseUrl;
    if (!adminUrl) {
      const server = await startEmbeddedPostgres({
        dataDir: path.join(dataDir, 'pg'),
        port: await freePort(),
        persistent: false,
      });
      cleanups.push(() => server.stop());
      adminUrl = server.adminUrl;
    }
    const database = `e2e_${randomBytes(6).toString('hex')}`;
    await ensureDatabase(adminUrl, database);
    const databaseUrl = new URL(adminUrl);
    databaseUrl.pathname = `/${database}`;

    const controlPort = await freePort();
    // The proxy stream's TLS port stays the same when a test restarts the control plane, so proxies find it again.
    const streamPort = await freePort();
    const controlUrl = `http://127.0.0.1:${controlPort}`;
    const launchControl = () =>
      Child.start(
        'control plane',
        ['--import', PARENT_WATCH, '--import', 'tsx', path.join(REPO_ROOT, 'apps/control/src/main.ts')],
        {
          DATABASE_URL: databaseUrl.toString(),
          TRELLIS_DATA_DIR: dataDir,
          TRELLIS_CONTROL_HOST: '127.0.0.1',
          TRELLIS_CONTROL_PORT: String(controlPort),
          TRELLIS_SEED: 'true',
          TRELLIS_PROXY_STREAM_PORT: String(streamPort),
          TRELLIS_ADMIN_TOKEN: ADMIN_TOKEN,
          TRELLIS_ADMIN_PASSWORD: ADMIN_PASSWORD,
          TRELLIS_LOG_LEVEL: 'warn',
          // The console runs on this machine: each browser's address, which it forwards, is believed from it.
          TRELLIS_TRUSTED_PROXIES: 'loopback',
        },
      );
    let control = launchControl();
    cleanups.push(() => control.stop());

    // The console needs nothing from the control plane to start: both come up together.
    const consolePort = await freePort();
    const consoleApp = Child.start(
      'console',
      ['--import', PARENT_WATCH, path.join(CONSOLE_DIR, 'scripts/serve.mjs'), '--port', String(consolePort)],
      { TRELLIS_CONSOLE_CONTROL_URL: controlUrl },
      CONSOLE_DIR,
    );
    cleanups.push(() => consoleApp.stop());

    await control.printed(/Trellis control plane is up/, 60_000);
    const [, streamUrl = '', caFile = ''] = await control.printed(
      /proxies\s+(wss:\S+)\s+\(CA: (.+)\)/,
      10_000,
    );
    await consoleApp.printed(/Trellis console is up/, 60_000);

    const demo = Child.start(
      'demo',
      // As `npm start` runs it: per-service join tokens, the stream over WSS verified against the mesh CA.
      [
        '--import',
        PARENT_WATCH,
        path.join(DEMO_DIST, 'trellis-demo.mjs'),
        '--control-url',
        controlUrl,
        '--stream-url',
        streamUrl,
        '--control-plane-ca',
        caFile,
      ],
      {
        TRELLIS_DATA_DIR: dataDir,
        TRELLIS_ADMIN_TOKEN: ADMIN_TOKEN,
        TRELLIS_DEMO_PORT_BASE: '0',
        TRELLIS_DEMO_RATE: '20',
        TRELLIS_DEMO_REPORT_SECONDS: '0',
        TRELLIS_DEMO_LOG_LEVEL: 'error',
      },
    );
    cleanups.push(() => demo.stop(15_000));
    await demo.printed(/Trellis demo mesh is up/, 90_000);
    // The banner's "try  curl -s <ingress URL>" line.
    const [, ingressUrl = ''] = await demo.printed(/try\s+curl -s (http\S+)/, 10_000);

    return {
      controlUrl,
      consoleUrl: `http://127.0.0.1:${consolePort}`,
      ingressUrl,
      stop,
      stopControl: () => control.stop(),
      freezeControl: async () => control.signal('SIGSTOP'),
      thawControl: async () => control.signal('SIGCONT'),
      async startControl() {
        control = launchControl();
        await control.printed(/Trellis control plane is up/, 60_000);
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
