/**
 * What the routes of the mesh model's resources share: the `:name` parameter and the optional `?version=` of a
 * delete; a write's JSON body is required, and its answer names the revision the change made (or, when it changed
 * nothing, the current one) in `x-trellis-revision`.
 */

import { DnsLabel } from '@trellis/schema';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TrellisError } from '../../errors.ts';
import { type ChangeResult, currentRevision, type StoreDeps } from '../../store/change.ts';

export const NameParams = z.object({ name: DnsLabel });

export const DeleteQuery = z.object({
  version: z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be an integer' })
    .min(1)
    .optional(),
});

export function body(request: FastifyRequest): unknown {
  if (request.body === undefined) {
    throw new TrellisError('TRELLIS_ERR_VALIDATION', 'the request needs a JSON body', {
      errors: [{ path: '', message: 'a JSON body is required' }],
    });
  }
  return request.body;
}

export async function sendChange<T>(
  store: StoreDeps,
  reply: FastifyReply,
  result: ChangeResult<T>,
  status: number,
  location?: string,
): Promise<T | undefined> {
  const revision = result.revision ?? (await currentRevision(store.db));
  reply.header('x-trellis-revision', String(revision));
  if (location) reply.header('location', location);
  reply.code(status);
  return status === 204 ? undefined : result.value;
}
