'use client';

/**
 * The admin pages: users (create, change the role, delete), API tokens (create, shown once, revoke) and the join
 * tokens proxies register with (create for a service, shown once, revoke). Only an admin is offered them; the API
 * refuses the others all the same, and the page then says so.
 */
import type { UseQueryResult } from '@tanstack/react-query';
import { ROLES, type Role } from '@trellis/schema';
import { type ReactNode, useId, useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { TableHead } from '../../lib/TableHead';
import { useSession } from '../auth/session';
import { type CheckedForm, Field, fieldsOrMessage, SelectField, useCheckedForm } from '../rules/components';
import type { ValidationResult } from '../rules/form';
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

function Failure({ text }: { text: string | undefined }) {
  if (!text) return null;
  return (
    <div role="alert" className="banner" data-testid="admin-failed">
      {text}
    </div>
  );
}

/** A change made from a row of a list (a role, a delete, a revoke): its failure shows above the list. */
function useRowAction() {
  const [failure, setFailure] = useState<string>();
  const act = async (action: () => Promise<unknown>) => {
    setFailure(undefined);
    try {
      await action();
    } catch (error) {
      setFailure((error as Error).message);
    }
  };
  return { failure, act };
}

/** A create form of the admin pages: its values checked with the API's schema, the API's own errors on the fields. */
function useCreateForm<V, B, R>(
  fields: string[],
  initial: V,
  validate: (values: V) => ValidationResult<B>,
  create: (body: B) => Promise<R>,
  onCreated: (created: R) => void,
) {
  return useCheckedForm({
    fields,
    initial,
    validate,
    send: async (body: B) => {
      onCreated(await create(body));
      return undefined;
    },
    fail: fieldsOrMessage,
  });
}

/** The panel of a create form: its title, what went wrong, the fields in a row, the create button. */
function CreatePanel({
  title,
  form,
  submit,
  notice,
  children,
}: {
  title: string;
  form: Pick<CheckedForm<unknown>, 'submit' | 'failure' | 'pending'>;
  submit: string;
  notice?: ReactNode;
  children: ReactNode;
}) {
  return (
    <form className="panel route-form" aria-label={title} onSubmit={form.submit} noValidate>
      <h2>{title}</h2>
      <Failure text={form.failure} />
      {notice}
      <div className="field-row">{children}</div>
      <div className="actions">
        <button type="submit" className="button primary" disabled={form.pending}>
          {submit}
        </button>
      </div>
    </form>
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
  const row = useRowAction();
  const [created, setCreated] = useState<string>();
  const form = useCreateForm(
    ['username', 'role', 'password'],
    NEW_USER,
    validateUser,
    changes.createUser,
    (u) => setCreated(u.username),
  );
  return (
    <Page id="users-title" title="Users" intro="Who may sign in to the console, and with which role.">
      {users.error ? <ErrorBanner error={users.error} /> : null}
      <Failure text={row.failure} />
      {users.data ? (
        <table className="table" aria-labelledby="users-title">
          <TableHead columns={['User', 'Role', 'Created']} actions />
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
                      row.act(() => changes.updateUser(u.username, { role: e.target.value as Role }))
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
                          void row.act(() => changes.deleteUser(u.username));
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
      <CreatePanel
        title="New user"
        form={form}
        submit="Create user"
        notice={
          created ? (
            <p role="status" className="banner note" data-testid="user-created">
              Created the user {created}.
            </p>
          ) : null
        }
      >
        <Field {...form.field('username')} label="Username" type="text" autoComplete="off" />
        <SelectField {...form.field('role')} label="Role" options={ROLE_OPTIONS} />
        <Field
          {...form.field('password')}
          label="Initial password"
          type="password"
          autoComplete="new-password"
          hint="At least 12 characters; they can change it after signing in."
        />
      </CreatePanel>
    </Page>
  );
}

// --- API tokens and join tokens ---

interface TokenRow {
  id: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

interface TokenColumn<T> {
  head: string;
  cell: (token: T) => ReactNode;
}

/**
 * A page of tokens whose secret is shown once (API tokens, join tokens): the list with each token's state, dates
 * and Revoke (after the browser's confirmation), the secret of the one just created, and the create form.
 */
function TokenAdmin<T extends TokenRow, V>({
  page,
  what,
  tokens,
  first,
  before = [],
  after = [],
  rowTestId,
  stateTestId,
  revoke,
  create,
  children,
}: {
  page: { id: string; title: string; intro: string };
  /** "API token", "join token". */
  what: string;
  tokens: UseQueryResult<T[]>;
  /** The row's header cell. */
  first: TokenColumn<T>;
  /** Columns between the first and the state. */
  before?: TokenColumn<T>[];
  /** Columns between the expiry and the actions. */
  after?: TokenColumn<T>[];
  rowTestId: (token: T) => string;
  stateTestId?: string;
  revoke: {
    label: (token: T) => string;
    confirm: (token: T) => string;
    run: (id: string) => Promise<unknown>;
  };
  create: {
    form: CheckedForm<V>;
    secret: string | undefined;
    onDone: () => void;
    submit: string;
  };
  children: ReactNode;
}) {
  const row = useRowAction();
  const columns = [...before.map((c) => c.head), 'State', 'Created', 'Expires', ...after.map((c) => c.head)];
  return (
    <Page {...page}>
      {tokens.error ? <ErrorBanner error={tokens.error} /> : null}
      <Failure text={row.failure} />
      {create.secret ? <SecretOnce what={what} secret={create.secret} onDone={create.onDone} /> : null}
      {tokens.data ? (
        tokens.data.length === 0 ? (
          <p className="empty">No {what}s.</p>
        ) : (
          <table className="table" aria-labelledby={page.id}>
            <TableHead columns={[first.head, ...columns]} actions />
            <tbody>
              {tokens.data.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} data-testid={rowTestId(t)} data-state={state}>
                    <th scope="row">{first.cell(t)}</th>
                    {before.map((c) => (
                      <td key={c.head}>{c.cell(t)}</td>
                    ))}
                    <td>
                      <span className={`badge token-${state}`} data-testid={stateTestId}>
                        {state}
                      </span>
                    </td>
                    <td>
                      {dateText(t.createdAt)} <span className="muted small">by {t.createdBy}</span>
                    </td>
                    <td>{dateText(t.expiresAt, 'never')}</td>
                    {after.map((c) => (
                      <td key={c.head}>{c.cell(t)}</td>
                    ))}
                    <td>
                      {state === 'active' ? (
                        <button
                          type="button"
                          className="button small danger"
                          onClick={() => {
                            if (window.confirm(revoke.confirm(t))) void row.act(() => revoke.run(t.id));
                          }}
                        >
                          {revoke.label(t)}
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
        <p className="empty">Loading {what}s…</p>
      )}
      <CreatePanel title={`New ${what}`} form={create.form} submit={create.submit}>
        {children}
      </CreatePanel>
    </Page>
  );
}

/** A token's create form, and the secret of the one it created until Done. */
function useTokenForm<V, B>(
  fields: string[],
  initial: V,
  validate: (values: V) => ValidationResult<B>,
  create: (body: B) => Promise<{ token: string }>,
) {
  const [secret, setSecret] = useState<string>();
  const form = useCreateForm(fields, initial, validate, create, (t) => setSecret(t.token));
  return { form, secret, onDone: () => setSecret(undefined) };
}

const NEW_TOKEN: TokenValues = { name: '', role: 'viewer', expiresInDays: '90' };

export function TokensView() {
  const tokens = useTokens();
  const changes = useAdminChanges();
  const created = useTokenForm(
    ['name', 'role', 'expiresInDays'],
    NEW_TOKEN,
    validateToken,
    changes.createToken,
  );
  const { form } = created;
  return (
    <TokenAdmin
      page={{
        id: 'tokens-title',
        title: 'API tokens',
        intro:
          'Bearer tokens for scripts and CI (Authorization: Bearer …), each with a role. The secret is shown once, when it is created.',
      }}
      what="API token"
      tokens={tokens}
      first={{ head: 'Token', cell: (t) => t.name }}
      before={[{ head: 'Role', cell: (t) => t.role }]}
      after={[{ head: 'Last used', cell: (t) => dateText(t.lastUsedAt, 'never') }]}
      rowTestId={(t) => `token-row-${t.name}`}
      stateTestId="token-state"
      revoke={{
        label: (t) => `Revoke ${t.name}`,
        confirm: (t) => `Revoke the API token ${t.name}? Whatever uses it is refused.`,
        run: changes.revokeToken,
      }}
      create={{ ...created, submit: 'Create token' }}
    >
      <Field {...form.field('name')} label="Token name" type="text" placeholder="ci-deploy" />
      <SelectField {...form.field('role')} label="Role" options={ROLE_OPTIONS} />
      <Field {...form.field('expiresInDays')} label="Expires in (days)" hint="Empty: never expires." />
    </TokenAdmin>
  );
}

const NEW_JOIN: JoinTokenValues = { service: '', expiresInDays: '30' };

export function JoinTokensView() {
  const tokens = useJoinTokens();
  const services = useServices();
  const changes = useAdminChanges();
  const created = useTokenForm(
    ['service', 'expiresInDays'],
    NEW_JOIN,
    validateJoinToken,
    changes.createJoinToken,
  );
  const { form } = created;
  const names = (services.data ?? []).map((s) => s.name).sort();
  return (
    <TokenAdmin
      page={{
        id: 'join-tokens-title',
        title: 'Join tokens',
        intro:
          'What a proxy presents to join the mesh as an instance of one service (trellis-proxy --join-token …). The secret is shown once.',
      }}
      what="join token"
      tokens={tokens}
      first={{ head: 'Service', cell: (t) => t.service }}
      rowTestId={(t) => `join-token-row-${t.id}`}
      revoke={{
        label: () => 'Revoke',
        confirm: (t) => `Revoke this join token of ${t.service}? New proxies cannot use it.`,
        run: changes.revokeJoinToken,
      }}
      create={{ ...created, submit: 'Create join token' }}
    >
      <SelectField
        {...form.field('service')}
        label="Service"
        options={[{ value: '', label: 'Pick a service' }, ...names.map((n) => ({ value: n, label: n }))]}
      />
      <Field {...form.field('expiresInDays')} label="Expires in (days)" hint="Empty: never expires." />
    </TokenAdmin>
  );
}
