/**
 * Users (admin only): list, create, change role or password, delete. The last admin can be neither demoted nor
 * deleted. Each change goes to the security log.
 */
import { API_PREFIX, PageQuery, UserCreate, Username, UserUpdate } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createUser, deleteUser, listUsers, updateUser } from '../../auth/store.ts';
import { parseWith } from '../../errors.ts';
import { type AuthRouteDeps, audit, forgetInitialPassword } from './auth.ts';

export const UserParams = z.object({ username: Username });

export function registerUserRoutes(app: FastifyInstance, deps: AuthRouteDeps) {
  const P = `${API_PREFIX}/users`;
  app.get(P, async (req) => listUsers(deps, parseWith(PageQuery.strip(), req.query)));
  app.post(P, async (req, reply) => {
    const user = await createUser(deps, parseWith(UserCreate, req.body ?? {}));
    await audit(deps, req, { action: 'user.create', subject: user.username, detail: { role: user.role } });
    reply.code(201).header('location', `${P}/${user.username}`);
    return user;
  });
  app.put(`${P}/:username`, async (req) => {
    const { username } = parseWith(UserParams, req.params);
    const { user, passwordChanged, previousRole } = await updateUser(
      deps,
      username,
      parseWith(UserUpdate, req.body ?? {}),
    );
    if (user.role !== previousRole) {
      const detail = { role: { from: previousRole, to: user.role } };
      await audit(deps, req, { action: 'user.update', subject: username, detail });
    }
    if (passwordChanged) {
      await audit(deps, req, { action: 'password.change', subject: username });
      await forgetInitialPassword(deps, username);
    }
    return user;
  });
  app.delete(`${P}/:username`, async (req, reply) => {
    const { username } = parseWith(UserParams, req.params);
    const { role, tokensRevoked } = await deleteUser(deps, username);
    await audit(deps, req, { action: 'user.delete', subject: username, detail: { role, tokensRevoked } });
    reply.code(204);
  });
}
