/**
 * REST routes for authorization policies, shaped like those of traffic policies: list (paged, `?destination=`),
 * get, create (201), replace with the version read (409 on a stale one), delete (204, `?version=` optional).
 */
import {
  API_PREFIX,
  AuthorizationDestination,
  AuthorizationPolicyReplace,
  AuthorizationPolicySpec,
  PageQuery,
} from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { parseWith } from '../../errors.ts';
import * as authz from '../../store/authz.ts';
import type { StoreDeps } from '../../store/change.ts';
import { body, DeleteQuery, NameParams, sendChange } from './change-reply.ts';
import { actorOf } from './mesh.ts';

export const AUTHORIZATION_POLICIES_PATH = `${API_PREFIX}/authorization-policies`;

export const AuthorizationListQuery = PageQuery.extend({
  destination: AuthorizationDestination.optional(),
}).strip();

export function registerAuthorizationRoutes(app: FastifyInstance, store: StoreDeps) {
  const P = AUTHORIZATION_POLICIES_PATH;
  app.get(P, async (req) =>
    authz.listAuthorizationPolicies(store, parseWith(AuthorizationListQuery, req.query)),
  );
  app.post(P, async (req, reply) => {
    const spec = parseWith(AuthorizationPolicySpec, body(req));
    const result = await authz.createAuthorizationPolicy(store, actorOf(req), spec);
    return sendChange(store, reply, result, 201, `${P}/${spec.name}`);
  });
  app.get(`${P}/:name`, async (req) =>
    authz.getAuthorizationPolicy(store, parseWith(NameParams, req.params).name),
  );
  app.put(`${P}/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const result = await authz.replaceAuthorizationPolicy(
      store,
      actorOf(req),
      name,
      parseWith(AuthorizationPolicyReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
  app.delete(`${P}/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const { version } = parseWith(DeleteQuery, req.query);
    return sendChange(
      store,
      reply,
      await authz.deleteAuthorizationPolicy(store, actorOf(req), name, version),
      204,
    );
  });
}
