/**
 * API tokens (admin only): the secret is in the answer to its creation and nowhere else, ever (not in the security
 * log, where each creation and revocation goes).
 */
import { API_PREFIX, ApiTokenCreate } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createApiToken, listApiTokens, revokeApiToken } from '../../auth/store.ts';
import { parseWith } from '../../errors.ts';
import { type AuthRouteDeps, audit } from './auth.ts';
import { actorOf } from './mesh.ts';

export const TokenIdParams = z.object({ id: z.string() });

export function registerTokenRoutes(app: FastifyInstance, deps: AuthRouteDeps) {
  const P = `${API_PREFIX}/tokens`;
  app.get(P, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return listApiTokens(deps);
  });
  app.post(P, async (req, reply) => {
    const spec = parseWith(ApiTokenCreate, req.body ?? {});
    const created = await createApiToken(deps, actorOf(req), spec, req.principal?.tokenId ?? null);
    const detail = { name: created.name, role: created.role, expiresAt: created.expiresAt };
    await audit(deps, req, { action: 'token.create', subject: created.id, detail });
    reply.code(201).header('cache-control', 'no-store');
    return created;
  });
  app.delete(`${P}/:id`, async (req, reply) => {
    const { id } = parseWith(TokenIdParams, req.params);
    const { name, revoked } = await revokeApiToken(deps, id);
    if (revoked) await audit(deps, req, { action: 'token.revoke', subject: id, detail: { name } });
    reply.code(204);
  });
}
