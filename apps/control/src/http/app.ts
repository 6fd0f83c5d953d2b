/**
 * buildApp(deps) assembles the control plane's HTTP API on fastify. Everything it needs comes in through
 * `deps`, so tests run it in-process (inject) or on a real port with the same code.
 */
import { formatPath, unstorableText } from '@trellis/schema';
import fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import type { Db } from '../db/client.ts';
import { TrellisError, toProblem } from '../errors.ts';
import type { ReplicaRegistry } from '../replicas.ts';
import type { StoreDeps } from '../store/change.ts';
import type { EventStream } from '../stream/events.ts';
import type { ProxyStream } from '../stream/hub.ts';
import type { TelemetryPipeline } from '../telemetry/pipeline.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerHistoryRoutes } from './routes/history.ts';
import { registerMeshRoutes } from './routes/mesh.ts';
import { registerProxyRoutes } from './routes/proxies.ts';
import { registerTelemetryRoutes } from './routes/telemetry.ts';

export interface AppDeps {
  db: Db;
  logger: Logger;
  bodyLimitBytes: number;
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
}

function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = toProblem(error, request.url);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.debug({ code: body.code }, body.detail);
  return reply.code(status).type('application/problem+json').send(body);
}

/**
 * Backstop for every string in a body, whatever the schema: Postgres cannot store NUL or lone surrogates, so
 * such a value must be refused here with its path rather than fail later inside a transaction.
 */
function assertStorable(root: unknown): void {
  const stack: [unknown, PropertyKey[]][] = [[root, []]];
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, PropertyKey[]];
    if (typeof value === 'string') {
      const problem = unstorableText(value);
      if (problem) {
        const at = formatPath(path);
        throw new TrellisError('TRELLIS_ERR_VALIDATION', `${at || 'body'}: ${problem}`, {
          errors: [{ path: at, message: problem }],
        });
      }
    } else if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) stack.push([item, [...path, index]]);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        const problem = unstorableText(key);
        if (problem) {
          const at = formatPath(path);
          throw new TrellisError('TRELLIS_ERR_VALIDATION', `${at || 'body'}: a key ${problem}`, {
            errors: [{ path: at, message: `a key ${problem}` }],
          });
        }
        stack.push([item, [...path, key]]);
      }
    }
  }
}

function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const message = (error as Error).message;
    const hint = /prototype|constructor/i.test(message)
      ? 'the keys "__proto__" and "constructor.prototype" are not allowed'
      : message;
    throw new TrellisError('TRELLIS_ERR_MALFORMED_JSON', `the request body is not valid JSON: ${hint}`);
  }
  assertStorable(parsed);
  return parsed;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Errors the router raises before any route runs (a path segment too long, a malformed URL) get the same
    // problem+json as every other error, not fastify's own JSON.
    frameworkErrors: (error, request, reply) => sendProblem(error, request, reply),
  });

  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/i, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
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
  registerHealthRoutes(app, deps);
  registerMeshRoutes(app, store);
  registerHistoryRoutes(app, store);
  const telemetry = deps.telemetry;
  if (telemetry) {
    registerTelemetryRoutes(app, telemetry, store.clock);
    app.addHook('preClose', () => telemetry.stream.close());
  }
  const stream = deps.stream;
  if (stream) {
    registerProxyRoutes(app, stream, deps.replicas);
    app.addHook('preClose', () => stream.close());
  }
  const events = deps.events;
  if (events) app.addHook('preClose', () => events.close());
  if (stream || telemetry || events) {
    app.server.on('upgrade', (req, socket, head) => {
      if (telemetry?.stream.handles(req)) telemetry.stream.handleUpgrade(req, socket, head);
      else if (events?.handles(req)) events.handleUpgrade(req, socket, head);
      else if (stream) stream.handleUpgrade(req, socket, head);
      else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }
  return app;
}
