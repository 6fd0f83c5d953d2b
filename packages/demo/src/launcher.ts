/**
 * Starts a mesh of demo services as real processes: for each instance a demo app and a `trellis-proxy` sidecar
 * joined to the control plane, plus an ingress gateway, each under a Supervisor. `npm start` and the tests use the
 * same function, so what the tests prove is what people run.
 *
 * Each sidecar gets an inbound listener in front of its app (the proxy registers that address with the control
 * plane, labelled with the instance's version, so the demo needs no static endpoints) and an outbound listener its
 * app calls other services through. Ports are free ones picked at start, or, for `npm start`, consecutive ones
 * from a base port so that the URLs people copy stay the same across runs; a port stays with its process across
 * restarts, so a restarted proxy re-registers the same endpoint. The proxies run from the bundled executable
 * (plain node, no TypeScript loader) to keep a dozen processes' start-up time and memory small.
 *
 * Start-up waits on evidence, never on time: each app answers its health check, each proxy's admin says ready,
 * then the control plane lists every proxy as SYNCED, so every proxy knows every endpoint, and finally the ingress
 * answers 200 a few times in a row, end to end.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProxyConfig, type ProxyConfigInput, type ProxyStatus, STREAM_PATH } from '@trellis/schema';
import { waitForSynced } from './control-api.ts';
import { type RestartBackoff, Supervised } from './supervisor.ts';
import { DEMO_INGRESS, type IngressSpec, type InstanceSpec } from './topology.ts';

/** The bundled proxy; `turbo run build` makes it. Found next to this package, from src/ and from dist/ alike. */
export const PROXY_BIN = fileURLToPath(new URL('../../proxy/dist/trellis-proxy.mjs', import.meta.url));
/** The bundled demo app and child preload; `npm run build -w @trellis/demo` makes them. */
export const APP_BIN = fileURLToPath(new URL('../dist/demo-app.mjs', import.meta.url));
export const PARENT_WATCH = new URL('../dist/parent-watch.mjs', import.meta.url).href;

/**
 * A dozen node processes on a small machine: a small young generation (V8's default semi-space grows to 16 MiB)
 * keeps each one's resident memory down at the demo's modest request rate, for a little more GC work. The proxies
 * get no flag: their entry file holds the young generation small itself, and a young-generation flag on the command
 * line makes it leave the choice to the flag (2 MiB more per sidecar with `--max-semi-space-size=2`;
 * docs/proxy-memory.md).
 */
const PROXY_NODE_FLAGS: string[] = [];
const APP_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64'];

export interface MeshOptions {
  /** The control plane's HTTP base URL, e.g. http://127.0.0.1:7070. */
  controlUrl: string;
  /** The proxy stream (wss:// on the control plane's TLS port); default the API's own, ws:// on loopback. */
  streamUrl?: string | undefined;
  /** The CA bundle proxies verify a wss:// stream against (--control-plane-ca). */
  controlPlaneCa?: string | undefined;
  /**
   * Each proxy's join token, by service: the token admits that service only. Written to a 0600 file in the
   * proxy's folder and passed as --join-token-file, never on the command line.
   */
  joinTokens: (service: string) => string;
  /** An API token the launcher reads the control plane's proxy list with (TRELLIS_ADMIN_TOKEN). */
  controlToken?: string | undefined;
  services: InstanceSpec[];
  /** The gateway in front of the mesh; DEMO_INGRESS when absent, none when null. */
  ingress?: IngressSpec | null;
  /** Proxy config files and last-known-good snapshots go here, one folder per instance. */
  stateDir: string;
  /** Consecutive ports from here (ingress first); free ports when 0 or absent. */
  basePort?: number;
  proxyLogLevel?: string;
  /** How long a stopping proxy lets requests in flight finish. */
  drainTimeoutMs?: number;
  /** After SIGTERM, how long a process gets before SIGKILL. */
  stopTimeoutMs?: number;
  backoff?: RestartBackoff;
  /** Per process start. */
  readyTimeoutMs?: number;
  /** For every proxy to become SYNCED; 0 skips that wait. */
  syncTimeoutMs?: number;
  /** Every line any process writes, with the process's name. */
  onOutput?: (name: string, line: string) => void;
  proxyBin?: string;
  appBin?: string;
  /** Aborting it during start-up stops what was started; startMesh then rejects. */
  signal?: AbortSignal;
}

