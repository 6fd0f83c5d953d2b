'use client';

/** The signed-in user's password change (`/account`): the current password, the new one twice. */
import { type FormEvent, useState } from 'react';
import { ApiError } from '../../lib/api';
import { Field, useFieldErrors } from '../rules/components';
import { failureOf } from '../rules/form';
import { PASSWORD_HINT, type PasswordValues, validatePasswordChange } from './form';
import { changePassword } from './queries';
import { useSession } from './session';

const FIELDS = ['currentPassword', 'newPassword', 'confirm'];
const EMPTY: PasswordValues = { currentPassword: '', newPassword: '', confirm: '' };

export function PasswordView() {
  const { me } = useSession();
  const [values, setValues] = useState<PasswordValues>(EMPTY);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, setPending] = useState(false);
  const errors = useFieldErrors(FIELDS);
  const edit = (patch: Partial<PasswordValues>) => setValues({ ...values, ...patch });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(undefined);
    const checked = validatePasswordChange(values);
    if (!checked.ok) {
      errors.show(checked.errors);
      return;
    }
    errors.clear();
    setPending(true);
    try {
      await changePassword(checked.body);
      setValues(EMPTY);
      setMessage({ ok: true, text: 'Password changed.' });
    } catch (error) {
      const failure = failureOf(error as Error);
      if (failure.kind === 'fields') errors.show(failure.errors);
      else if (error instanceof ApiError && (error.status === 401 || error.status === 403))
        errors.show([{ path: 'currentPassword', message: 'is not your current password' }]);
      else setMessage({ ok: false, text: `The password was not changed: ${(error as Error).message}` });
    } finally {
      setPending(false);
    }
  };

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
      <form className="panel route-form" aria-label="Change password" onSubmit={submit} noValidate>
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
            ctx={errors.ctx}
            field="currentPassword"
            label="Current password"
            type="password"
            autoComplete="current-password"
            value={values.currentPassword}
            onChange={(currentPassword) => edit({ currentPassword })}
          />
          <Field
            ctx={errors.ctx}
            field="newPassword"
            label="New password"
            type="password"
            autoComplete="new-password"
            hint={PASSWORD_HINT}
            value={values.newPassword}
            onChange={(newPassword) => edit({ newPassword })}
          />
          <Field
            ctx={errors.ctx}
            field="confirm"
            label="New password again"
            type="password"
            autoComplete="new-password"
            value={values.confirm}
            onChange={(confirm) => edit({ confirm })}
          />
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={pending}>
            {pending ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}
