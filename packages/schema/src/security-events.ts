/**
 * The security log: who joined the mesh, who was given which identity, who signed in, and who changed users,
 * tokens and join tokens. Kept apart from the mesh's audit log (api.ts's AuditEntry) because these events make no
 * revision and are never rolled back; an operator reads both to answer "who could do what, since when".
 */
import { z } from 'zod';
import { PageQuery } from './api.ts';
import { text } from './common.ts';

export const SECURITY_ACTIONS = [
  'proxy.join',
  'proxy.leave',
  'proxy.refused',
  'certificate.issued',
  'certificate.refused',
  'telemetry.refused',
  'login.success',
  'login.failure',
  'logout',
  'password.change',
  'user.create',
  'user.update',
  'user.delete',
  'token.create',
  'token.revoke',
  'join-token.create',
  'join-token.revoke',
] as const;
export const SecurityAction = z.enum(SECURITY_ACTIONS);
export type SecurityAction = z.infer<typeof SecurityAction>;

export const SecurityEvent = z.object({
  id: z.string(),
  at: z.iso.datetime(),
  /** `user:<name>`, `token:<name>`, `join-token:<id>`, `proxy:<service>/<instance>` or `anonymous`. */
  actor: z.string(),
  action: SecurityAction,
  /** Whom or what it concerns: a username, a token's id, `<service>/<instance>`, a certificate's SPIFFE ID. */
  subject: z.string(),
  /** The service concerned, if any. */
  service: z.string().nullable(),
  /** The address the request or connection came from. */
  remote: z.string().nullable(),
  /** Whether what was asked for was done (false: refused). */
  outcome: z.enum(['allowed', 'refused']),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
export type SecurityEvent = z.infer<typeof SecurityEvent>;

export const SecurityEventQuery = PageQuery.extend({
  action: SecurityAction.optional(),
  service: text(253).optional(),
  outcome: z.enum(['allowed', 'refused']).optional(),
});
export type SecurityEventQuery = z.infer<typeof SecurityEventQuery>;
