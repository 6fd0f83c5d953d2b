'use client';

/**
 * The admin pages: users (create, change the role, delete), API tokens (create, shown once, revoke) and the join
 * tokens proxies register with (create for a service, shown once, revoke). Only an admin is offered them; the API
 * refuses the others all the same, and the page then says so.
 */
import { ROLES, type Role } from '@trellis/schema';
import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useSession } from '../auth/session';
import { Field, type FieldContext, Select, useFieldErrors } from '../rules/components';
import { failureOf, type ValidationResult } from '../rules/form';
import { useServices } from '../services/queries';
import {
  dateText,
  type JoinTokenValues,
  type TokenValues,
  tokenState,
  type UserValues,
  validateJoinToken,
  validateToken,
  validateUser,
} from './form';
import { useAdminChanges, useJoinTokens, useTokens, useUsers } from './queries';

const ROLE_OPTIONS = ROLES.map((r) => ({ value: r, label: r }));

function Page({
  id,
  title,
  intro,
  children,
}: {
  id: string;
  title: string;
  intro: string;
  children: ReactNode;
}) {
  return (
    <section className="page" aria-labelledby={id}>
      <header className="page-header">
        <h1 id={id}>{title}</h1>
        <p className="muted">{intro}</p>
      </header>
      {children}
    </section>
  );
}

/**
 * A create form's state: its values, their check with the API's schema, the errors on the fields (the API's own
 * when it refuses), and a message for any other failure.
 */
function useCreateForm<V, B, R>(
  fields: string[],
  initial: V,
  validate: (values: V) => ValidationResult<B>,
  create: (body: B) => Promise<R>,
  onCreated: (created: R) => void,
) {
  const [values, setValues] = useState<V>(initial);
  const [failure, setFailure] = useState<string>();
  const [pending, setPending] = useState(false);
  const errors = useFieldErrors(fields);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(undefined);
    const checked = validate(values);
    if (!checked.ok) {
      errors.show(checked.errors);
      return;
    }
    errors.clear();
    setPending(true);
    try {
      onCreated(await create(checked.body));
      setValues(initial);
    } catch (error) {
      const f = failureOf(error as Error);
      if (f.kind === 'fields') errors.show(f.errors);
      else setFailure(f.message);
    } finally {
      setPending(false);
    }
  };
  const edit = (patch: Partial<V>) => setValues({ ...values, ...patch });
  return { values, edit, submit, failure, pending, ctx: errors.ctx };
}

function RoleSelect({
  ctx,
  value,
  onChange,
  label = 'Role',
}: {
  ctx: FieldContext;
  value: Role;
  onChange: (role: Role) => void;
  label?: string;
}) {
  return (
    <Select
      id={`${ctx.fieldId('role')}-input`}
      label={label}
      value={value}
      options={ROLE_OPTIONS}
      aria={ctx.aria('role')}
      onChange={onChange}
    >
      {ctx.errors.byField.role ? (
        <span id={ctx.fieldId('role')} className="field-error" data-testid="field-error-role">
          {ctx.errors.byField.role.join('; ')}
        </span>
      ) : null}
    </Select>
  );
}

function Failure({ text }: { text: string | undefined }) {
  if (!text) return null;
  return (
    <div role="alert" className="banner" data-testid="admin-failed">
      {text}
    </div>
  );
}

