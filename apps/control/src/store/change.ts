/**
 * Every write to the mesh goes through `change`: one Postgres transaction that first increments the mesh
 * revision (locking the single MeshState row, so writers are serialised and revisions are gap-free in commit
 * order), then applies the change, then stores the audit entries and the revision. Any error rolls all of it
 * back. A change that turns out to alter nothing writes nothing.
 *
 * A revision that changes only endpoints (proxy registrations, liveness, REST endpoint writes) is of kind
 * "endpoints": it stores the new endpoint lists of the services it touched, not the whole mesh, so registering
 * the n-th proxy costs the size of its service, not of the mesh, and proxies are sent a delta. Every other
 * revision is of kind "config" and stores the mesh configuration (services, routes, policies, without
 * endpoints), for diff and rollback.
 *
 * The transaction also sends NOTIFY on REVISION_CHANNEL with the new revision. Postgres delivers it only when the
 * transaction commits, to every listening session (any control-plane process on this database), so proxy streams
 * everywhere learn about a change the moment it is durable, and never about one that was rolled back.
 */
import type { AuditAction, ResourceKind } from '@trellis/schema';
import { type Db, Prisma } from '../db/client.ts';
import { buildConfig, endpointLists } from './snapshot.ts';

export type Tx = Prisma.TransactionClient;

export interface StoreDeps {
  db: Db;
  clock: () => Date;
  newId: () => string;
}

export interface AuditRecord {
  action: AuditAction;
  kind: ResourceKind;
  resourceId: string;
  resourceName: string;
  before: unknown;
  after: unknown;
  /** For endpoint records: the service the endpoint belongs to. */
  service?: string;
  /** Who made this part of the change, when not the change's actor (one revision registering many proxies). */
  actor?: string;
}

export interface ChangeContext {
  tx: Tx;
  revision: number;
  now: Date;
  newId: () => string;
  record(entry: AuditRecord): void;
}

export interface ChangeResult<T> {
  value: T;
  /** The revision this change created, or null when it changed nothing. */
  revision: number | null;
}

class NothingChanged<T> extends Error {
  constructor(readonly value: T) {
    super('nothing changed');
  }
}

const TX_OPTIONS = { maxWait: 10_000, timeout: 30_000 } as const;

/** The LISTEN/NOTIFY channel that carries each committed revision number (as decimal text). */
export const REVISION_CHANNEL = 'trellis_revision';

/** A value for a required JSON column. */
export function json(value: unknown): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue;
}

/** A value for a nullable JSON column: SQL NULL when absent. */
export function nullableJson(value: unknown): Prisma.InputJsonValue | typeof Prisma.DbNull {
  return value === null || value === undefined ? Prisma.DbNull : (value as Prisma.InputJsonValue);
}

function summarize(records: AuditRecord[]): string {
  const [first] = records;
  if (records.length === 1 && first) return `${first.action} ${first.kind} ${first.resourceName}`;
  const counts = new Map<string, number>();
  for (const r of records)
    counts.set(`${r.action} ${r.kind}`, (counts.get(`${r.action} ${r.kind}`) ?? 0) + 1);
  return [...counts].map(([what, n]) => `${what} ×${n}`).join(', ');
}

/** The services whose endpoints are all that `records` change, or null when they change anything else. */
function endpointServices(records: AuditRecord[]): string[] | null {
  const services = new Set<string>();
  for (const r of records) {
    if (r.kind !== 'endpoint' || r.service === undefined) return null;
    services.add(r.service);
  }
  return [...services].sort();
}

export async function change<T>(
  deps: StoreDeps,
  actor: string,
  apply: (ctx: ChangeContext) => Promise<T>,
  options: { summary?: string } = {},
): Promise<ChangeResult<T>> {
  try {
    return await deps.db.$transaction(async (tx) => {
      const bumped = await tx.$queryRaw<{ revision: number }[]>`
        UPDATE "MeshState" SET revision = revision + 1, "updatedAt" = now() WHERE id = 1 RETURNING revision`;
      const revision = bumped[0]?.revision;
      if (revision === undefined) throw new Error('MeshState row is missing: the database was not migrated');
      const records: AuditRecord[] = [];
      const now = deps.clock();
      const value = await apply({ tx, revision, now, newId: deps.newId, record: (r) => records.push(r) });
      if (records.length === 0) throw new NothingChanged(value);
      const touched = endpointServices(records);
      const content = touched
        ? { kind: 'endpoints', endpoints: json(await endpointLists(tx, touched)) }
        : { kind: 'config', snapshot: json(await buildConfig(tx, revision)) };
      await tx.revision.create({
        data: { revision, createdAt: now, actor, summary: options.summary ?? summarize(records), ...content },
      });
      await tx.$executeRaw`SELECT pg_notify(${REVISION_CHANNEL}, ${String(revision)})`;
      await tx.auditEntry.createMany({
        data: records.map((r) => ({
          revision,
          at: now,
          actor: r.actor ?? actor,
          action: r.action,
          kind: r.kind,
          resourceId: r.resourceId,
          resourceName: r.resourceName,
          before: nullableJson(r.before),
          after: nullableJson(r.after),
        })),
      });
      return { value, revision };
    }, TX_OPTIONS);
  } catch (error) {
    if (error instanceof NothingChanged) return { value: error.value as T, revision: null };
    throw error;
  }
}

/** The current mesh revision (0 before the first change). */
export async function currentRevision(db: Db): Promise<number> {
  const row = await db.meshState.findUnique({ where: { id: 1 } });
  return row?.revision ?? 0;
}
