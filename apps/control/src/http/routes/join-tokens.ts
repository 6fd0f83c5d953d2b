/**
 * Join tokens (admin only): a proxy joining with one may register only as the token's service, so it can only
 * ever be given that service's identity. The secret is shown once, in the answer to its creation.
 */
import { API_PREFIX, JoinTokenCreate } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { createJoinToken, listJoinTokens, revokeJoinToken } from '../../auth/store.ts';
import { parseWith } from '../../errors.ts';
import type { AuthRouteDeps } from './auth.ts';
import { actorOf } from './mesh.ts';
import { TokenIdParams } from './tokens.ts';

export function registerJoinTokenRoutes(app: FastifyInstance, deps: AuthRouteDeps) {
  const P = `${API_PREFIX}/join-tokens`;
  app.get(P, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return listJoinTokens(deps);
  });
  app.post(P, async (req, reply) => {
    const created = await createJoinToken(deps, actorOf(req), parseWith(JoinTokenCreate, req.body ?? {}));
    reply.code(201).header('cache-control', 'no-store');
    return created;
  });
  app.delete(`${P}/:id`, async (req, reply) => {
    await revokeJoinToken(deps, parseWith(TokenIdParams, req.params).id);
    reply.code(204);
  });
}