/** A new secret, shown this once with a copy button. */
function SecretOnce({ what, secret, onDone }: { what: string; secret: string; onDone: () => void }) {
  const id = useId();
  const [copied, setCopied] = useState(false);
  return (
    <div className="panel applied secret-once" role="status" data-testid="secret-once">
      <label htmlFor={id}>The new {what}. Copy it now: it is not shown again.</label>
      <div className="field-row">
        <input
          id={id}
          className="mono secret"
          readOnly
          value={secret}
          data-testid="new-secret"
          onFocus={(e) => e.target.select()}
        />
        <button
          type="button"
          className="button"
          onClick={() => {
            void navigator.clipboard?.writeText(secret).then(() => setCopied(true));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

// --- users ---

const NEW_USER: UserValues = { username: '', role: 'viewer', password: '' };

export function UsersView() {
  const users = useUsers();
  const changes = useAdminChanges();
  const { me } = useSession();
  const [rowFailure, setRowFailure] = useState<string>();
  const [created, setCreated] = useState<string>();
  const form = useCreateForm(
    ['username', 'role', 'password'],
    NEW_USER,
    validateUser,
    changes.createUser,
    (u) => setCreated(u.username),
  );
  const act = async (action: () => Promise<unknown>) => {
    setRowFailure(undefined);
    try {
      await action();
    } catch (error) {
      setRowFailure((error as Error).message);
    }
  };
  return (
    <Page id="users-title" title="Users" intro="Who may sign in to the console, and with which role.">
      {users.error ? <ErrorBanner error={users.error} /> : null}
      <Failure text={rowFailure} />
      {users.data ? (
        <table className="table" aria-labelledby="users-title">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.username} data-testid={`user-row-${u.username}`}>
                <th scope="row">
                  {u.username}
                  {u.username === me?.username ? <span className="muted small"> (you)</span> : null}
                </th>
                <td>
                  <select
                    aria-label={`Role of ${u.username}`}
                    value={u.role}
                    disabled={u.username === me?.username}
                    onChange={(e) =>
                      act(() => changes.updateUser(u.username, { role: e.target.value as Role }))
                    }
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td>{dateText(u.createdAt)}</td>
                <td>
                  {u.username === me?.username ? null : (
                    <button
                      type="button"
                      className="button small danger"
                      onClick={() => {
                        if (window.confirm(`Delete the user ${u.username}? Their sessions end.`))
                          void act(() => changes.deleteUser(u.username));
                      }}
                    >
                      Delete {u.username}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="empty">Loading users…</p>
      )}
      <form className="panel route-form" aria-label="New user" onSubmit={form.submit} noValidate>
        <h2>New user</h2>
        <Failure text={form.failure} />
        {created ? (
          <p role="status" className="banner note" data-testid="user-created">
            Created the user {created}.
          </p>
        ) : null}
        <div className="field-row">
          <Field
            ctx={form.ctx}
            field="username"
            label="Username"
            type="text"
            autoComplete="off"
            value={form.values.username}
            onChange={(username) => form.edit({ username })}
          />
          <RoleSelect ctx={form.ctx} value={form.values.role} onChange={(role) => form.edit({ role })} />
          <Field
            ctx={form.ctx}
            field="password"
            label="Initial password"
            type="password"
            autoComplete="new-password"
            hint="At least 12 characters; they can change it after signing in."
            value={form.values.password}
            onChange={(password) => form.edit({ password })}
          />
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={form.pending}>
            Create user
          </button>
        </div>
      </form>
    </Page>
  );
}

// --- API tokens ---

const NEW_TOKEN: TokenValues = { name: '', role: 'viewer', expiresInDays: '90' };

export function TokensView() {
  const tokens = useTokens();
  const changes = useAdminChanges();
  const [secret, setSecret] = useState<string>();
  const [rowFailure, setRowFailure] = useState<string>();
  const form = useCreateForm(
    ['name', 'role', 'expiresInDays'],
    NEW_TOKEN,
    validateToken,
    changes.createToken,
    (t) => setSecret(t.token),
  );
  return (
    <Page
      id="tokens-title"
      title="API tokens"
      intro="Bearer tokens for scripts and CI (Authorization: Bearer …), each with a role. The secret is shown once, when it is created."
    >
      {tokens.error ? <ErrorBanner error={tokens.error} /> : null}
      <Failure text={rowFailure} />
      {secret ? <SecretOnce what="API token" secret={secret} onDone={() => setSecret(undefined)} /> : null}
      {tokens.data ? (
        tokens.data.length === 0 ? (
          <p className="empty">No API tokens.</p>
        ) : (
          <table className="table" aria-labelledby="tokens-title">
            <thead>
              <tr>
                <th scope="col">Token</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} data-testid={`token-row-${t.name}`} data-state={state}>
                    <th scope="row">{t.name}</th>
                    <td>{t.role}</td>
                    <td>
                      <span className={`badge token-${state}`} data-testid="token-state">
                        {state}
                      </span>
                    </td>
                    <td>
                      {dateText(t.createdAt)} <span className="muted small">by {t.createdBy}</span>
                    </td>
                    <td>{dateText(t.expiresAt, 'never')}</td>
                    <td>{dateText(t.lastUsedAt, 'never')}</td>
                    <td>
                      {state === 'active' ? (
                        <button
                          type="button"
                          className="button small danger"
                          onClick={() => {
                            if (
                              !window.confirm(`Revoke the API token ${t.name}? Whatever uses it is refused.`)
                            )
                              return;
                            setRowFailure(undefined);
                            changes.revokeToken(t.id).catch((e: Error) => setRowFailure(e.message));
                          }}
                        >
                          Revoke {t.name}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )
      ) : (
        <p className="empty">Loading API tokens…</p>
      )}
      <form className="panel route-form" aria-label="New API token" onSubmit={form.submit} noValidate>
        <h2>New API token</h2>
        <Failure text={form.failure} />
        <div className="field-row">
          <Field
            ctx={form.ctx}
            field="name"
            label="Token name"
            type="text"
            placeholder="ci-deploy"
            value={form.values.name}
            onChange={(name) => form.edit({ name })}
          />
          <RoleSelect ctx={form.ctx} value={form.values.role} onChange={(role) => form.edit({ role })} />
          <Field
            ctx={form.ctx}
            field="expiresInDays"
            label="Expires in (days)"
            hint="Empty: never expires."
            value={form.values.expiresInDays}
            onChange={(expiresInDays) => form.edit({ expiresInDays })}
          />
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={form.pending}>
            Create token
          </button>
        </div>
      </form>
    </Page>
  );
}

// --- join tokens ---

const NEW_JOIN: JoinTokenValues = { service: '', expiresInDays: '30' };

export function JoinTokensView() {
  const tokens = useJoinTokens();
  const services = useServices();
  const changes = useAdminChanges();
  const [secret, setSecret] = useState<string>();
  const [rowFailure, setRowFailure] = useState<string>();
  const form = useCreateForm(
    ['service', 'expiresInDays'],
    NEW_JOIN,
    validateJoinToken,
    changes.createJoinToken,
    (t) => setSecret(t.token),
  );
  const names = (services.data ?? []).map((s) => s.name).sort();
  return (
    <Page
      id="join-tokens-title"
      title="Join tokens"
      intro="What a proxy presents to join the mesh as an instance of one service (trellis-proxy --join-token …). The secret is shown once."
    >
      {tokens.error ? <ErrorBanner error={tokens.error} /> : null}
      <Failure text={rowFailure} />
      {secret ? <SecretOnce what="join token" secret={secret} onDone={() => setSecret(undefined)} /> : null}
      {tokens.data ? (
        tokens.data.length === 0 ? (
          <p className="empty">No join tokens.</p>
        ) : (
          <table className="table" aria-labelledby="join-tokens-title">
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} data-testid={`join-token-row-${t.id}`} data-state={state}>
                    <th scope="row">{t.service}</th>
                    <td>
                      <span className={`badge token-${state}`}>{state}</span>
                    </td>
                    <td>
                      {dateText(t.createdAt)} <span className="muted small">by {t.createdBy}</span>
                    </td>
                    <td>{dateText(t.expiresAt, 'never')}</td>
                    <td>
                      {state === 'active' ? (
                        <button
                          type="button"
                          className="button small danger"
                          onClick={() => {
                            if (
                              !window.confirm(
                                `Revoke this join token of ${t.service}? New proxies cannot use it.`,
                              )
                            )
                              return;
                            setRowFailure(undefined);
                            changes.revokeJoinToken(t.id).catch((e: Error) => setRowFailure(e.message));
                          }}
                        >
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )
      ) : (
        <p className="empty">Loading join tokens…</p>
      )}
      <form className="panel route-form" aria-label="New join token" onSubmit={form.submit} noValidate>
        <h2>New join token</h2>
        <Failure text={form.failure} />
        <div className="field-row">
          <Select
            id={`${form.ctx.fieldId('service')}-input`}
            label="Service"
            value={form.values.service}
            options={[{ value: '', label: 'Pick a service' }, ...names.map((n) => ({ value: n, label: n }))]}
            aria={form.ctx.aria('service')}
            onChange={(service) => form.edit({ service })}
          >
            {form.ctx.errors.byField.service ? (
              <span
                id={form.ctx.fieldId('service')}
                className="field-error"
                data-testid="field-error-service"
              >
                {form.ctx.errors.byField.service.join('; ')}
              </span>
            ) : null}
          </Select>
          <Field
            ctx={form.ctx}
            field="expiresInDays"
            label="Expires in (days)"
            hint="Empty: never expires."
            value={form.values.expiresInDays}
            onChange={(expiresInDays) => form.edit({ expiresInDays })}
          />
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={form.pending}>
            Create join token
          </button>
        </div>
      </form>
    </Page>
  );
}
