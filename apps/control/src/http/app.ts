/**
 * buildApp(deps) assembles the control plane's HTTP API on fastify. Everything it needs comes in through
 * `deps`, so tests run it in-process (inject) or on a real port with the same code.
 */
import http from 'node:http';
import https from 'node:https';
import { formatPath, unstorableText } from '@trellis/schema';
import fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { authenticateUpgrade, installGuard } from '../auth/guard.ts';
import { LoginLimiter } from '../auth/rate-limit.ts';
import type { Db } from '../db/client.ts';
import { TrellisError, toProblem } from '../errors.ts';
import { DEFAULT_JSON_MAX_DEPTH, parseJsonText } from '../json.ts';
import { ControlMetrics } from '../metrics.ts';
import type { ReplicaRegistry } from '../replicas.ts';
import type { StoreDeps } from '../store/change.ts';
import { type SecurityLog, securityLog } from '../store/security-events.ts';
import type { EventStream } from '../stream/events.ts';
import type { ProxyStream } from '../stream/hub.ts';
import type { TelemetryPipeline } from '../telemetry/pipeline.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { registerAuthorizationRoutes } from './routes/authz.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerHistoryRoutes } from './routes/history.ts';
import { registerJoinTokenRoutes } from './routes/join-tokens.ts';
import { registerMeshRoutes } from './routes/mesh.ts';
import { registerObservabilityRoutes } from './routes/observability.ts';
import { registerProxyRoutes } from './routes/proxies.ts';
import { registerTelemetryRoutes } from './routes/telemetry.ts';
import { registerTokenRoutes } from './routes/tokens.ts';
import { registerUserRoutes } from './routes/users.ts';
import { trustedProxies } from './trusted-proxies.ts';

export interface AppDeps {
  db: Db;
  logger: Logger;
  bodyLimitBytes: number;
  /** Serve HTTPS (and WSS) with this key and certificate; plain HTTP without. */
  https?: { key: string; cert: string } | undefined;
  /** Reports migrations that are on disk but not applied; empty when the schema is current. */
  pendingMigrations: () => Promise<string[]>;
  clock?: () => Date;
  newId?: () => string;
  /**
   * The proxy stream: when given, WebSocket upgrades on its path are handed to it, GET /api/v1/proxies reports
   * on it, and closing the app closes it (first, since open WebSockets would keep the HTTP server from closing).
   */
  stream?: ProxyStream;
  /** The control-plane replicas on this database: GET /api/v1/proxies asks the others for their proxies. */
  replicas?: ReplicaRegistry;
  /**
   * The telemetry pipeline: when given, GET /api/v1/topology and /api/v1/metrics read it, WebSocket upgrades on
   * TELEMETRY_STREAM_PATH go to its live stream, and closing the app closes that stream.
   */
  telemetry?: TelemetryPipeline;
  /** The console's event feed: WebSocket upgrades on EVENTS_STREAM_PATH go to it; closing the app closes it. */
  events?: EventStream;
  /** The static admin bearer token (TRELLIS_ADMIN_TOKEN): for automation, compared by hash in constant time. */
  adminToken?: string | undefined;
  /** Counts failed logins; default a fresh one (5 failures per username or address in 15 min). */
  loginLimiter?: LoginLimiter;
  /** The first-run password file of user `admin`, removed when admin sets a password. */
  initialPasswordFile?: string | undefined;
  /** The control plane's Prometheus metrics (GET /metrics); default a fresh registry of this app's own. */
  metrics?: ControlMetrics;
  /** Deepest nesting of arrays and objects a JSON body may have (TRELLIS_JSON_MAX_DEPTH); default 64. */
  jsonMaxDepth?: number;
  /**
   * The security log, where logins, users and tokens changed are written; default one of this app's own. The
   * control plane passes the one its proxy stream writes to, so that both are batched together.
   */
  securityLog?: SecurityLog;
  /**
   * Origins besides the addressed host whose pages may open the WebSocket feeds with the session cookie
   * (TRELLIS_CONSOLE_ORIGINS); default none.
   */
  consoleOrigins?: readonly string[];
  /**
   * Peers whose X-Forwarded-For names the client (TRELLIS_TRUSTED_PROXIES: addresses, CIDR ranges, `loopback`);
   * default none, so that a caller is known by its own address and cannot pick another.
   */
  trustedProxies?: readonly string[];
}

function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = toProblem(error, request.url);
  if (body.code === 'TRELLIS_ERR_UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="trellis"');
  const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.debug({ code: body.code }, body.detail);
  return reply.code(status).type('application/problem+json').send(body);
}

/** A value of a body being walked, with the key it is under and the value that holds it. */
interface Visit {
  value: unknown;
  key: PropertyKey | undefined;
  parent: Visit | undefined;
}

function pathOf(visit: Visit | undefined): string {
  const path: PropertyKey[] = [];
  for (let at = visit; at?.key !== undefined; at = at.parent) path.push(at.key);
  return formatPath(path.reverse());
}

function unstorable(visit: Visit | undefined, problem: string): TrellisError {
  const at = pathOf(visit);
  return new TrellisError('TRELLIS_ERR_VALIDATION', `${at || 'body'}: ${problem}`, {
    errors: [{ path: at, message: problem }],
  });
}

