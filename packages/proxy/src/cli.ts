/**
 * trellis-proxy: runs one proxy from a config file, re-applying it when the file changes (an invalid new
 * version is refused and logged; the proxy keeps the previous one). SIGTERM/SIGINT drain and exit. A gateway
 * can run as several worker processes (--workers, src/cluster/): the process started is then their primary and
 * is driven here exactly as a single proxy is.
 */

import fs from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_TRUST_DOMAIN, type ProxyConfig } from '@trellis/schema';
import { type Logger, pino } from 'pino';
import { WORKER_ENV } from './cluster/messages.ts';
// The worker processes' code is imported statically although a sidecar never runs it: an import() inside the
// bundle makes esbuild wrap every module it reaches in a lazy initializer, which keeps all of @trellis/schema's
// files (and builds their schemas at start), not only those the proxy uses.
import { startWorkers } from './cluster/primary.ts';
import { runWorker } from './cluster/worker.ts';
import { ConfigFileError, readConfigFile, watchConfigFile } from './config-file.ts';
import {
  type Bootstrap,
  ControlClient,
  mergeConfig,
  type Persisted,
  readLastKnownGood,
} from './control-client.ts';
import { IdentityManager } from './identity.ts';
import { type ApplyResult, createProxy, ProxyConfigError } from './proxy.ts';
import { markStarted } from './started.ts';

/** What the CLI drives: one proxy, or the primary of its worker processes (src/cluster/primary.ts). */
interface ProxyHandle {
  readonly snapshot: { config: ProxyConfig };
  readonly adminUrl: string | undefined;
  address(name: string): { address: string; port: number } | undefined;
  apply(input: unknown): Promise<ApplyResult>;
  useIdentity(identity: IdentityManager): void;
  close(): Promise<void>;
}

/**
 * With --control-plane, the file is the bootstrap (node, listeners, limits; any services, routes… in it are the
 * starting point until the first snapshot) and the control plane sends the mesh. The endpoint registered for
 * this proxy is the advertise address and the port of its first inbound listener (of its first ingress listener
 * for a gateway without one), with the node's labels, so that routes can select it by subset.
 */
/** The local part of a config file: everything but the mesh slice, which the control plane sends. */
function bootstrapOf(file: unknown): Bootstrap {
  const {
    services: _s,
    endpoints: _e,
    routes: _r,
    policies: _p,
    revision: _v,
    ...bootstrap
  } = file as Record<string, unknown>;
  return bootstrap as Bootstrap;
}

function controlClientFor(
  proxy: ProxyHandle,
  options: CliOptions,
  bootstrap: Bootstrap,
  restored: Persisted | undefined,
  joinToken: string,
  log: Logger,
): ControlClient {
  const config = proxy.snapshot.config;
  const served =
    config.listeners.find((l) => l.mode === 'inbound') ?? config.listeners.find((l) => l.mode === 'ingress');
  const port = served ? (proxy.address(served.name)?.port ?? served.port) : 0;
  const identity = new IdentityManager({
    service: config.node.service,
    trustDomain: options.trustDomain,
    logger: log,
  });
  proxy.useIdentity(identity);
  return new ControlClient({
    workload: identity,
    url: options.controlPlane ?? '',
    token: joinToken,
    ...(options.controlPlaneCa ? { caFile: options.controlPlaneCa } : {}),
    identity: {
      service: config.node.service,
      instance: config.node.instance || `${hostname()}-${process.pid}`,
      address: options.advertiseAddress,
      port: port || 1,
      zone: config.node.zone,
      labels: config.node.labels,
    },
    bootstrap,
    proxy,
    stateDir: options.stateDir,
    ...(restored ? { restored } : {}),
    logger: log,
  });
}

const USAGE = `usage: trellis-proxy --config <file.json|file.yaml> [--admin-port 15000] [--admin-host 127.0.0.1]
                     [--log-level info] [--no-admin] [--drain-timeout-ms 10000] [--access-log]
                     [--deregister-delay-ms 1000]   (with a control plane: how long to keep serving after
                      leaving it on SIGTERM, while callers learn that this endpoint is going away)
                     [--control-plane wss://host:7443/api/v1/stream/proxy --control-plane-ca FILE
                      --join-token-file FILE   (or TRELLIS_JOIN_TOKEN in the environment)
                      --advertise-address 127.0.0.1 --state-dir DIR --trust-domain trellis.local]
                     [--identity-dir DIR --trust-domain trellis.local]   (without a control plane: cert.pem,
                      key.pem and roots.pem in DIR give the proxy its mTLS identity)
                     [--workers 1]   (a gateway only: N worker processes accept on the same ports, or "auto",
                      one per core; the process started is their primary, which holds the control stream and
                      the admin listener)`;