export interface InstancePorts {
  app: number;
  inbound: number;
  outbound: number;
  admin: number;
}

export interface InstanceHandle {
  spec: InstanceSpec;
  ports: InstancePorts;
  app: Supervised;
  sidecar: Supervised;
  /** The app directly, bypassing its sidecar. */
  appUrl: string;
  /** Where other proxies reach this instance (its registered endpoint). */
  inboundUrl: string;
  adminUrl: string;
}

export interface IngressHandle {
  spec: IngressSpec;
  ports: { listener: number; admin: number };
  proxy: Supervised;
  url: string;
  adminUrl: string;
}

export interface Mesh {
  controlUrl: string;
  /** http://127.0.0.1:<port>/ of the ingress gateway (undefined without one). */
  ingressUrl: string | undefined;
  ingress: IngressHandle | undefined;
  instances: InstanceHandle[];
  /** The instance named `instance` (throws for an unknown name). */
  instance(instance: string): InstanceHandle;
  /** Every supervised process: apps, sidecars, the gateway. */
  processes(): Supervised[];
  /** `service/instance` of every proxy, as GET /api/v1/proxies names them. */
  proxyKeys(): string[];
  /** Resolves once the control plane lists every proxy of the mesh as SYNCED. */
  waitForSync(timeoutMs?: number): Promise<ProxyStatus[]>;
  /** Stops every process (ingress first); resolves when all have exited. */
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is in use`);
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct ports: consecutive from `base` (each checked), or free ones when `base` is 0. */
export async function allocatePorts(count: number, base = 0): Promise<number[]> {
  const ports: number[] = [];
  if (base > 0) {
    for (let port = base; port < base + count; port++) {
      if (port > 65535 || !(await canBind(port))) throw new PortInUseError(port);
      ports.push(port);
    }
    return ports;
  }
  const taken = new Set<number>();
  while (ports.length < count) {
    const port = await freePort();
    if (taken.has(port)) continue;
    taken.add(port);
    ports.push(port);
  }
  return ports;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function sidecarConfig(spec: InstanceSpec, ports: InstancePorts): ProxyConfigInput {
  return {
    node: {
      service: spec.service,
      instance: spec.instance,
      zone: spec.zone ?? '',
      labels: { version: spec.version },
    },
    listeners: [
      { name: 'inbound', mode: 'inbound', port: ports.inbound, upstream: { port: ports.app } },
      { name: 'outbound', mode: 'outbound', port: ports.outbound },
    ],
  };
}

function ingressConfig(spec: IngressSpec, port: number): ProxyConfigInput {
  return {
    node: { service: spec.service, instance: spec.instance },
    listeners: [{ name: 'edge', mode: 'ingress', port, routes: [{ service: spec.target }] }],
    // Until the first snapshot arrives, the route needs its service to exist; the snapshot replaces this.
    services: [{ name: spec.target, port: 8080 }],
  };
}

async function writeConfig(dir: string, config: ProxyConfigInput): Promise<string> {
  const checked = ProxyConfig.safeParse(config);
  if (!checked.success) throw new Error(`bad proxy config: ${checked.error.message}`);
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'proxy.json');
  await fs.writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** Resolves once every proxy's admin /certs shows a certificate. */
export async function waitForIdentities(adminUrls: readonly string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const pending = new Set(adminUrls);
  while (pending.size > 0) {
    for (const url of [...pending]) {
      const certs = await fetch(`${url}certs`)
        .then((r) => r.json() as Promise<{ certificate: unknown; lastError: string | null }>)
        .catch(() => undefined);
      if (certs?.certificate) pending.delete(url);
    }
    if (pending.size === 0) return;
    if (Date.now() > until) {
      throw new Error(`proxies without a certificate after ${timeoutMs} ms: ${[...pending].join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Resolves once `url` has answered 200 `inARow` times in a row: the whole chain behind the ingress has served, with
 * its connections opened and its code warm, so the first request an operator sends is not the one that pays for it.
 */
export async function waitForAnswers(url: string, timeoutMs: number, inARow = 3): Promise<void> {
  const until = Date.now() + timeoutMs;
  let streak = 0;
  while (streak < inARow) {
    streak = (await httpOk(url)) ? streak + 1 : 0;
    if (streak >= inARow) return;
    if (Date.now() > until)
      throw new Error(`${url} did not answer 200 ${inARow} times in a row within ${timeoutMs} ms`);
    if (streak === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts the mesh and resolves once it serves (see the module comment); on failure stops what it started. */
export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const ingressSpec = options.ingress === undefined ? DEMO_INGRESS : options.ingress;
  const names = new Set<string>();
  for (const s of options.services) {
    if (names.has(s.instance)) throw new Error(`instance name ${s.instance} is used twice`);
    names.add(s.instance);
  }
  const ingressPorts = ingressSpec ? 2 : 0;
  const ports = await allocatePorts(ingressPorts + 4 * options.services.length, options.basePort ?? 0);
  const controlUrl = options.controlUrl.replace(/\/+$/, '');
  const streamUrl = options.streamUrl ?? `${controlUrl.replace(/^http/, 'ws')}${STREAM_PATH}`;
  const proxyBin = options.proxyBin ?? PROXY_BIN;
  const appBin = options.appBin ?? APP_BIN;
  for (const file of [proxyBin, appBin, fileURLToPath(PARENT_WATCH)]) {
    await fs.access(file).catch(() => {
      throw new Error(`${file} is missing: run \`npm run build\` (turbo builds the proxy and the demo)`);
    });
  }
  const common = {
    backoff: options.backoff,
    stopTimeoutMs: options.stopTimeoutMs ?? 5000,
  };
  const output = (name: string) => (line: string) => options.onOutput?.(name, line);
  const proxyProcess = async (name: string, dir: string, config: ProxyConfigInput, admin: number) => {
    const file = await writeConfig(dir, config);
    // A new mesh starts without the snapshots of an earlier one: those came from whatever database that run used,
    // and revision numbers are not unique across databases, so a control plane whose revision happens to match
    // would never correct them. Within this run, restarted proxies do start from their snapshot on disk.
    await fs.rm(path.join(dir, 'state'), { recursive: true, force: true });
    const tokenFile = path.join(dir, 'join-token');
    await fs.rm(tokenFile, { force: true });
    await fs.writeFile(tokenFile, `${options.joinTokens(config.node.service)}\n`, { mode: 0o600 });
    return new Supervised({
      ...common,
      name,
      command: process.execPath,
      args: [
        ...PROXY_NODE_FLAGS,
        '--import',
        PARENT_WATCH,
        proxyBin,
        '--config',
        file,
        '--admin-port',
        String(admin),
        '--control-plane',
        streamUrl,
        ...(options.controlPlaneCa ? ['--control-plane-ca', options.controlPlaneCa] : []),
        '--join-token-file',
        tokenFile,
        '--state-dir',
        path.join(dir, 'state'),
        '--log-level',
        options.proxyLogLevel ?? 'warn',
        '--drain-timeout-ms',
        String(options.drainTimeoutMs ?? 2000),
      ],
      probe: () => httpOk(`http://127.0.0.1:${admin}/ready`),
      onOutput: output(name),
    });
  };

  const instances: InstanceHandle[] = [];
  let next = ingressPorts;
  for (const spec of options.services) {
    const [app, inbound, outbound, admin] = ports.slice(next, next + 4) as [number, number, number, number];
    next += 4;
    const instancePorts = { app, inbound, outbound, admin };
    const dir = path.join(options.stateDir, spec.instance);
    const appArgs = [
      ...APP_NODE_FLAGS,
      '--import',
      PARENT_WATCH,
      appBin,
      '--service',
      spec.service,
      '--version',
      spec.version,
      '--instance',
      spec.instance,
      '--port',
      String(app),
    ];
    if (spec.downstream) {
      appArgs.push('--downstream-service', spec.downstream, '--downstream-port', String(outbound));
    }
    if (spec.flaky) {
      appArgs.push(
        '--error-percent',
        String(spec.flaky.errorPercent),
        '--slow-percent',
        String(spec.flaky.slowPercent),
        '--slow-ms',
        String(spec.flaky.slowMs),
      );
    }
    instances.push({
      spec,
      ports: instancePorts,
      app: new Supervised({
        ...common,
        name: `${spec.instance} app`,
        command: process.execPath,
        args: appArgs,
        probe: () => httpOk(`http://127.0.0.1:${app}/healthz`),
        onOutput: output(`${spec.instance} app`),
      }),
      sidecar: await proxyProcess(`${spec.instance} sidecar`, dir, sidecarConfig(spec, instancePorts), admin),
      appUrl: `http://127.0.0.1:${app}/`,
      inboundUrl: `http://127.0.0.1:${inbound}/`,
      adminUrl: `http://127.0.0.1:${admin}/`,
    });
  }
  let ingress: IngressHandle | undefined;
  if (ingressSpec) {
    const [listener, admin] = ports as [number, number];
    ingress = {
      spec: ingressSpec,
      ports: { listener, admin },
      proxy: await proxyProcess(
        `${ingressSpec.instance} gateway`,
        path.join(options.stateDir, ingressSpec.instance),
        ingressConfig(ingressSpec, listener),
        admin,
      ),
      url: `http://127.0.0.1:${listener}/`,
      adminUrl: `http://127.0.0.1:${admin}/`,
    };
  }

  const processes = () => [
    ...(ingress ? [ingress.proxy] : []),
    ...instances.flatMap((i) => [i.sidecar, i.app]),
  ];
  const proxyKeys = () => [
    ...(ingress ? [`${ingress.spec.service}/${ingress.spec.instance}`] : []),
    ...instances.map((i) => `${i.spec.service}/${i.spec.instance}`),
  ];
  const stop = async () => {
    if (ingress) await ingress.proxy.stop();
    await Promise.all(instances.flatMap((i) => [i.sidecar.stop(), i.app.stop()]));
  };
  const mesh: Mesh = {
    controlUrl,
    ingressUrl: ingress?.url,
    ingress,
    instances,
    instance(name) {
      const found = instances.find((i) => i.spec.instance === name);
      if (!found) throw new Error(`no instance ${name} in this mesh`);
      return found;
    },
    processes,
    proxyKeys,
    waitForSync: (timeoutMs = 60_000) =>
      waitForSynced(controlUrl, proxyKeys(), timeoutMs, options.controlToken),
    stop,
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const abort = () => void stop();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    options.signal?.throwIfAborted();
    // Apps first, so that sidecars never front a port where nothing listens; the gateway last.
    await Promise.all(instances.map((i) => i.app.start(readyTimeoutMs)));
    await Promise.all(instances.map((i) => i.sidecar.start(readyTimeoutMs)));
    await ingress?.proxy.start(readyTimeoutMs);
    const syncTimeoutMs = options.syncTimeoutMs ?? 60_000;
    if (syncTimeoutMs > 0) {
      await mesh.waitForSync(syncTimeoutMs);
      // And every proxy holds its workload certificate: traffic from then on is mutual TLS from the first
      // request, instead of switching from plaintext while it flows.
      await waitForIdentities(
        [...(ingress ? [ingress.adminUrl] : []), ...instances.map((i) => i.adminUrl)],
        syncTimeoutMs,
      );
      if (ingress) await waitForAnswers(ingress.url, syncTimeoutMs);
    }
    options.signal?.throwIfAborted();
  } catch (error) {
    await stop();
    throw options.signal?.aborted ? options.signal.reason : error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
  return mesh;
}
