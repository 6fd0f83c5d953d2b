/** GET /api/v1/proxies: the proxies streaming from this control-plane process and how far each has converged. */

import type { ProxyStatusList } from '@trellis/schema';
import { API_PREFIX } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import type { ProxyStream } from '../../stream/hub.ts';

export function registerProxyRoutes(app: FastifyInstance, stream: ProxyStream) {
  app.get(`${API_PREFIX}/proxies`, async (): Promise<ProxyStatusList> => ({ items: stream.list() }));
}
