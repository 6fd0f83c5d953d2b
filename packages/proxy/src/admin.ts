/**
 * The admin listener, like Envoy's admin interface: readiness for the orchestrator, the configuration in use,
 * cluster and endpoint state, statistics and Prometheus metrics. It exposes internals and has no
 * authentication, so it binds to loopback unless told otherwise. It is read-only: every page answers GET (and
 * HEAD); anything else is refused rather than ignored. It runs on the proxy's own HTTP/1.1 engine (a server of its
 * own, apart from the listeners'), not on node:http: a sidecar that never loads node:http is 1 MiB smaller
 * (docs/proxy-memory.md).
 */
import type { AddressInfo } from 'node:net';
import { ERRORS, type ErrorCode, type Problem, problemType } from '@trellis/schema';
import { Http1Server, type ServerExchange } from './engine/server.ts';
import { Fields } from './http1/fields.ts';
import { hostPort } from './types.ts';

/**
 * What the pages show. Answers may be promises: the primary of several worker processes asks its workers
 * (src/cluster/primary.ts).
 */
export interface AdminSource {
  /** /ready: 200 {"ready":true} or 503 {"ready":false}. */
  ready(): boolean;
  /**
   * /config: the snapshot in use, its revision and when it was applied (ISO 8601; null before the first), and the
   * authorization policies its inbound listeners enforce (`authorization`: enforced and dry-run).
   */
  config(): AdminConfigPage | Promise<AdminConfigPage>;
  /** /clusters: endpoints with health, ejection, requests in flight and circuit-breaker state, as given. */
  clusters(): unknown | Promise<unknown>;
  /** /stats: cumulative counters, as given. */
  stats(): unknown | Promise<unknown>;
  /** /metrics: Prometheus text exposition. */
  metrics(): Promise<string>;
  /** /certs: the workload identity and its certificate's dates (never the key). */
  certificates(): unknown | Promise<unknown>;
}

export interface AdminConfigPage {
  revision: number;
  appliedAt: string | null;
  config: unknown;
  authorization?: unknown;
}

export interface AdminOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port (see the returned url). */
  port: number;
}

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const JSON_CONTENT_TYPE = 'application/json';

interface Page {
  status: number;
  contentType: string;
  body: string;
}

function json(status: number, value: unknown): Page {
  return { status, contentType: JSON_CONTENT_TYPE, body: `${JSON.stringify(value) ?? 'null'}\n` };
}

function problem(code: ErrorCode, detail: string, instance: string): Page {
  const { status, title } = ERRORS[code];
  const body: Problem = { type: problemType(code), title, status, detail, code, instance };
  return json(status, body);
}

const PAGES: Record<string, (source: AdminSource) => Page | Promise<Page>> = {
  '/ready': (source) => (source.ready() ? json(200, { ready: true }) : json(503, { ready: false })),
  '/config': async (source) => json(200, await source.config()),
  '/clusters': async (source) => json(200, await source.clusters()),
  '/stats': async (source) => json(200, await source.stats()),
  '/certs': async (source) => json(200, await source.certificates()),
  '/metrics': async (source) => ({
    status: 200,
    contentType: PROMETHEUS_CONTENT_TYPE,
    body: await source.metrics(),
  }),
};

async function answer(source: AdminSource, request: { method: string; target: string }): Promise<Page> {
  const target = request.target;
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  const page = Object.hasOwn(PAGES, path) ? PAGES[path] : undefined;
  if (page === undefined) {
    return problem(
      'TRELLIS_ERR_ROUTE_NOT_FOUND',
      `no admin page at ${path}; try ${Object.keys(PAGES).join(', ')}`,
      path,
    );
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return problem('TRELLIS_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed; use GET`, path);
  }
  try {
    return await page(source);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return problem('TRELLIS_ERR_INTERNAL', `could not render ${path}: ${message}`, path);
  }
}

function send(exchange: ServerExchange, page: Page): void {
  const fields: Record<string, string> = {
    'content-type': page.contentType,
    'cache-control': 'no-store',
  };
  if (page.status === 405) fields.allow = 'GET, HEAD';
  const body = Buffer.from(page.body);
  // An answer to HEAD announces the length of the body it leaves out.
  exchange.respond(page.status, undefined, Fields.of(fields), body, body.length);
}

/** The admin page's connections: few, from the orchestrator and scrapers, on loopback. */
const ADMIN_LIMITS = {
  maxHeadBytes: 16 * 1024,
  maxHeaders: 100,
  maxStartLineBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
};

export function startAdmin(source: AdminSource, options: AdminOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const http = new Http1Server({
    limits: ADMIN_LIMITS,
    now: () => performance.now(),
    onRequest: (exchange) => {
      // A request body (the pages take none) is read and dropped; an upgrade is answered as a plain request.
      exchange.body?.dump();
      answer(source, exchange).then(
        (page) => {
          send(exchange, page);
          if (exchange.upgrade) exchange.socket.end();
        },
        () => exchange.socket.destroy(),
      );
    },
  });
  const server = http.server;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const url = `http://${hostPort(host, port)}`;
      resolve({ url, close: () => http.close(0) });
    });
  });
}
