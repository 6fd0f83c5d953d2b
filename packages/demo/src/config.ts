/**
 * The demo launcher's configuration: read from the environment once, here, validated, and passed down; no other
 * module of the demo reads process.env (the processes it starts get everything as arguments). A bad value stops
 * the start with the name of the variable, as the control plane's config does.
 *
 * The control plane's own variables (TRELLIS_CONTROL_HOST/PORT, TRELLIS_JOIN_TOKEN, TRELLIS_DATA_DIR) are read
 * with the same defaults, so that the demo finds the control plane `npm start` runs. Its proxies join with a
 * per-service join token each, made through the API, unless a mesh-wide TRELLIS_JOIN_TOKEN is set.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The monorepo root, from this file's location (packages/demo/src, or packages/demo/dist once bundled). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const EnvSchema = z.object({
  TRELLIS_DEMO: bool.default(true),
  TRELLIS_DEMO_RATE: z.coerce.number().min(0).max(1000).default(20),
  TRELLIS_DEMO_PORT_BASE: int(0, 65_000).default(7100),
  TRELLIS_DEMO_REPORT_SECONDS: int(0, 3600).default(10),
  TRELLIS_DEMO_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('warn'),
  TRELLIS_CONTROL_HOST: z.string().min(1).default('127.0.0.1'),
  TRELLIS_CONTROL_PORT: int(0, 65535).default(7070),
  TRELLIS_JOIN_TOKEN: z.string().min(1).max(512).optional(),
  TRELLIS_DATA_DIR: z.string().min(1).optional(),
  TRELLIS_ADMIN_TOKEN: z.string().min(1).max(512).optional(),
});

export interface DemoConfig {
  /** TRELLIS_DEMO: whether `npm start` runs the demo mesh at all. */
  enabled: boolean;
  /** TRELLIS_DEMO_RATE: requests per second the traffic generator sends to the ingress; 0 sends none. */
  requestsPerSecond: number;
  /** TRELLIS_DEMO_PORT_BASE: the ingress listens here, the other processes on the ports after it; 0: free ports. */
  basePort: number;
  /** TRELLIS_DEMO_REPORT_SECONDS: how often a traffic summary is printed; 0: never. */
  reportSeconds: number;
  /** TRELLIS_DEMO_LOG_LEVEL: the demo proxies' log level (their lines are printed, prefixed). */
  proxyLogLevel: string;
  /** The control plane's HTTP base URL (the --control-url argument wins over TRELLIS_CONTROL_HOST/PORT). */
  controlUrl: string;
  /** The proxy stream's wss:// URL (--stream-url); default the API's own ws:// one. */
  streamUrl: string | undefined;
  /** The CA bundle the proxies verify the stream with (--control-plane-ca). */
  controlPlaneCa: string | undefined;
  /** TRELLIS_JOIN_TOKEN: a mesh-wide join token for every proxy; unset (the default): one token per service. */
  joinToken: string | undefined;
  /** TRELLIS_ADMIN_TOKEN: the bearer token the demo calls the control plane's API with (`npm start` passes one). */
  controlToken: string | undefined;
  /** <TRELLIS_DATA_DIR or .trellis>/demo: proxy configs and last-known-good snapshots. */
  stateDir: string;
}

export class DemoConfigError extends Error {
  override name = 'DemoConfigError';
}

export function loadDemoConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: { controlUrl?: string; streamUrl?: string; controlPlaneCa?: string } = {},
): DemoConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new DemoConfigError(`invalid demo configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (overrides.controlUrl === undefined && e.TRELLIS_CONTROL_PORT === 0) {
    throw new DemoConfigError(
      'invalid demo configuration:\n  TRELLIS_CONTROL_PORT: is 0 (a free port); pass the control plane with --control-url',
    );
  }
  const host = e.TRELLIS_CONTROL_HOST === '0.0.0.0' ? '127.0.0.1' : e.TRELLIS_CONTROL_HOST;
  return {
    enabled: e.TRELLIS_DEMO,
    requestsPerSecond: e.TRELLIS_DEMO_RATE,
    basePort: e.TRELLIS_DEMO_PORT_BASE,
    reportSeconds: e.TRELLIS_DEMO_REPORT_SECONDS,
    proxyLogLevel: e.TRELLIS_DEMO_LOG_LEVEL,
    controlUrl:
      overrides.controlUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${e.TRELLIS_CONTROL_PORT}`,
    streamUrl: overrides.streamUrl,
    controlPlaneCa: overrides.controlPlaneCa,
    joinToken: e.TRELLIS_JOIN_TOKEN,
    controlToken: e.TRELLIS_ADMIN_TOKEN,
    stateDir: path.join(path.resolve(e.TRELLIS_DATA_DIR ?? path.join(REPO_ROOT, '.trellis')), 'demo'),
  };
}
