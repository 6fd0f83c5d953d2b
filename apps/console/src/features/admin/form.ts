/**
 * The pure parts of the admin pages: the create forms' values checked with the API's schemas, and a token's state
 * as the lists show it (active, expired, revoked), from its dates.
 */
import { ApiTokenCreate, JoinTokenCreate, type Role, UserCreate } from '@trellis/schema';
import { type ValidationResult, validateWith } from '../rules/form';

export interface UserValues {
  username: string;
  role: Role;
  password: string;
}

export function validateUser(values: UserValues): ValidationResult<UserCreate> {
  return validateWith(UserCreate, {
    username: values.username.trim(),
    role: values.role,
    password: values.password,
  });
}

export interface TokenValues {
  name: string;
  role: Role;
  /** As typed; empty: never expires. */
  expiresInDays: string;
}

/** The optional days field: left out when empty, else the text for the schema to check. */
const days = (text: string) => (text.trim() === '' ? {} : { expiresInDays: text.trim() });

export function validateToken(values: TokenValues): ValidationResult<ApiTokenCreate> {
  return validateWith(ApiTokenCreate, {
    name: values.name.trim(),
    role: values.role,
    ...days(values.expiresInDays),
  });
}

export interface JoinTokenValues {
  service: string;
  expiresInDays: string;
}

export function validateJoinToken(values: JoinTokenValues): ValidationResult<JoinTokenCreate> {
  return validateWith(JoinTokenCreate, { service: values.service, ...days(values.expiresInDays) });
}

export type TokenState = 'active' | 'expired' | 'revoked';

export function tokenState(
  token: { revokedAt: string | null; expiresAt: string | null },
  now: number = Date.now(),
): TokenState {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now) return 'expired';
  return 'active';
}

/** A date as the lists show it; "never" / "–" for none. */
export function dateText(iso: string | null, none = '–'): string {
  return iso === null ? none : new Date(iso).toLocaleString();
}
