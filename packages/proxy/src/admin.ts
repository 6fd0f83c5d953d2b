/**
 * The admin listener, like Envoy's admin interface: readiness for the orchestrator, the configuration in use,
 * cluster and endpoint state, statistics and Prometheus metrics. It exposes internals and has no
 * authentication, so it binds to loopback unless told otherwise. It is read-only: every page answers GET (and
 * HEAD); anything else is refused rather than ignored. Plain node:http keeps it apart from the request path.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERRORS, type ErrorCode, type Problem, problemType } from '@trellis/schema';
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

async function answer(source: AdminSource, request: IncomingMessage): Promise<Page> {
  const target = request.url ?? '/';
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

function send(response: ServerResponse, page: Page): void {
  response.statusCode = page.status;
  response.setHeader('content-type', page.contentType);
  response.setHeader('content-length', Buffer.byteLength(page.body));
  response.setHeader('cache-control', 'no-store');
  if (page.status === 405) response.setHeader('allow', 'GET, HEAD');
  response.end(page.body);
}

export function startAdmin(source: AdminSource, options: AdminOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    request.resume();
    answer(source, request).then(
      (page) => send(response, page),
      () => response.destroy(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const url = `http://${hostPort(host, port)}`;
      resolve({
        url,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