/**
 * Backstop for every string in a body, whatever the schema: Postgres cannot store NUL or lone surrogates, so
 * such a value must be refused here with its path rather than fail later inside a transaction. Each value is
 * visited once with a link to its parent, and the path is spelt out only for the one value refused.
 */
function assertStorable(root: unknown): void {
  const stack: Visit[] = [{ value: root, key: undefined, parent: undefined }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const { value } = visit;
    if (typeof value === 'string') {
      const problem = unstorableText(value);
      if (problem) throw unstorable(visit, problem);
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        stack.push({ value: value[index], key: index, parent: visit });
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        const problem = unstorableText(key);
        if (problem) throw unstorable(visit, `a key ${problem}`);
        stack.push({ value: item, key, parent: visit });
      }
    }
  }
}

function parseJson(body: string, maxDepth: number): unknown {
  if (body.trim() === '') return undefined;
  const parsed = parseJsonText(body, maxDepth);
  assertStorable(parsed);
  return parsed;
}

/** Idle keep-alive connections are kept this long, well past clients' own idle timeouts (fastify's default). */
export const KEEP_ALIVE_TIMEOUT_MS = 72_000;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    return503OnClosing: true,
    trustProxy: trustedProxies(deps.trustedProxies ?? []),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Errors the router raises before any route runs (a path segment too long, a malformed URL) get the same
    // problem+json as every other error, not fastify's own JSON.
    frameworkErrors: (error, request, reply) => sendProblem(error, request, reply),
    // One server type either way: an https.Server is an http.Server to everything that handles requests.
    serverFactory: (handler) => {
      const server = (
        deps.https
          ? https.createServer({ ...deps.https, minVersion: 'TLSv1.2' }, handler)
          : http.createServer(handler)
      ) as http.Server;
      // fastify sets this only on servers it makes itself. Node's default (5 s) is also the idle timeout of Node's
      // keep-alive clients (the console's forwarding of /api/v1, the CLI): the server closing an idle connection
      // just as the client reuses it made the console answer 500.
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
  });

  const jsonMaxDepth = deps.jsonMaxDepth ?? DEFAULT_JSON_MAX_DEPTH;
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/i, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string, jsonMaxDepth));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.setErrorHandler(sendProblem);

  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toProblem(
      new TrellisError(
        'TRELLIS_ERR_ROUTE_NOT_FOUND',
        `no API route ${request.method} ${request.url.split('?')[0]}`,
      ),
      request.url,
    );
    return reply.code(status).type('application/problem+json').send(body);
  });

  const store: StoreDeps = {
    db: deps.db,
    clock: deps.clock ?? (() => new Date()),
    newId: deps.newId ?? (() => crypto.randomUUID()),
  };
  const auth = {
    db: deps.db,
    clock: store.clock,
    newId: store.newId,
    adminToken: deps.adminToken,
    limiter: deps.loginLimiter ?? new LoginLimiter(),
    security: deps.securityLog ?? securityLog(store, deps.logger.child({ component: 'security-log' })),
    initialPasswordFile: deps.initialPasswordFile,
  };
  installGuard(app, auth);
  const metrics = deps.metrics ?? new ControlMetrics();
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  registerObservabilityRoutes(app, metrics);
  registerHealthRoutes(app, deps);
  registerAuthRoutes(app, auth);
  registerUserRoutes(app, auth);
  registerTokenRoutes(app, auth);
  registerJoinTokenRoutes(app, auth);
  registerMeshRoutes(app, store);
  registerAuthorizationRoutes(app, store);
  registerHistoryRoutes(app, store);
  const telemetry = deps.telemetry;
  if (telemetry) {
    registerTelemetryRoutes(app, telemetry, store.clock);
    app.addHook('preClose', () => telemetry.stream.close());
  }
  const stream = deps.stream;
  if (stream) {
    metrics.countConnected(() => stream.list().filter((p) => p.status !== 'DISCONNECTED').length);
    registerProxyRoutes(app, stream, deps.replicas);
    app.addHook('preClose', () => stream.close());
  }
  const events = deps.events;
  if (events) app.addHook('preClose', () => events.close());
  if (stream || telemetry || events) {
    app.server.on('upgrade', (req, socket, head) => {
      const feed = telemetry?.stream.handles(req)
        ? telemetry.stream
        : events?.handles(req)
          ? events
          : undefined;
      if (feed) {
        // The console's feeds need a viewer; refused before the upgrade. The proxy stream authenticates
        // proxies with join tokens in their hello instead.
        socket.on('error', () => {});
        authenticateUpgrade(auth, req.headers, 'viewer', deps.consoleOrigins)
          .then((result) => {
            if (result.ok) return feed.handleUpgrade(req, socket, head);
            const { status, body } = toProblem(result.error, req.url);
            const text = JSON.stringify(body);
            const challenge = status === 401 ? 'WWW-Authenticate: Bearer realm="trellis"\r\n' : '';
            socket.end(
              `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${challenge}Content-Type: application/problem+json\r\n` +
                `Connection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
            );
          })
          .catch((err) => {
            deps.logger.warn({ err }, 'could not complete a WebSocket upgrade');
            socket.destroy();
          });
      } else if (stream) stream.handleUpgrade(req, socket, head);
      else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }
  return app;
}
