/** Read-only routes over the mesh's history: revisions with their snapshots, and the audit log. */
import { API_PREFIX, AuditQuery, PageQuery } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith } from '../../errors.ts';
import type { StoreDeps } from '../../store/change.ts';
import { getRevision, listAudit, listRevisions } from '../../store/history.ts';

const RevisionParams = z.object({
  revision: z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be an integer' })
    .min(1)
    .max(2_147_483_647),
});

export function registerHistoryRoutes(app: FastifyInstance, store: StoreDeps) {
  app.get(`${API_PREFIX}/revisions`, async (req) =>
    listRevisions(store, parseWith(PageQuery.strip(), req.query)),
  );
  app.get(`${API_PREFIX}/revisions/:revision`, async (req) =>
    getRevision(store, parseWith(RevisionParams, req.params).revision),
  );
  app.get(`${API_PREFIX}/audit`, async (req) => listAudit(store, parseWith(AuditQuery.strip(), req.query)));
}
