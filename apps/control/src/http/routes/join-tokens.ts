/**
 * Join tokens (admin only): a proxy joining with one may register only as the token's service, so it can only
 * ever be given that service's identity. The secret is shown once, in the answer to its creation; creations and
 * revocations go to the security log.
 */
import { API_PREFIX, JoinTokenCreate } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { createJoinToken, listJoinTokens, revokeJoinToken } from '../../auth/store.ts';
import { parseWith } from '../../errors.ts';
import { type AuthRouteDeps, audit } from './auth.ts';
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
    await audit(deps, req, {
      action: 'join-token.create',
      subject: created.id,
      service: created.service,
      detail: { expiresAt: created.expiresAt },
    });
    reply.code(201).header('cache-control', 'no-store');
    return created;
  });
  app.delete(`${P}/:id`, async (req, reply) => {
    const { id } = parseWith(TokenIdParams, req.params);
    const { service, revoked } = await revokeJoinToken(deps, id);
    if (revoked) await audit(deps, req, { action: 'join-token.revoke', subject: id, service });
    reply.code(204);
  });
}