export interface CliOptions {
  config: string;
  adminHost: string;
  adminPort: number;
  admin: boolean;
  logLevel: string;
  drainTimeoutMs: number;
  /**
   * On SIGTERM with a control plane: the proxy first leaves it (its endpoint turns unhealthy and every caller is
   * told), keeps serving this long while that news spreads, and only then stops accepting and drains.
   */
  deregisterDelayMs: number;
  accessLog: boolean;
  controlPlane: string | undefined;
  /**
   * Where the join token is read from: --join-token-file or TRELLIS_JOIN_TOKEN, not the command line, which any
   * local user can read in `ps`. `--join-token` still works, with a warning.
   */
  joinTokenSource: JoinTokenSource;
  /** PEM file of the roots the control plane's certificate is verified against (wss://). */
  controlPlaneCa: string | undefined;
  advertiseAddress: string;
  stateDir: string | undefined;
  /** The SPIFFE trust domain of the proxy's identity (the control plane's TRELLIS_TRUST_DOMAIN). */
  trustDomain: string;
  /** A proxy without a control plane: the folder holding its certificate (cert.pem), key.pem and roots.pem. */
  identityDir: string | undefined;
  /** Worker processes of a gateway (1: the proxy runs in this process). */
  workers: number;
}

/** The PEM blocks of a file, in order. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];
}

/** Gives a proxy without a control plane the identity an operator issued it, from files (see USAGE). */
async function identityFromDir(proxy: ProxyHandle, options: CliOptions, log: Logger): Promise<void> {
  const dir = options.identityDir as string;
  const read = (name: string) => fs.readFile(path.join(dir, name), 'utf8');
  const [cert, key, roots] = await Promise.all([read('cert.pem'), read('key.pem'), read('roots.pem')]);
  const identity = new IdentityManager({
    service: proxy.snapshot.config.node.service,
    trustDomain: options.trustDomain,
    logger: log,
  });
  const installed = identity.installIssued(key, pemBlocks(cert), pemBlocks(roots));
  if (!installed.ok) throw new Error(`${dir}: ${installed.error}`);
  proxy.useIdentity(identity);
}

/** Where the join token came from: a file (trimmed), the environment, or (warned about) the command line. */
export interface JoinTokenSource {
  file?: string | undefined;
  argument?: string | undefined;
  env?: string | undefined;
}

export async function readJoinToken(source: JoinTokenSource): Promise<string> {
  if (source.file !== undefined) {
    const text = (await fs.readFile(source.file, 'utf8')).trim();
    if (text === '') throw new Error(`--join-token-file ${source.file} is empty`);
    return text;
  }
  return source.argument ?? source.env ?? '';
}

export function parseCli(argv: string[], env: Record<string, string | undefined> = process.env): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'admin-port': { type: 'string', default: '15000' },
      'admin-host': { type: 'string', default: '127.0.0.1' },
      'no-admin': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      'drain-timeout-ms': { type: 'string', default: '10000' },
      'deregister-delay-ms': { type: 'string', default: '1000' },
      'access-log': { type: 'boolean', default: false },
      'control-plane': { type: 'string' },
      'join-token': { type: 'string' },
      'join-token-file': { type: 'string' },
      'control-plane-ca': { type: 'string' },
      'advertise-address': { type: 'string', default: '127.0.0.1' },
      'state-dir': { type: 'string' },
      'trust-domain': { type: 'string', default: DEFAULT_TRUST_DOMAIN },
      'identity-dir': { type: 'string' },
      workers: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  if (!values.config) throw new Error(`--config is required\n${USAGE}`);
  const adminPort = Number(values['admin-port']);
  const drainTimeoutMs = Number(values['drain-timeout-ms']);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535)
    throw new Error('--admin-port must be 0–65535');
  if (!Number.isInteger(drainTimeoutMs) || drainTimeoutMs < 0)
    throw new Error('--drain-timeout-ms must be ≥ 0');
  const deregisterDelayMs = Number(values['deregister-delay-ms']);
  if (!Number.isInteger(deregisterDelayMs) || deregisterDelayMs < 0 || deregisterDelayMs > 600_000)
    throw new Error('--deregister-delay-ms must be 0–600000');
  const trustDomain = values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN;
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(trustDomain))
    throw new Error('--trust-domain must be a lower-case DNS name');
  if (values['join-token'] !== undefined && values['join-token-file'] !== undefined)
    throw new Error('give the join token once: --join-token-file or --join-token');
  if (values['control-plane'] !== undefined && !/^wss?:\/\//.test(values['control-plane']))
    throw new Error('--control-plane must be a ws:// or wss:// URL');
  if (values['control-plane-ca'] !== undefined && !values['control-plane']?.startsWith('wss://'))
    throw new Error('--control-plane-ca is for a wss:// --control-plane');
  if (values['identity-dir'] !== undefined && values['control-plane'] !== undefined)
    throw new Error(
      '--identity-dir is for a proxy without --control-plane (the control plane issues identities)',
    );
  const workers = values.workers === 'auto' ? availableParallelism() : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256)
    throw new Error('--workers must be 1–256 or "auto"');
  return {
    workers,
    config: values.config,
    adminHost: values['admin-host'] ?? '127.0.0.1',
    adminPort,
    admin: !values['no-admin'],
    logLevel: values['log-level'] ?? 'info',
    drainTimeoutMs,
    deregisterDelayMs,
    accessLog: values['access-log'] ?? false,
    controlPlane: values['control-plane'],
    joinTokenSource: {
      file: values['join-token-file'],
      argument: values['join-token'],
      env: env.TRELLIS_JOIN_TOKEN,
    },
    controlPlaneCa: values['control-plane-ca'],
    advertiseAddress: values['advertise-address'] ?? '127.0.0.1',
    stateDir: values['state-dir'],
    trustDomain,
    identityDir: values['identity-dir'],
  };
}

