'use client';

/**
 * The login page: username and password, checked with the API's schema before anything is sent; a refusal says why
 * (wrong credentials, or too many tries and how long to wait), a success goes where the browser was sent from
 * (`?next=`, a path of the console only).
 */
import { useRouter, useSearchParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { safeNext } from '../../lib/api';
import { Field, useFieldErrors } from '../rules/components';
import { type LoginValues, loginFailureText, validateLogin } from './form';
import { login, useSessionStart } from './queries';

const FIELDS = ['username', 'password'];

export function LoginView() {
  const router = useRouter();
  const next = safeNext(useSearchParams().get('next'));
  const start = useSessionStart();
  const [values, setValues] = useState<LoginValues>({ username: '', password: '' });
  const [failure, setFailure] = useState<string>();
  const [pending, setPending] = useState(false);
  const errors = useFieldErrors(FIELDS);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(undefined);
    const checked = validateLogin(values);
    if (!checked.ok) {
      errors.show(checked.errors);
      return;
    }
    errors.clear();
    setPending(true);
    try {
      start(await login(checked.body));
      router.replace(next);
    } catch (error) {
      setFailure(loginFailureText(error as Error));
      setValues((v) => ({ ...v, password: '' }));
      setPending(false);
    }
  };

  return (
    <section className="page login-page" aria-labelledby="login-title">
      <form className="panel login-form" aria-labelledby="login-title" onSubmit={submit} noValidate>
        <h1 id="login-title">Sign in to Trellis</h1>
        {failure ? (
          <div role="alert" className="banner" data-testid="login-error">
            {failure}
          </div>
        ) : null}
        <Field
          ctx={errors.ctx}
          field="username"
          label="Username"
          type="text"
          autoComplete="username"
          value={values.username}
          onChange={(username) => setValues({ ...values, username })}
        />
        <Field
          ctx={errors.ctx}
          field="password"
          label="Password"
          type="password"
          autoComplete="current-password"
          value={values.password}
          onChange={(password) => setValues({ ...values, password })}
        />
        <div className="actions">
          <button type="submit" className="button primary" disabled={pending}>
            {pending ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </section>
  );
}
