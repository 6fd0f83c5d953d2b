/**
 * Every write to the mesh goes through `change`: one Postgres transaction that first increments the mesh
 * revision (locking the single MeshState row, so writers are serialised and revisions are gap-free in commit
 * order), then applies the change, then stores the audit entries and a full snapshot of the mesh at the new
 * revision. Any error rolls all of it back. A change that turns out to alter nothing writes nothing.
 *
 * The transaction also sends NOTIFY on REVISION_CHANNEL with the new revision. Postgres delivers it only when the
 * transaction commits, to every listening session (any control-plane process on this database), so proxy streams
 * everywhere learn about a change the moment it is durable, and never about one that was rolled back.
 */
import type { AuditAction, ResourceKind } from '@trellis/schema';
import { type Db, Prisma } from '../db/client.ts';
import { buildSnapshot } from './snapshot.ts';

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

export async function change<T>(
  deps: StoreDeps,
  actor: string,
  apply: (ctx: ChangeContext) => Promise<T>,
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
      const snapshot = await buildSnapshot(tx, revision);
      await tx.revision.create({
        data: { revision, createdAt: now, actor, summary: summarize(records), snapshot: json(snapshot) },
      });
      await tx.$executeRaw`SELECT pg_notify(${REVISION_CHANNEL}, ${String(revision)})`;
      await tx.auditEntry.createMany({
        data: records.map((r) => ({
          revision,
          at: now,
          actor,
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
