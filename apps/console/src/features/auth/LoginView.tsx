'use client';

/**
 * The login page: username and password, checked with the API's schema before anything is sent; a refusal says why
 * (wrong credentials, or too many tries and how long to wait), a success goes where the browser was sent from
 * (`?next=`, a path of the console only).
 */
import { useRouter, useSearchParams } from 'next/navigation';
import { safeNext } from '../../lib/api';
import { Field, useCheckedForm } from '../rules/components';
import { type LoginValues, loginFailureText, validateLogin } from './form';
import { login, useSessionStart } from './queries';

const FIELDS = ['username', 'password'];
const EMPTY: LoginValues = { username: '', password: '' };

export function LoginView() {
  const router = useRouter();
  const next = safeNext(useSearchParams().get('next'));
  const start = useSessionStart();
  const form = useCheckedForm({
    fields: FIELDS,
    initial: EMPTY,
    validate: validateLogin,
    send: async (body) => {
      start(await login(body));
      router.replace(next);
      return undefined;
    },
    fail: (error) => {
      form.edit({ password: '' });
      return loginFailureText(error);
    },
    leaves: true,
  });

  return (
    <section className="page login-page" aria-labelledby="login-title">
      <form className="panel login-form" aria-labelledby="login-title" onSubmit={form.submit} noValidate>
        <h1 id="login-title">Sign in to Trellis</h1>
        {form.failure ? (
          <div role="alert" className="banner" data-testid="login-error">
            {form.failure}
          </div>
        ) : null}
        <Field {...form.field('username')} label="Username" type="text" autoComplete="username" />
        <Field {...form.field('password')} label="Password" type="password" autoComplete="current-password" />
        <div className="actions">
          <button type="submit" className="button primary" disabled={form.pending}>
            {form.pending ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </section>
  );
}
