/** Revisions (with their snapshots) and the audit log: read-only views of what `change` wrote. */
import type {
  AuditEntry,
  AuditQuery,
  EndpointLists,
  MeshConfig,
  Page,
  Revision,
  RevisionKind,
  RevisionListQuery,
  RevisionSummary,
} from '@trellis/schema';
import type { z } from 'zod';
import type { StoreDeps } from './change.ts';
import { notFound } from './common.ts';
import { decodeCursor, paginate } from './paging.ts';

export async function listRevisions(
  deps: StoreDeps,
  query: z.infer<typeof RevisionListQuery>,
): Promise<Page<RevisionSummary>> {
  const before = decodeCursor(query.cursor, 'number');
  const rows = await deps.db.revision.findMany({
    where: {
      ...(before === undefined ? {} : { revision: { lt: before } }),
      ...(query.kind ? { kind: query.kind } : {}),
    },
    select: { revision: true, createdAt: true, actor: true, summary: true, kind: true },
    orderBy: { revision: 'desc' },
    take: query.limit + 1,
  });
  return paginate(
    rows.map((r) => ({ ...r, kind: r.kind as RevisionKind, createdAt: r.createdAt.toISOString() })),
    query.limit,
    (r) => r.revision,
  );
}

export async function getRevision(deps: StoreDeps, revision: number): Promise<Revision> {
  const row = await deps.db.revision.findUnique({ where: { revision } });
  if (!row) throw notFound('revision', revision);
  return {
    revision: row.revision,
    createdAt: row.createdAt.toISOString(),
    actor: row.actor,
    summary: row.summary,
    kind: row.kind as RevisionKind,
    snapshot: row.snapshot
      ? {
          ...(row.snapshot as MeshConfig),
          authorizationPolicies: (row.snapshot as Partial<MeshConfig>).authorizationPolicies ?? [],
        }
      : null,
    endpoints: (row.endpoints as EndpointLists | null) ?? null,
  };
}

export async function listAudit(
  deps: StoreDeps,
  query: z.infer<typeof AuditQuery>,
): Promise<Page<AuditEntry>> {
  const before = decodeCursor(query.cursor, 'string');
  if (before !== undefined && !/^\d{1,18}$/.test(before)) decodeCursor('not-a-cursor', 'number');
  const rows = await deps.db.auditEntry.findMany({
    where: {
      ...(before === undefined ? {} : { id: { lt: BigInt(before) } }),
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.resourceName ? { resourceName: query.resourceName } : {}),
      ...(query.revision ? { revision: query.revision } : {}),
    },
    orderBy: { id: 'desc' },
    take: query.limit + 1,
  });
  const items: AuditEntry[] = rows.map((r) => ({
    id: r.id.toString(),
    revision: r.revision,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action as AuditEntry['action'],
    kind: r.kind as AuditEntry['kind'],
    resourceId: r.resourceId,
    resourceName: r.resourceName,
    before: r.before ?? null,
    after: r.after ?? null,
  }));
  return paginate(items, query.limit, (e) => e.id);
}
