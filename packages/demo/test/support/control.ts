/**
 * Control planes for the demo's tests, on a database of the test file's own (the control plane's test support,
 * imported): in this process (cheap, for tests that only need one running), or as a child process started the way
 * `npm start` starts it, for tests that must SIGKILL it and start it again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ControlPlane, loadConfig, startControlPlane } from '@trellis/control';
import { createDatabase, silentLogger } from '../../../../apps/control/test/support/db.ts';
import { issueJoinTokens, waitForControlPlane } from '../../src/control-api.ts';
import {
  DEMO_INGRESS,
  DEMO_INSTANCES,
  freePort,
  type Mesh,
  signalGroup,
  startMesh,
} from '../../src/index.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const JOIN_TOKEN = 'demo-test-join-token';
/** The static admin token (TRELLIS_ADMIN_TOKEN) of the demo's test control planes. */
export const ADMIN_TOKEN = 'demo-test-admin-token-0123456789abcdefghij';
/** The first-run password of user `admin` there (so that nothing is generated into the repo's data folder). */
export const ADMIN_PASSWORD = 'demo-test-admin-password';
/** `Authorization: Bearer ADMIN_TOKEN`. */
export const ADMIN_AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

export { createDatabase };

/**
 * A seeded control plane in this process, on port 0, as `npm start` runs it: no mesh-wide join token, the proxy
 * stream's TLS port on a free port, its CA bundle in `dataDir`.
 */
export async function inProcessControlPlane(databaseUrl?: string, dataDir?: string): Promise<ControlPlane> {
  return startControlPlane(
    {
      ...loadConfig({ DATABASE_URL: databaseUrl ?? (await createDatabase('demo')) }),
      port: 0,
      proxyStreamPort: 0,
      dataDir: dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-demo-plane-'))),
      logLevel: 'silent',
      adminToken: ADMIN_TOKEN,
      adminPassword: ADMIN_PASSWORD,
    },
    silentLogger,
  );
}

/** The whole demo mesh joined to a seeded in-process control plane, with its state in a temporary folder. */
export async function demoOnInProcessControlPlane(
  label: string,
): Promise<{ plane: ControlPlane; mesh: Mesh; stop(): Promise<void> }> {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), `trellis-demo-${label}-`));
  const plane = await inProcessControlPlane(undefined, stateDir);
  // As `npm start` does: one join token per service, the stream over WSS verified against the mesh CA.
  const services = [...new Set([...DEMO_INSTANCES.map((i) => i.service), DEMO_INGRESS.service])];
  const tokens = await issueJoinTokens(plane.url, services, ADMIN_TOKEN, stateDir);
  const mesh = await startMesh({
    controlUrl: plane.url,
    streamUrl: plane.streamUrl ?? undefined,
    controlPlaneCa: plane.caFile,
    joinTokens: (service) => tokens.get(service) ?? '',
    controlToken: ADMIN_TOKEN,
    services: DEMO_INSTANCES,
    stateDir,
  });
  return {
    plane,
    mesh,
    async stop() {
      await mesh.stop();
      await plane.stop();
      await fs.rm(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * `apps/control/src/main.ts` as a child process (node with the tsx loader: one process, so SIGKILL leaves nothing
 * behind), on a database the test chooses and always on the same port, so that proxies find it again after a
 * restart. The reliability suite uses it too.
 */
export class ChildControlPlane {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  private constructor(
    readonly databaseUrl: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  static async create(databaseUrl: string, env: Record<string, string> = {}): Promise<ChildControlPlane> {
    // Its own data folder: the CA bundle and key it writes must not land in the repository's .trellis.
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-child-plane-'));
    return new ChildControlPlane(databaseUrl, await freePort(), {
      TRELLIS_DATA_DIR: dataDir,
      TRELLIS_PROXY_STREAM_PORT: '0',
      ...env,
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts it and resolves once /readyz answers 200 (rejects if it exits first). */
  async start(readyTimeoutMs = 60_000): Promise<void> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'apps/control/src/main.ts')],
      {
        cwd: REPO_ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          DATABASE_URL: this.databaseUrl,
          TRELLIS_CONTROL_HOST: '127.0.0.1',
          TRELLIS_CONTROL_PORT: String(this.port),
          TRELLIS_SEED: 'true',
          TRELLIS_JOIN_TOKEN: JOIN_TOKEN,
          TRELLIS_ADMIN_TOKEN: ADMIN_TOKEN,
          TRELLIS_ADMIN_PASSWORD: ADMIN_PASSWORD,
          TRELLIS_LOG_LEVEL: 'warn',
          ...this.env,
        },
      },
    );
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.output.push(...chunk.split('\n').filter(Boolean)));
    }
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(
          new Error(`the control plane exited (${signal ?? code}):\n${this.output.slice(-20).join('\n')}`),
        ),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForControlPlane(this.url, readyTimeoutMs), exited]);
  }

  /** The running process's pid (undefined when it is not running). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Whether the process is still running (it has not exited or been killed). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, as a crash: no goodbye to the proxies, no clean database disconnect. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGKILL');
    await exited;
  }

  /** SIGTERM, and SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && signalGroup(child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
