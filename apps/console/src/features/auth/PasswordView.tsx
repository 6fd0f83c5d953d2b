'use client';

/** The signed-in user's password change (`/account`): the current password, the new one twice. */
import { ApiError } from '../../lib/api';
import { Field, useCheckedForm } from '../rules/components';
import { failureOf } from '../rules/form';
import { PASSWORD_HINT, type PasswordValues, validatePasswordChange } from './form';
import { changePassword } from './queries';
import { useSession } from './session';

const FIELDS = ['currentPassword', 'newPassword', 'confirm'];
const EMPTY: PasswordValues = { currentPassword: '', newPassword: '', confirm: '' };

export function PasswordView() {
  const { me } = useSession();
  const form = useCheckedForm({
    fields: FIELDS,
    initial: EMPTY,
    validate: validatePasswordChange,
    send: async (body) => {
      await changePassword(body);
      return 'Password changed.';
    },
    fail: (error, show) => {
      const failure = failureOf(error);
      if (failure.kind === 'fields') show(failure.errors);
      else if (error instanceof ApiError && (error.status === 401 || error.status === 403))
        show([{ path: 'currentPassword', message: 'is not your current password' }]);
      else return `The password was not changed: ${error.message}`;
      return undefined;
    },
  });
  const { message } = form;

  return (
    <section className="page" aria-labelledby="account-title">
      <header className="page-header">
        <h1 id="account-title">Your account</h1>
        {me ? (
          <span className="muted">
            {me.username} · {me.role}
          </span>
        ) : null}
      </header>
      <form className="panel route-form" aria-label="Change password" onSubmit={form.submit} noValidate>
        <h2>Change password</h2>
        {message ? (
          <div
            role={message.ok ? 'status' : 'alert'}
            className={message.ok ? 'banner note' : 'banner'}
            data-testid="password-result"
          >
            {message.text}
          </div>
        ) : null}
        <div className="field-row">
          <Field
            {...form.field('currentPassword')}
            label="Current password"
            type="password"
            autoComplete="current-password"
          />
          <Field
            {...form.field('newPassword')}
            label="New password"
            type="password"
            autoComplete="new-password"
            hint={PASSWORD_HINT}
          />
          <Field
            {...form.field('confirm')}
            label="New password again"
            type="password"
            autoComplete="new-password"
          />
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={form.pending}>
            {form.pending ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}
