/**
 * Routes over the mesh's history: revisions with their snapshots, the audit log and the security log (read-only),
 * and the one write that history allows, a rollback to the configuration of an earlier revision.
 */
import {
  API_PREFIX,
  AuditQuery,
  RevisionListQuery,
  RollbackRequest,
  SecurityEventQuery,
} from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkRole } from '../../auth/guard.ts';
import { CHANGE_ROLES } from '../../auth/roles.ts';
import { parseWith } from '../../errors.ts';
import type { StoreDeps } from '../../store/change.ts';
import { currentRevision } from '../../store/change.ts';
import { getRevision, listAudit, listRevisions } from '../../store/history.ts';
import { rollback } from '../../store/rollback.ts';
import { listSecurityEvents } from '../../store/security-events.ts';
import { principalOf } from './auth.ts';
import { actorOf } from './mesh.ts';

export const RevisionParams = z.object({
  revision: z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be an integer' })
    .min(1, { error: 'must be a revision number (1 or more)' })
    .max(2_147_483_647, { error: 'must be a revision number (at most 2147483647)' }),
});

export function registerHistoryRoutes(app: FastifyInstance, store: StoreDeps) {
  app.get(`${API_PREFIX}/revisions`, async (req) =>
    listRevisions(store, parseWith(RevisionListQuery.strip(), req.query)),
  );
  app.get(`${API_PREFIX}/revisions/:revision`, async (req) =>
    getRevision(store, parseWith(RevisionParams, req.params).revision),
  );
  app.post(`${API_PREFIX}/revisions/:revision/rollback`, async (req, reply) => {
    const { revision } = parseWith(RevisionParams, req.params);
    const { expectedRevision } = parseWith(RollbackRequest, req.body ?? {});
    const principal = principalOf(req);
    // A rollback may make only the changes its caller could make one by one.
    const result = await rollback(store, actorOf(req), revision, expectedRevision, (changes) => {
      for (const { kind, name, action } of changes) {
        const why = `rolling back to revision ${revision} would ${action} ${kind} "${name}", which`;
        checkRole(principal, CHANGE_ROLES[kind], why);
      }
    });
    reply.header('x-trellis-revision', String(result.revision ?? (await currentRevision(store.db))));
    return result;
  });
  app.get(`${API_PREFIX}/audit`, async (req) => listAudit(store, parseWith(AuditQuery.strip(), req.query)));
  app.get(`${API_PREFIX}/security-events`, async (req) =>
    listSecurityEvents(store, parseWith(SecurityEventQuery.strip(), req.query)),
  );
}
