/**
 * buildApp(deps) assembles the control plane's HTTP API on fastify. Everything it needs comes in through
 * `deps`, so tests run it in-process (inject) or on a real port with the same code.
 */
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import type { Db } from '../db/client.ts';
import { TrellisError, toProblem } from '../errors.ts';
import type { StoreDeps } from '../store/change.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerHistoryRoutes } from './routes/history.ts';
import { registerMeshRoutes } from './routes/mesh.ts';

export interface AppDeps {
  db: Db;
  logger: Logger;
  bodyLimitBytes: number;
  /** Reports migrations that are on disk but not applied; empty when the schema is current. */
  pendingMigrations: () => Promise<string[]>;
  clock?: () => Date;
  newId?: () => string;
}

function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  try {
    return secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const message = (error as Error).message;
    const hint = /prototype|constructor/i.test(message)
      ? 'the keys "__proto__" and "constructor.prototype" are not allowed'
      : message;
    throw new TrellisError('TRELLIS_ERR_MALFORMED_JSON', `the request body is not valid JSON: ${hint}`);
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    disableRequestLogging: false,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  });

  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/i, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toProblem(error, request.url);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: body.code }, body.detail);
    return reply.code(status).type('application/problem+json').send(body);
  });

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
  return app;
}
