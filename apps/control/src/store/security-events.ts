/**
 * The security log (packages/schema/src/security-events.ts): written beside, not inside, mesh changes, since a
 * sign-in or a join makes no revision. A write that fails must not undo what it records (a join that happened
 * happened), so callers of `recordSecurityEvent` log the failure and go on; `securityLog` does that for them.
 */
import type { Page, SecurityEvent, SecurityEventQuery } from '@trellis/schema';
import type { Logger } from 'pino';
import type { Db } from '../db/client.ts';
import { Batcher } from '../stream/batch.ts';
import { json } from './change.ts';
import { decodeCursor, paginate } from './paging.ts';

export type SecurityEventInput = Omit<SecurityEvent, 'id' | 'at' | 'service' | 'remote' | 'detail'> & {
  service?: string | null;
  remote?: string | null;
  detail?: Record<string, unknown> | null;
};

export interface SecurityLogDeps {
  db: Db;
  clock: () => Date;
}

function rowOf(at: Date, event: SecurityEventInput) {
  return {
    at,
    actor: event.actor,
    action: event.action,
    subject: event.subject,
    service: event.service ?? null,
    remote: event.remote ?? null,
    outcome: event.outcome,
    ...(event.detail ? { detail: json(event.detail) } : {}),
  };
}

export async function recordSecurityEvent(deps: SecurityLogDeps, event: SecurityEventInput): Promise<void> {
  await deps.db.securityEvent.create({ data: rowOf(deps.clock(), event) });
}

/**
 * Records an event without making the caller fail: a failed write is logged as an error. Events arriving together
 * (a reconnect storm of proxies joining) are written together, one insert per batch.
 */
export type SecurityLog = (event: SecurityEventInput) => Promise<void>;

export function securityLog(deps: SecurityLogDeps, logger: Logger): SecurityLog {
  const batcher = new Batcher<ReturnType<typeof rowOf>, void>(async (rows) => {
    await deps.db.securityEvent.createMany({ data: rows });
    return rows.map(() => undefined);
  });
  return (event) =>
    batcher
      .submit(rowOf(deps.clock(), event))
      .catch((err: unknown) =>
        logger.error(
          { err, action: event.action, subject: event.subject },
          'could not write a security event',
        ),
      );
}

export async function listSecurityEvents(
  deps: SecurityLogDeps,
  query: SecurityEventQuery,
): Promise<Page<SecurityEvent>> {
  const before = decodeCursor(query.cursor, 'string');
  if (before !== undefined && !/^\d{1,18}$/.test(before)) decodeCursor('not-a-cursor', 'number');
  const rows = await deps.db.securityEvent.findMany({
    where: {
      ...(before === undefined ? {} : { id: { lt: BigInt(before) } }),
      ...(query.action ? { action: query.action } : {}),
      ...(query.service ? { service: query.service } : {}),
      ...(query.outcome ? { outcome: query.outcome } : {}),
    },
    orderBy: { id: 'desc' },
    take: query.limit + 1,
  });
  const items: SecurityEvent[] = rows.map((r) => ({
    id: r.id.toString(),
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action as SecurityEvent['action'],
    subject: r.subject,
    service: r.service,
    remote: r.remote,
    outcome: r.outcome as SecurityEvent['outcome'],
    detail: (r.detail as Record<string, unknown> | null) ?? null,
  }));
  return paginate(items, query.limit, (e) => e.id);
}
