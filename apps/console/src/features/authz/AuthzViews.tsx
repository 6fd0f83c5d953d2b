'use client';

/**
 * Authorization policies in the console: the list (`/authorization`), a policy's form (`/authorization/<name>/edit`)
 * and a new one's (`/authorization/new?destination=&source=&action=`, prefilled from an edge of the topology). The
 * form behaves as the rule forms do: the API's schema checks the values with its messages on the fields, a diff is
 * shown before apply, a version conflict offers to reload, and after an apply a live count of the proxies that ACK.
 */
import {
  type AuthorizationAction,
  type AuthorizationPolicy,
  type AuthorizationPolicySpec,
  type AuthorizationPolicySpecInput,
  appliesTo,
  MESH_WIDE,
} from '@trellis/schema';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useId, useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { num, TableHead } from '../../lib/TableHead';
import { NewLink } from '../auth/session';
import {
  type Applied,
  CheckGroup,
  EditorPage,
  ErrorsOf,
  Field,
  type FieldContext,
  FormFrame,
  RowButton,
  SelectField,
  Toggle,
  useRuleForm,
} from '../rules/components';
import { useServices } from '../services/queries';
import {
  ACTIONS,
  type AuthzFormValues,
  type AuthzRuleValues,
  authorizationNewPath,
  authzFields,
  diffAuthz,
  diffNewAuthz,
  emptyRule,
  formValuesOf,
  METHODS,
  type NewAuthz,
  newAuthzOf,
  summary,
  validateCreate,
  validateReplace,
} from './form';
import { useAuthorizationChanges, useAuthorizationPolicies, useAuthorizationPolicy } from './queries';

const enc = encodeURIComponent;
const editPath = (name: string) => `/authorization/${enc(name)}/edit`;

