/**
 * The pure parts of signing in and of the password change: the forms' values checked with the API's own schemas
 * (so the messages are the API's), and a refused login told as the operator needs it: a wrong password, or too many
 * tries with the time to wait. Roles decide what the console offers: `allowed` is the one test every button uses.
 */
import { LoginRequest, MIN_PASSWORD_LENGTH, PasswordChange, type Role, roleAtLeast } from '@trellis/schema';
import { ApiError } from '../../lib/api';
import { type ValidationResult, validateWith } from '../rules/form';

export interface LoginValues {
  username: string;
  password: string;
}

export function validateLogin(values: LoginValues): ValidationResult<LoginRequest> {
  return validateWith(LoginRequest, { username: values.username.trim(), password: values.password });
}

/** Why a login was refused, as the login page says it. */
export function loginFailureText(error: Error): string {
  if (!(error instanceof ApiError)) return error.message;
  if (error.status === 401) return 'Wrong username or password.';
  if (error.status === 429) {
    const wait = error.retryAfter;
    return `Too many failed logins. Try again ${
      wait === undefined ? 'later' : `in ${wait} ${wait === 1 ? 'second' : 'seconds'}`
    }.`;
  }
  if (error.status === 0 || error.status >= 500)
    return `The control plane is unreachable; try again. (${error.message})`;
  return error.message;
}

export interface PasswordValues {
  currentPassword: string;
  newPassword: string;
  confirm: string;
}

export const PASSWORD_HINT = `At least ${MIN_PASSWORD_LENGTH} characters.`;

export function validatePasswordChange(values: PasswordValues): ValidationResult<PasswordChange> {
  const extra =
    values.confirm !== values.newPassword
      ? [{ path: 'confirm', message: 'does not match the new password' }]
      : [];
  return validateWith(
    PasswordChange,
    { currentPassword: values.currentPassword, newPassword: values.newPassword },
    extra,
  );
}

/** What the console offers a role: reading to everyone, rule changes to editors, users and tokens to admins. */
export type Capability = 'read' | 'edit' | 'admin';

const NEEDS: Record<Capability, Role> = { read: 'viewer', edit: 'editor', admin: 'admin' };

/** Whether `role` may do `what`; no role (not known yet, or signed out) may do nothing. */
export function allowed(role: Role | undefined, what: Capability): boolean {
  return role !== undefined && roleAtLeast(role, NEEDS[what]);
}

export const ROLE_TEXT: Record<Role, string> = {
  viewer: 'viewer: reads the mesh',
  editor: 'editor: also changes rules',
  admin: 'admin: also manages users and tokens',
};
