/**
 * GET /metrics (Prometheus, viewer role: scrapers send a bearer token), GET /api/v1/openapi.json and the API
 * reference page at GET /api/v1/docs (public: they describe the API, they expose none of its data). The
 * reference page's viewer is served from the swagger-ui-dist package installed with the control plane, never
 * from a CDN, so it works offline and under a strict Content-Security-Policy.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith, TrellisError } from '../../errors.ts';
import type { ControlMetrics } from '../../metrics.ts';
import {
  DOCS_ASSETS,
  DOCS_CSP,
  DOCS_HTML,
  DOCS_INIT_JS,
  DOCS_PATH,
  OPENAPI_PATH,
  openApiDocument,
  PROMETHEUS_PATH,
} from '../openapi.ts';

const AssetParams = z.object({ asset: z.string() });

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** The viewer's files, read once. */
const assets = new Map<string, Promise<Buffer>>();
function asset(name: (typeof DOCS_ASSETS)[number]): Promise<Buffer> {
  let file = assets.get(name);
  if (!file) {
    if (name === 'init.js') file = Promise.resolve(Buffer.from(DOCS_INIT_JS));
    else {
      const dir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
      file = readFile(path.join(dir, name));
    }
    file.catch(() => assets.delete(name));
    assets.set(name, file);
  }
  return file;
}

export function registerObservabilityRoutes(app: FastifyInstance, metrics: ControlMetrics) {
  app.get(PROMETHEUS_PATH, { config: { role: 'viewer' } }, async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  let document: string | undefined;
  app.get(OPENAPI_PATH, { config: { role: 'public' } }, async (_req, reply) => {
    document ??= JSON.stringify(openApiDocument());
    reply.header('content-type', 'application/json; charset=utf-8');
    return document;
  });

  app.get(DOCS_PATH, { config: { role: 'public' } }, async (_req, reply) => {
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('content-security-policy', DOCS_CSP);
    reply.header('x-content-type-options', 'nosniff');
    return DOCS_HTML;
  });

  app.get(`${DOCS_PATH}/:asset`, { config: { role: 'public' } }, async (req, reply) => {
    const { asset: name } = parseWith(AssetParams, req.params);
    const known = DOCS_ASSETS.find((a) => a === name);
    if (!known)
      throw new TrellisError('TRELLIS_ERR_NOT_FOUND', `no file ${JSON.stringify(name)} in the API reference`);
    reply.header('content-type', TYPES[path.extname(known)] ?? 'application/octet-stream');
    reply.header('cache-control', 'public, max-age=3600');
    reply.header('x-content-type-options', 'nosniff');
    return asset(known);
  });
}
