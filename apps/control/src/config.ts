/**
 * The control plane's configuration: read from the environment once, here, validated, and passed down.
 * No other module reads process.env.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TRUST_DOMAIN } from '@trellis/schema';
import { z } from 'zod';
import { isOrigin } from './auth/origin.ts';
import { isProxyEntry } from './http/trusted-proxies.ts';
import { DEFAULT_JSON_MAX_DEPTH } from './json.ts';

/** The monorepo root, found from this file's location (apps/control/src). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}

/** "ip", "ip:port" or "[ipv6]:port", as node's Resolver.setServers takes them. */
function isDnsServer(server: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(server);
  if (!match) return isIP(server) !== 0;
  const port = Number(match[3]);
  return isIP(match[1] ?? match[2] ?? '') !== 0 && port >= 1 && port <= 65535;
}

const EnvSchema = z
  .object({
    TRELLIS_CONTROL_HOST: z.string().min(1).default('127.0.0.1'),
    TRELLIS_CONTROL_PORT: int(0, 65535).default(7070),
    TRELLIS_ADVERTISE_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional(),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// URL' })
      .optional(),
    TRELLIS_DATA_DIR: z.string().min(1).optional(),
    TRELLIS_PG_PORT: int(1, 65535).default(54329),
    TRELLIS_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    TRELLIS_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    TRELLIS_JSON_MAX_DEPTH: int(1, 512).default(DEFAULT_JSON_MAX_DEPTH),
    TRELLIS_TRUSTED_PROXIES: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .refine((entries) => entries.every(isProxyEntry), {
        error: 'must be a comma-separated list of IP addresses, CIDR ranges (10.0.0.0/8) or "loopback"',
      })
      .optional(),
    TRELLIS_CONSOLE_ORIGINS: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .refine((origins) => origins.every(isOrigin), {
        error: 'must be a comma-separated list of origins: http(s)://host[:port], no path',
      })
      .optional(),
    TRELLIS_SEED: bool.default(true),
    TRELLIS_ENDPOINT_REAP_INTERVAL_MS: int(100, 3_600_000).default(5000),
    TRELLIS_JOIN_TOKEN: z.string().min(1).max(512).optional(),
    TRELLIS_PROXY_GRACE_MS: int(100, 86_400_000).default(10_000),
    TRELLIS_PROXY_TTL_MS: int(100, 86_400_000).default(60_000),
    TRELLIS_PROXY_PING_MS: int(100, 3_600_000).default(5000),
    TRELLIS_PROXY_HELLO_TIMEOUT_MS: int(100, 3_600_000).default(10_000),
    TRELLIS_PROXY_ACCEPT_RATE: int(1, 1_000_000).default(200),
    TRELLIS_PROXY_RECONNECT_WINDOW_MS: int(0, 3_600_000).default(30_000),
    TRELLIS_TELEMETRY_FLUSH_MS: int(100, 3_600_000).default(10_000),
    TRELLIS_TELEMETRY_RETENTION_10S_MS: int(60_000, 90 * 86_400_000).default(86_400_000),
    TRELLIS_TELEMETRY_RETENTION_1M_MS: int(60_000, 3650 * 86_400_000).default(7 * 86_400_000),
    TRELLIS_CA_KEY: z
      .string()
      .refine((v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32, {
        error: 'must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)',
      })
      .optional(),
    TRELLIS_TRUST_DOMAIN: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { error: 'must be a lower-case DNS name' })
      .default(DEFAULT_TRUST_DOMAIN),
    TRELLIS_CERT_TTL_MS: int(10_000, 30 * 86_400_000).default(86_400_000),
    TRELLIS_ADMIN_PASSWORD: z
      .string()
      .min(12, { error: 'must be at least 12 characters' })
      .max(1024, { error: 'must be at most 1024 characters' })
      .optional(),
    TRELLIS_ADMIN_TOKEN: z
      .string()
      .min(32, { error: 'must be at least 32 characters (e.g. `openssl rand -base64 32`)' })
      .max(512, { error: 'must be at most 512 characters' })
      .regex(/^\S+$/, { error: 'must not contain spaces' })
      .optional(),
    TRELLIS_PROXY_STREAM_PORT: int(0, 65535).default(7443),
    TRELLIS_CONTROL_TLS: bool.optional(),
    TRELLIS_TLS_CERT_FILE: z.string().min(1).optional(),
    TRELLIS_TLS_KEY_FILE: z.string().min(1).optional(),
    TRELLIS_TLS_SANS: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .optional(),
    TRELLIS_ALLOW_PLAINTEXT: bool.default(false),
    TRELLIS_DNS_SERVERS: z
      .string()
      .transform((v) => v.split(',').map((s) => s.trim()))
      .refine((servers) => servers.every(isDnsServer), {
        error: 'must be a comma-separated list of DNS servers: "ip", "ip:port" or "[ipv6]:port"',
      })
      .optional(),
  })
  .refine((e) => (e.TRELLIS_TLS_CERT_FILE === undefined) === (e.TRELLIS_TLS_KEY_FILE === undefined), {
    path: ['TRELLIS_TLS_KEY_FILE'],
    error: 'TRELLIS_TLS_CERT_FILE and TRELLIS_TLS_KEY_FILE go together',
  })
  .refine(
    (e) =>
      e.TRELLIS_ALLOW_PLAINTEXT || isLoopbackHost(e.TRELLIS_CONTROL_HOST) || (e.TRELLIS_CONTROL_TLS ?? true),
    {
      path: ['TRELLIS_CONTROL_TLS'],
      error:
        'is false on a non-loopback TRELLIS_CONTROL_HOST: logins, tokens and join tokens would cross the network in clear (set TRELLIS_ALLOW_PLAINTEXT=true to do it anyway, e.g. behind a TLS-terminating proxy)',
    },
  )
  .refine((e) => e.TRELLIS_PROXY_TTL_MS >= e.TRELLIS_PROXY_GRACE_MS, {
    path: ['TRELLIS_PROXY_TTL_MS'],
    error: 'must be at least TRELLIS_PROXY_GRACE_MS (an endpoint is marked unhealthy before it is removed)',
  })
  .refine((e) => e.TRELLIS_TELEMETRY_RETENTION_1M_MS >= e.TRELLIS_TELEMETRY_RETENTION_10S_MS, {
    path: ['TRELLIS_TELEMETRY_RETENTION_1M_MS'],
    error: 'must be at least TRELLIS_TELEMETRY_RETENTION_10S_MS (coarse data outlives fine data)',
  });