export function AuthzListView() {
  const policies = useAuthorizationPolicies();
  return (
    <section className="page" aria-labelledby="authz-title">
      <header className="page-header">
        <h1 id="authz-title">Authorization</h1>
        <p className="muted">
          Which callers may reach a service, checked by the destination's proxy from the caller's mTLS
          identity. A matching deny wins; if any allow policy applies, a request must match one of its rules.
        </p>
      </header>
      {policies.error ? <ErrorBanner error={policies.error} /> : null}
      {policies.isPending ? <p className="empty">Loading authorization policies…</p> : null}
      {policies.data && policies.data.length === 0 ? (
        <p className="empty">No authorization policies: every caller may reach every service.</p>
      ) : null}
      {policies.data && policies.data.length > 0 ? (
        <table className="table" aria-labelledby="authz-title">
          <TableHead columns={['Policy', 'Destination', 'Action', 'What it does', num('Version')]} />
          <tbody>
            {policies.data.map((p) => (
              <tr key={p.name} data-testid={`authz-row-${p.name}`}>
                <th scope="row">
                  <Link href={editPath(p.name)}>{p.name}</Link>
                </th>
                <td>{p.destination === MESH_WIDE ? 'every service (*)' : p.destination}</td>
                <td>
                  <span className={`badge action-${p.action}`}>{p.action}</span>
                  {p.dryRun ? <span className="badge dry-run"> dry run</span> : null}
                </td>
                <td>{summary(p)}</td>
                <td className="num">{p.version}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <NewLink href="/authorization/new">New authorization policy</NewLink>
    </section>
  );
}

export function AuthzEditView({ name, applied }: { name: string; applied?: Applied | undefined }) {
  const query = useAuthorizationPolicy(name);
  const all = <Link href="/authorization">All policies</Link>;
  return (
    <EditorPage
      what="authorization policy"
      testId="authz-version"
      name={name}
      query={query}
      initialApplied={applied}
      title={`Authorization policy ${name}`}
      breadcrumb={() => (
        <>
          <Link href="/authorization">Authorization</Link> / {name}
        </>
      )}
      listLink={all}
      deletedLink={() => all}
    >
      {(editing) => <AuthzForm key={editing.value.version} {...editing} stored={editing.value} />}
    </EditorPage>
  );
}

export function AuthzCreateView(props: Partial<NewAuthz>) {
  const router = useRouter();
  return (
    <section className="page" aria-labelledby="rule-title">
      <nav aria-label="Breadcrumb" className="muted small">
        <Link href="/authorization">Authorization</Link> / new policy
      </nav>
      <header className="page-header">
        <h1 id="rule-title">New authorization policy</h1>
      </header>
      <AuthzForm
        value={newAuthzOf({ ...props, destination: props.destination ?? '' })}
        onApplied={(value, revision) =>
          router.replace(`${editPath(value.name)}?${new URLSearchParams({ applied: String(revision) })}`)
        }
      />
    </section>
  );
}

interface AuthzFormProps {
  value: AuthorizationPolicySpecInput;
  stored?: AuthorizationPolicy;
  reloading?: boolean;
  onReload?: () => void;
  onApplied: (value: AuthorizationPolicy, revision: number) => void;
  onDeleted?: (revision: number) => void;
}

function AuthzForm({ value, stored, reloading = false, onReload, onApplied, onDeleted }: AuthzFormProps) {
  const [values, setValues] = useState<AuthzFormValues>(() => formValuesOf(value));
  const changes = useAuthorizationChanges();
  const services = useServices();
  const form = useRuleForm({
    fields: authzFields(values, !stored),
    validate: () => (stored ? validateReplace(stored, values) : validateCreate(values)),
    diff: (body: AuthorizationPolicySpec) => (stored ? diffAuthz(stored, body) : diffNewAuthz(body)),
    send: (body: AuthorizationPolicySpec) =>
      stored ? changes.replace({ ...body, version: stored.version }) : changes.create(body),
    onApplied,
    ...(stored ? { remove: () => changes.remove(stored), onDeleted } : {}),
  });
  const edit = (patch: Partial<AuthzFormValues>) => {
    setValues({ ...values, ...patch });
    form.edited();
  };
  const editRule = (index: number, rule: AuthzRuleValues) =>
    edit({ rules: values.rules.map((r, i) => (i === index ? rule : r)) });
  const ctx = form.ctx;
  const serviceNames = (services.data ?? []).map((s) => s.name).sort();
  const destinations = [
    ...(values.destination === '' ? [{ value: '', label: 'Pick a service' }] : []),
    ...serviceNames.map((name) => ({ value: name, label: name })),
    ...(values.destination !== '' &&
    values.destination !== MESH_WIDE &&
    !serviceNames.includes(values.destination)
      ? [{ value: values.destination, label: values.destination }]
      : []),
    { value: MESH_WIDE, label: 'Every service of the mesh (*)' },
  ];

  return (
    <FormFrame
      what="authorization policy"
      newLabel="New authorization policy"
      stored={stored}
      reloading={reloading}
      onReload={onReload}
      form={form}
      name={{ value: values.name, onChange: (name) => edit({ name }) }}
      intro="Enforced by the proxies of the destination on each request, from the caller's verified mTLS identity; a denied request gets 403 (rbac_denied). A dry-run policy only counts the requests it would deny."
      back={<Link href="/authorization">Back to authorization policies</Link>}
      pushedTo="the destination's proxies"
      head={
        <>
          <SelectField
            ctx={ctx}
            field="destination"
            label="Destination"
            value={values.destination}
            options={destinations}
            onChange={(destination) => edit({ destination })}
          />
          <SelectField
            ctx={ctx}
            field="action"
            label="Action"
            value={values.action}
            options={ACTIONS}
            onChange={(action: AuthorizationAction) => edit({ action })}
          />
        </>
      }
    >
      <Toggle
        ctx={ctx}
        field="dryRun"
        label="Dry run: count and log the requests it would deny, deny none"
        checked={values.dryRun}
        onChange={(dryRun) => edit({ dryRun })}
      />
      <ErrorsOf ctx={ctx} field="rules" />
      {values.rules.length === 0 ? (
        <p className="small muted" data-testid="authz-no-rules">
          {values.action === 'allow'
            ? 'No rules: this policy denies every request to its destination.'
            : 'No rules: this policy matches no request.'}
        </p>
      ) : null}
      {values.rules.map((rule, i) => (
        <RuleFields
          // Rules have no identity of their own; the index is theirs while the form is open.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above
          key={i}
          ctx={ctx}
          index={i}
          rule={rule}
          services={serviceNames}
          onChange={(next) => editRule(i, next)}
          onRemove={() => edit({ rules: values.rules.filter((_, j) => j !== i) })}
        />
      ))}
      <div className="actions">
        <RowButton onClick={() => edit({ rules: [...values.rules, emptyRule()] })}>Add rule</RowButton>
      </div>
    </FormFrame>
  );
}

function RuleFields({
  ctx,
  index,
  rule,
  services,
  onChange,
  onRemove,
}: {
  ctx: FieldContext;
  index: number;
  rule: AuthzRuleValues;
  services: string[];
  onChange: (rule: AuthzRuleValues) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const base = `rules[${index}]`;
  const uid = useId();
  const options = [...new Set([...services, ...rule.services])];
  return (
    <fieldset
      className="fieldset authz-rule"
      data-testid={`authz-rule-${index}`}
      aria-labelledby={`${uid}-legend`}
    >
      <legend id={`${uid}-legend`}>Rule {n}</legend>
      <ErrorsOf ctx={ctx} field={base} />
      <CheckGroup
        ctx={ctx}
        field={`${base}.from`}
        legend={`Rule ${n}: calling services`}
        options={options}
        checked={rule.services}
        onChange={(picked) => onChange({ ...rule, services: picked })}
      />
      <Toggle
        ctx={ctx}
        field={`${base}.anyCaller`}
        label={`Rule ${n}: any caller with an mTLS identity`}
        checked={rule.anyCaller}
        onChange={(anyCaller) => onChange({ ...rule, anyCaller })}
      />
      <div className="field-row">
        <Field
          ctx={ctx}
          field={`${base}.principals`}
          label={`Rule ${n}: other callers (SPIFFE IDs)`}
          type="text"
          placeholder="spiffe://trellis.local/ns/default/sa/*"
          value={rule.principals}
          onChange={(principals) => onChange({ ...rule, principals })}
        />
        <Field
          ctx={ctx}
          field={`${base}.to[0].paths`}
          label={`Rule ${n}: paths`}
          type="text"
          placeholder="/admin/* (empty: any path)"
          value={rule.paths}
          onChange={(paths) => onChange({ ...rule, paths })}
        />
      </div>
      <CheckGroup
        ctx={ctx}
        field={`${base}.to[0].methods`}
        legend={`Rule ${n}: methods (none: any)`}
        options={METHODS}
        checked={rule.methods}
        onChange={(methods) => onChange({ ...rule, methods })}
      />
      <ErrorsOf ctx={ctx} field={`${base}.to`} />
      {rule.moreOperations.length > 0 ? (
        <p className="small muted">
          and {rule.moreOperations.length} more{' '}
          {rule.moreOperations.length === 1 ? 'operation' : 'operations'} set through the API, kept as they
          are.
        </p>
      ) : null}
      <p className="small muted">
        A rule matches a request when its callers (any of them; none listed: any caller) and its paths and
        methods (none: any) all match.
      </p>
      <RowButton onClick={onRemove}>Remove rule {n}</RowButton>
    </fieldset>
  );
}

/** On a service's page: the authorization policies its proxies enforce (its own and the mesh-wide ones). */
export function ServiceAuthorization({ service }: { service: string }) {
  const policies = useAuthorizationPolicies();
  const applying = (policies.data ?? []).filter((p) => appliesTo(p, service));
  return (
    <section className="panel" aria-labelledby="service-authz-title">
      <h2 id="service-authz-title">Authorization</h2>
      {policies.error ? <ErrorBanner error={policies.error} /> : null}
      {policies.data && applying.length === 0 ? (
        <p className="empty">No authorization policy applies: every caller may reach {service}.</p>
      ) : null}
      {applying.length > 0 ? (
        <ul className="panel-list" data-testid="service-authz">
          {applying.map((p) => (
            <li key={p.name} data-testid={`service-authz-${p.name}`}>
              <Link href={editPath(p.name)}>{p.name}</Link> <span className="muted small">{summary(p)}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <NewLink href={authorizationNewPath({ destination: service })}>New authorization policy</NewLink>
    </section>
  );
}