export async function main(argv: string[]): Promise<void> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  if (process.env[WORKER_ENV] !== undefined && process.send !== undefined) {
    await runWorker(options);
    return;
  }
  const log = pino({ level: options.logLevel, base: { service: 'trellis-proxy' } });
  let initial: Awaited<ReturnType<typeof readConfigFile>>;
  try {
    initial = await readConfigFile(options.config);
  } catch (error) {
    log.fatal((error as Error).message);
    process.exit(1);
  }
  let proxy: ProxyHandle;
  let client: ControlClient | undefined;
  const sink = { publish: (frame: Parameters<ControlClient['publish']>[0]) => client?.publish(frame) };
  const admin = options.admin ? { host: options.adminHost, port: options.adminPort } : undefined;
  const start = async (config: unknown): Promise<ProxyHandle> => {
    if (options.workers > 1) {
      return startWorkers(config, {
        workers: options.workers,
        sink,
        logger: log,
        admin,
        drainTimeoutMs: options.drainTimeoutMs,
      });
    }
    return createProxy(config, {
      sink,
      logger: log,
      admin,
      drainTimeoutMs: options.drainTimeoutMs,
      accessLog: options.accessLog,
      processMetrics: true,
    });
  };
  // A proxy restarted while the control plane is away comes up with its last-known-good snapshot, so that it is
  // never ready (nor listening) with only the bootstrap's routes.
  const bootstrap = bootstrapOf(initial.value);
  let restored =
    options.controlPlane && options.stateDir ? await readLastKnownGood(options.stateDir) : undefined;
  try {
    if (restored) {
      try {
        proxy = await start(mergeConfig(bootstrap, restored.revision, restored.slice));
      } catch (error) {
        if (!(error instanceof ProxyConfigError)) throw error;
        log.warn(
          { errors: error.errors, revision: restored.revision },
          'the last-known-good snapshot on disk does not fit this config file; starting without it',
        );
        restored = undefined;
        proxy = await start(initial.value);
      }
    } else {
      proxy = await start(initial.value);
    }
  } catch (error) {
    if (error instanceof ProxyConfigError || error instanceof ConfigFileError)
      log.fatal({ errors: (error as ProxyConfigError).errors }, error.message);
    else log.fatal({ err: error }, 'the proxy could not start');
    process.exit(1);
  }
  const listeners = proxy.snapshot.config.listeners.map((l) => {
    const a = proxy.address(l.name);
    return `${l.name} (${l.mode}) ${a?.address}:${a?.port}`;
  });
  log.info(
    { listeners, admin: proxy.adminUrl, ...(options.workers > 1 ? { workers: options.workers } : {}) },
    'trellis-proxy is up',
  );
  if (options.controlPlane) {
    let joinToken: string;
    try {
      joinToken = await readJoinToken(options.joinTokenSource);
    } catch (error) {
      log.fatal((error as Error).message);
      await proxy.close();
      process.exit(1);
    }
    if (options.joinTokenSource.argument !== undefined)
      log.warn(
        '--join-token puts the token where any local user can read it (ps); use --join-token-file or TRELLIS_JOIN_TOKEN',
      );
    if (options.controlPlane.startsWith('ws://'))
      log.warn(
        'the control plane is reached over plain ws://: the join token and certificates cross unencrypted',
      );
    client = controlClientFor(proxy, options, bootstrap, restored, joinToken, log);
    await client.start();
  } else if (options.identityDir) {
    try {
      await identityFromDir(proxy, options, log);
    } catch (error) {
      log.fatal((error as Error).message);
      await proxy.close();
      process.exit(1);
    }
  }
  // Joined to a control plane, the proxy has started once it holds its certificate (src/identity.ts says so).
  if (!options.controlPlane) markStarted();
  const stopWatching = options.controlPlane
    ? () => {}
    : watchConfigFile(
        options.config,
        initial.hash,
        (value) => {
          proxy.apply(value).then((r) => {
            if (!r.ok) log.error({ errors: r.errors }, `kept the previous config: ${r.message}`);
          });
        },
        (error) => log.error(`kept the previous config: ${error.message}`),
      );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    stopWatching();
    const leave = client
      ? client.stop().then(() => new Promise((resolve) => setTimeout(resolve, options.deregisterDelayMs)))
      : Promise.resolve();
    leave
      .then(() => proxy.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