export interface Config {
  host: string;
  port: number;
  /** Where other control-plane replicas reach this one's API; default the address it listens on. */
  advertiseUrl: string | undefined;
  /** External Postgres; when absent an embedded server is started under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  bodyLimitBytes: number;
  /** Deepest nesting of arrays and objects accepted in a JSON request body. */
  jsonMaxDepth: number;
  /**
   * Peers whose X-Forwarded-For is believed (addresses, CIDR ranges, `loopback`): the console's server and any
   * reverse proxy in front of the API. Empty by default: every caller is known by its own address.
   */
  trustedProxies: string[];
  /**
   * Origins the console is served from besides the host its requests name (the console's server forwards that):
   * pages of these may open the WebSocket feeds with the session cookie.
   */
  consoleOrigins: string[];
  seed: boolean;
  endpointReapIntervalMs: number;
  /**
   * A mesh-wide join token: admits a proxy as any service, so whoever holds it can claim any identity. Off unless
   * set (development only); proxies join with per-service tokens (POST /api/v1/join-tokens).
   */
  joinToken: string | undefined;
  /** After a proxy disconnects, its endpoint turns unhealthy once this long has passed without a reconnect. */
  proxyGraceMs: number;
  /** ... and is removed once this long has passed. */
  proxyTtlMs: number;
  /** WebSocket ping interval on proxy streams; two unanswered pings end the connection. */
  proxyPingMs: number;
  /** A proxy stream must send its hello within this time. */
  proxyHelloTimeoutMs: number;
  /** New proxy streams admitted per second; more wait in a queue (reconnect storms). */
  proxyAcceptPerSecond: number;
  /** After a start, proxies get the grace period plus this long to come back before their endpoints are swept. */
  proxyReconnectWindowMs: number;
  /** How often telemetry buckets accumulated in memory are written to Postgres. */
  telemetryFlushMs: number;
  /** How long 10-second telemetry buckets are kept. */
  telemetryRetentionFineMs: number;
  /** How long 1-minute telemetry buckets are kept. */
  telemetryRetentionCoarseMs: number;
  /**
   * Encrypts the CA's private keys at rest (32 bytes). When unset, a key is made and kept in `dataDir/ca.key`:
   * fine for one control plane; replicas must share one key, so set it for them.
   */
  caKey: Buffer | undefined;
  /** The SPIFFE trust domain of proxies' identities. */
  trustDomain: string;
  /** Lifetime of the certificates issued to proxies. */
  certificateTtlMs: number;
  /**
   * The password user `admin` is created with on the first start (no user yet). Unset: one is generated,
   * printed once and written to `dataDir/initial-admin-password` (0600). Ignored once any user exists.
   */
  adminPassword: string | undefined;
  /** A static admin bearer token for automation (compared by hash in constant time). */
  adminToken: string | undefined;
  /** The DNS servers DNS discovery asks ("ip", "ip:port", "[ipv6]:port"); default the system's resolvers. */
  dnsServers: string[] | undefined;
  /**
   * The proxy stream's own TLS port (like istiod's 15012): proxies join over WSS here, verifying the control
   * plane against the mesh CA. 0 picks a free port; null serves no such port.
   */
  proxyStreamPort: number | null;
  /** The API port serves HTTPS (and WSS). Default: on unless the API listens on a loopback address. */
  tls: boolean;
  /** A certificate and key (PEM files) for the TLS listeners; unset: one is issued by the mesh CA. */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  /** Extra DNS names and addresses the issued certificate carries (besides localhost, loopback and the host). */
  tlsNames: string[];
  /** Plain HTTP on a non-loopback address, and plaintext proxy streams from other hosts, are allowed. */
  allowPlaintext: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    host: e.TRELLIS_CONTROL_HOST,
    port: e.TRELLIS_CONTROL_PORT,
    advertiseUrl: e.TRELLIS_ADVERTISE_URL?.replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.TRELLIS_DATA_DIR ?? path.join(REPO_ROOT, '.trellis')),
    embeddedPgPort: e.TRELLIS_PG_PORT,
    logLevel: e.TRELLIS_LOG_LEVEL,
    bodyLimitBytes: e.TRELLIS_BODY_LIMIT_BYTES,
    jsonMaxDepth: e.TRELLIS_JSON_MAX_DEPTH,
    trustedProxies: e.TRELLIS_TRUSTED_PROXIES ?? [],
    consoleOrigins: e.TRELLIS_CONSOLE_ORIGINS ?? [],
    seed: e.TRELLIS_SEED,
    endpointReapIntervalMs: e.TRELLIS_ENDPOINT_REAP_INTERVAL_MS,
    joinToken: e.TRELLIS_JOIN_TOKEN,
    proxyGraceMs: e.TRELLIS_PROXY_GRACE_MS,
    proxyTtlMs: e.TRELLIS_PROXY_TTL_MS,
    proxyPingMs: e.TRELLIS_PROXY_PING_MS,
    proxyHelloTimeoutMs: e.TRELLIS_PROXY_HELLO_TIMEOUT_MS,
    proxyAcceptPerSecond: e.TRELLIS_PROXY_ACCEPT_RATE,
    proxyReconnectWindowMs: e.TRELLIS_PROXY_RECONNECT_WINDOW_MS,
    telemetryFlushMs: e.TRELLIS_TELEMETRY_FLUSH_MS,
    telemetryRetentionFineMs: e.TRELLIS_TELEMETRY_RETENTION_10S_MS,
    telemetryRetentionCoarseMs: e.TRELLIS_TELEMETRY_RETENTION_1M_MS,
    caKey: e.TRELLIS_CA_KEY === undefined ? undefined : Buffer.from(e.TRELLIS_CA_KEY, 'base64'),
    trustDomain: e.TRELLIS_TRUST_DOMAIN,
    certificateTtlMs: e.TRELLIS_CERT_TTL_MS,
    adminPassword: e.TRELLIS_ADMIN_PASSWORD,
    adminToken: e.TRELLIS_ADMIN_TOKEN,
    dnsServers: e.TRELLIS_DNS_SERVERS,
    proxyStreamPort: e.TRELLIS_PROXY_STREAM_PORT,
    tls: e.TRELLIS_CONTROL_TLS ?? !isLoopbackHost(e.TRELLIS_CONTROL_HOST),
    tlsCertFile: e.TRELLIS_TLS_CERT_FILE,
    tlsKeyFile: e.TRELLIS_TLS_KEY_FILE,
    tlsNames: e.TRELLIS_TLS_SANS ?? [],
    allowPlaintext: e.TRELLIS_ALLOW_PLAINTEXT,
  };
}
