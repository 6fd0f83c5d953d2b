/** /healthz: the process answers. /readyz: the database answers and every migration is applied. */
import type { FastifyInstance } from 'fastify';
import { TrellisError } from '../../errors.ts';
import type { AppDeps } from '../app.ts';

export function registerHealthRoutes(app: FastifyInstance, deps: Pick<AppDeps, 'db' | 'pendingMigrations'>) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await deps.db.$queryRaw`SELECT 1`;
    } catch {
      throw new TrellisError('TRELLIS_ERR_DATABASE_UNAVAILABLE', 'the database cannot be reached');
    }
    const pending = await deps.pendingMigrations();
    if (pending.length > 0) {
      throw new TrellisError('TRELLIS_ERR_NOT_READY', `migrations not applied: ${pending.join(', ')}`);
    }
    return { status: 'ready' };
  });
}
