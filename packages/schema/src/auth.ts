/**
 * Authentication and roles of the control plane's API: the shapes of login, the caller's identity, users, API
 * tokens and proxy join tokens, shared by the control plane, the console and the CLI. Roles are ordered: each
 * includes what the ones below it may do.
 */
import { z } from 'zod';
import { DnsLabel, text, typeError } from './common.ts';

export const ROLES = ['viewer', 'editor', 'admin'] as const;
export const Role = z.enum(ROLES, { error: 'must be "viewer", "editor" or "admin"' });
export type Role = z.infer<typeof Role>;

/** Whether `role` includes everything `needed` may do. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** The session cookie the console's login sets (httpOnly, SameSite=Strict). */
export const SESSION_COOKIE = 'trellis_session';
/** The header a cookie-authenticated write must carry, equal to the session's CSRF token. */
export const CSRF_HEADER = 'x-trellis-csrf';
/** What API tokens start with, so that they are recognisable (and greppable by secret scanners). */
export const API_TOKEN_PREFIX = 'trellis_';
/** Least length of a new password. */
export const MIN_PASSWORD_LENGTH = 12;

export const Username = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .max(64, { error: 'must be at most 64 characters' })
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, {
    error: 'must be lower-case letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
  });

export const Password = text(1024).min(MIN_PASSWORD_LENGTH, {
  error: `must be at least ${MIN_PASSWORD_LENGTH} characters`,
});

export const LoginRequest = z.strictObject({
  username: text(64).min(1, { error: 'must not be empty' }),
  password: text(1024).min(1, { error: 'must not be empty' }),
});
export type LoginRequest = z.infer<typeof LoginRequest>;

export const LoginResponse = z.object({
  user: z.object({ username: z.string(), role: Role }),
  csrfToken: z.string(),
  expiresAt: z.iso.datetime(),
});
export type LoginResponse = z.infer<typeof LoginResponse>;

/** GET /auth/me: who the caller is. */
export const Me = z.object({
  kind: z.enum(['session', 'token']),
  username: z.string().nullable(),
  role: Role,
  csrfToken: z.string().nullable(),
  tokenName: z.string().nullable(),
});
export type Me = z.infer<typeof Me>;

export const PasswordChange = z.strictObject({
  currentPassword: text(1024).min(1, { error: 'must not be empty' }),
  newPassword: Password,
});
export type PasswordChange = z.infer<typeof PasswordChange>;

export const User = z.object({ username: z.string(), role: Role, createdAt: z.iso.datetime() });
export type User = z.infer<typeof User>;

export const UserCreate = z.strictObject({ username: Username, role: Role, password: Password });
export type UserCreate = z.infer<typeof UserCreate>;

export const UserUpdate = z.strictObject({ role: Role.optional(), password: Password.optional() });
export type UserUpdate = z.infer<typeof UserUpdate>;

const expiresInDays = z.coerce
  .number({ error: 'must be a number' })
  .int({ error: 'must be an integer' })
  .min(1, { error: 'must be between 1 and 3650' })
  .max(3650, { error: 'must be between 1 and 3650' });

export const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  createdBy: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** The answer to a token's creation: the only time the secret is shown. */
export const ApiTokenCreated = ApiToken.extend({ token: z.string() });
export type ApiTokenCreated = z.infer<typeof ApiTokenCreated>;

export const ApiTokenCreate = z.strictObject({
  name: text(128)
    .min(1, { error: 'must not be empty' })
    .regex(/^[^\s:][^:]*$/, { error: 'must not start with a space or contain ":"' }),
  role: Role,
  expiresInDays: expiresInDays.optional(),
});
export type ApiTokenCreate = z.infer<typeof ApiTokenCreate>;

export const JoinToken = z.object({
  id: z.string(),
  service: z.string(),
  createdBy: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export type JoinToken = z.infer<typeof JoinToken>;

export const JoinTokenCreated = JoinToken.extend({ token: z.string() });
export type JoinTokenCreated = z.infer<typeof JoinTokenCreated>;

export const JoinTokenCreate = z.strictObject({ service: DnsLabel, expiresInDays: expiresInDays.optional() });
export type JoinTokenCreate = z.infer<typeof JoinTokenCreate>;
