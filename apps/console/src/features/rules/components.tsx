'use client';

/**
 * The parts every rule form shares, so route rules and traffic policies behave alike: the editor page around a
 * loaded rule (reload, the live ACK count after an apply, the deleted state), the form's review → apply → conflict
 * flow, its inputs (fields with their errors, toggles, choices, checkbox groups), the diff preview with the proxies
 * a change reaches, and the sections an edge of the topology opens.
 */
import type { UseQueryResult } from '@tanstack/react-query';
import type { FieldError } from '@trellis/schema';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../../lib/api';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { TableHead } from '../../lib/TableHead';
import { ReadOnlyNote, useCan } from '../auth/session';
import { useProxies } from '../proxies/queries';
import { useServices } from '../services/queries';
import type { OpenedFrom } from './edge';
import {
  ackProgress,
  affectedProxies,
  type DiffLine,
  type Failure,
  failureOf,
  NO_ERRORS,
  type PlacedErrors,
  placeErrors,
  type ValidationResult,
} from './form';

export interface Applied {
  revision: number;
  /** The rule's version after the change; absent for a delete. */
  version?: number;
}

/** After an apply: how many connected proxies run the new revision, read every second. */
export function AckIndicator({
  revision,
  version,
  what,
  message,
}: Applied & {
  what: string;
  /** Replaces the first line (a rollback has no single rule version). */
  message?: string;
}) {
  const proxies = useProxies(1000);
  const progress = ackProgress(proxies.data?.items ?? [], revision);
  return (
    <div className="panel applied" role="status" aria-live="polite">
      <p>
        {message ??
          (version === undefined
            ? `Deleted: the ${what} is gone as of mesh revision ${revision}.`
            : `Applied: the ${what} is now at version ${version}, mesh revision ${revision}.`)}
      </p>
      <p
        data-testid="ack-indicator"
        data-acked={progress.acked}
        data-connected={progress.connected}
        data-done={progress.done}
        className={progress.done ? 'ack-done' : 'ack-pending'}
      >
        {progress.done ? '✓ ' : ''}
        {progress.acked} / {progress.connected} proxies have the change
        {proxies.isPending ? ' (reading the proxies…)' : ''}
      </p>
      {proxies.error ? <ErrorBanner error={proxies.error} /> : null}
    </div>
  );
}

export function FieldErrors({
  id,
  field,
  messages,
}: {
  id: string;
  field: string;
  messages: string[] | undefined;
}) {
  if (!messages || messages.length === 0) return null;
  return (
    <span id={id} className="field-error" data-testid={`field-error-${field}`}>
      {messages.join('; ')}
    </span>
  );
}

/** The errors of `field`, under its input, tied to it by id. */
export function ErrorsOf({ ctx, field }: { ctx: FieldContext; field: string }) {
  return <FieldErrors id={ctx.fieldId(field)} field={field} messages={ctx.errors.byField[field]} />;
}

/** What the sections of a form get: the form's errors and the ids that tie inputs to them. */
export interface FieldContext {
  errors: PlacedErrors;
  fieldId: (field: string) => string;
  /** The input's aria props for `field`: invalid and described by its error when it has one. */
  aria: (field: string) => { 'aria-invalid': boolean; 'aria-describedby': string | undefined };
}

/** The FieldContext of a form's placed errors, its inputs' ids made by `fieldId`. */
function fieldContext(errors: PlacedErrors, fieldId: (field: string) => string): FieldContext {
  return {
    errors,
    fieldId,
    aria: (field) => ({
      'aria-invalid': Boolean(errors.byField[field]),
      'aria-describedby': errors.byField[field] ? fieldId(field) : undefined,
    }),
  };
}

/** A labelled input for one field of the schema, with its error under it. */
export function Field({
  ctx,
  field,
  label,
  value,
  onChange,
  type = 'number',
  hint,
  placeholder,
  autoComplete,
}: {
  ctx: FieldContext;
  field: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: 'number' | 'text' | 'password';
  hint?: string;
  placeholder?: string;
  autoComplete?: string;
}) {
  const id = `${ctx.fieldId(field)}-input`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type={type}
        step={type === 'number' ? 'any' : undefined}
        value={value}
        placeholder={placeholder}
        autoComplete={autoComplete}
        data-field={field}
        {...ctx.aria(field)}
        onChange={(e) => onChange(e.target.value)}
      />
      {hint ? <span className="small muted">{hint}</span> : null}
      <ErrorsOf ctx={ctx} field={field} />
    </div>
  );
}

/** A checkbox for a boolean field (or for turning an optional part of the rule on and off). */
export function Toggle({
  ctx,
  field,
  label,
  checked,
  onChange,
}: {
  ctx: FieldContext;
  field: string;
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  const id = `${ctx.fieldId(field)}-toggle`;
  return (
    <div className="field toggle">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        {...ctx.aria(field)}
        onChange={(e) => onChange(e.target.checked)}
      />
      <label htmlFor={id}>{label}</label>
      <ErrorsOf ctx={ctx} field={field} />
    </div>
  );
}

/** The keys of `V` whose values are text. */
type TextKeys<V> = { [K in keyof V]: V[K] extends string ? K : never }[keyof V];

/** One input of a group of text values: which value it edits, and the field of the schema it fills. */
export interface FieldSpec<V> {
  key: TextKeys<V>;
  field: string;
  label: string;
  type?: 'number' | 'text';
  placeholder?: string;
  hint?: string;
}

/** An input for each of `fields`, each editing its value of `value`. */
export function Fields<V>({
  ctx,
  value,
  fields,
  onChange,
}: {
  ctx: FieldContext;
  value: V;
  fields: readonly FieldSpec<V>[];
  onChange: (value: V) => void;
}) {
  return fields.map((f) => (
    <Field
      key={f.field}
      ctx={ctx}
      field={f.field}
      label={f.label}
      type={f.type}
      placeholder={f.placeholder}
      hint={f.hint}
      value={(value[f.key] as string | undefined) ?? ''}
      onChange={(text) => onChange({ ...value, [f.key]: text })}
    />
  ));
}

/** An optional part of a rule: a toggle that turns it on, then a row of its inputs while it is on. */
export function ToggledFields<V extends { on: boolean }>({
  ctx,
  field,
  label,
  value,
  fields,
  onChange,
}: {
  ctx: FieldContext;
  field: string;
  label: string;
  value: V;
  fields: readonly FieldSpec<V>[];
  onChange: (value: V) => void;
}) {
  return (
    <>
      <Toggle
        ctx={ctx}
        field={field}
        label={label}
        checked={value.on}
        onChange={(on) => onChange({ ...value, on })}
      />
      {value.on ? (
        <div className="field-row">
          <Fields ctx={ctx} value={value} fields={fields} onChange={onChange} />
        </div>
      ) : null}
    </>
  );
}

/** A labelled choice among `options`; `children` show under it. */
export function Select<V extends string>({
  id,
  label,
  value,
  options,
  onChange,
  aria,
  children,
}: {
  id: string;
  label: ReactNode;
  value: V;
  options: readonly { value: V; label: string }[];
  onChange: (value: V) => void;
  /** The aria props of the field it fills, when its errors show here. */
  aria?: ReturnType<FieldContext['aria']>;
  children?: ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} {...aria} onChange={(e) => onChange(e.target.value as V)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {children}
    </div>
  );
}

/** A Select that fills one field of the schema, with that field's errors under it. */
export function SelectField<V extends string>({
  ctx,
  field,
  label,
  value,
  options,
  onChange,
}: {
  ctx: FieldContext;
  field: string;
  label: ReactNode;
  value: V;
  options: readonly { value: V; label: string }[];
  onChange: (value: V) => void;
}) {
  return (
    <Select
      id={`${ctx.fieldId(field)}-input`}
      label={label}
      value={value}
      options={options}
      aria={ctx.aria(field)}
      onChange={onChange}
    >
      <ErrorsOf ctx={ctx} field={field} />
    </Select>
  );
}

/** A checkbox for each of `options`; the checked ones in the options' order. */
export function CheckGroup<V extends string>({
  ctx,
  field,
  legend,
  options,
  checked,
  onChange,
}: {
  ctx: FieldContext;
  field: string;
  legend: string;
  options: readonly V[];
  checked: readonly V[];
  onChange: (checked: V[]) => void;
}) {
  return (
    <fieldset className="methods" {...ctx.aria(field)}>
      <legend className="small">{legend}</legend>
      {options.map((option) => (
        <label key={option} className="check">
          <input
            type="checkbox"
            checked={checked.includes(option)}
            onChange={(e) =>
              onChange(
                e.target.checked
                  ? options.filter((x) => x === option || checked.includes(x))
                  : checked.filter((x) => x !== option),
              )
            }
          />
          {option}
        </label>
      ))}
      <ErrorsOf ctx={ctx} field={field} />
    </fieldset>
  );
}

/** A small button that adds or removes a row of a list. */
export function RowButton({ onClick, children }: { onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" className="button small" onClick={onClick}>
      {children}
    </button>
  );
}

/**
 * A collapsible section of a form. The one the page was opened for (`?intent=` from the topology) is open, marked
 * and scrolled to, with its first input focused.
 */
export function Section({
  id,
  title,
  open,
  focused,
  children,
}: {
  id: string;
  title: string;
  open: boolean;
  focused: boolean;
  children: ReactNode;
}) {
  const ref = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    if (!focused || !ref.current) return;
    ref.current.scrollIntoView({ block: 'start' });
    ref.current.querySelector<HTMLElement>('input, select')?.focus();
  }, [focused]);
  return (
    <details
      ref={ref}
      className={`fieldset section${focused ? ' section-focused' : ''}`}
      open={open || focused}
      data-testid={`section-${id}`}
    >
      <summary>{title}</summary>
      <div className="section-body">{children}</div>
    </details>
  );
}

/** Rules are per destination: a form opened from an edge of the topology says so. */
export function EdgeNote({ source, destination }: { source: string | undefined; destination: string }) {
  if (!source) return null;
  return (
    <p className="banner note" data-testid="edge-note">
      Applies to every caller of {destination} (seen from {source}).
    </p>
  );
}

/**
 * One loaded rule under edit: the breadcrumb and title, not-found and read errors, the ACK count of the last
 * change, and the form (keyed by version, so a reload or an apply starts it afresh from the stored rule).
 */
export function RuleEditor<T extends { name: string; service: string; version: number }>({
  what,
  name,
  ...rest
}: Omit<EditorPageProps<T>, 'title' | 'breadcrumb' | 'listLink' | 'deletedLink'>) {
  return (
    <EditorPage
      what={what}
      name={name}
      {...rest}
      title={`Edit ${what} ${name}`}
      breadcrumb={(value) => (
        <>
          <Link href="/services">Services</Link>
          {value ? (
            <>
              {' / '}
              <Link href={`/services/${encodeURIComponent(value.service)}`}>{value.service}</Link>
            </>
          ) : null}{' '}
          / {name}
        </>
      )}
      listLink={<Link href="/services">All services</Link>}
      deletedLink={(base) =>
        base ? (
          <Link href={`/services/${encodeURIComponent(base.service)}`}>Back to {base.service}</Link>
        ) : null
      }
    />
  );
}

interface EditorPageProps<T> {
  /** "route rule", "traffic policy", "authorization policy". */
  what: string;
  /** The test id of the version shown in the header. */
  testId: string;
  name: string;
  query: UseQueryResult<T, Error>;
  /** The change that created the rule, when the page was opened right after creating it. */
  initialApplied?: Applied | undefined;
  title: string;
  /** The breadcrumb's content, from the rule as loaded (undefined before). */
  breadcrumb: (value: T | undefined) => ReactNode;
  /** Where a rule that is not found sends to. */
  listLink: ReactNode;
  /** Where a deleted rule sends to, from the rule as it was. */
  deletedLink: (base: T | undefined) => ReactNode;
  children: (props: {
    value: T;
    reloading: boolean;
    onReload: () => void;
    onApplied: (value: T, revision: number) => void;
    onDeleted: (revision: number) => void;
  }) => ReactNode;
}

/** The page of a loaded rule of any kind under edit (see RuleEditor), its links said by the kind. */
export function EditorPage<T extends { name: string; version: number }>({
  what,
  testId,
  name,
  query,
  initialApplied,
  title,
  breadcrumb,
  listLink,
  deletedLink,
  children,
}: EditorPageProps<T>) {
  // The rule as the form edits it: as first loaded, then as reloaded or as the last apply stored it.
  const [base, setBase] = useState<T>();
  const [applied, setApplied] = useState<Applied | undefined>(initialApplied);
  const [deleted, setDeleted] = useState(false);
  const [reloading, setReloading] = useState(false);
  const value = deleted ? undefined : (base ?? query.data);
  const notFound = !deleted && query.error instanceof ApiError && query.error.status === 404;

  const reload = async () => {
    setReloading(true);
    try {
      const fresh = await query.refetch();
      if (fresh.data) {
        setBase(fresh.data);
        setApplied(undefined);
      }
    } finally {
      setReloading(false);
    }
  };

  return (
    <section className="page" aria-labelledby="rule-title">
      <nav aria-label="Breadcrumb" className="muted small">
        {breadcrumb(value)}
      </nav>
      <header className="page-header">
        <h1 id="rule-title">{title}</h1>
        {value ? (
          <span className="muted" data-testid={testId}>
            version {value.version}
          </span>
        ) : null}
      </header>
      {notFound ? (
        <p className="empty" role="alert">
          There is no {what} named {name}. {listLink}
        </p>
      ) : null}
      {query.error && !notFound && !deleted ? <ErrorBanner error={query.error} /> : null}
      {query.isPending ? <p className="empty">Loading the {what}…</p> : null}
      {applied ? (
        <AckIndicator
          {...applied}
          what={what}
          message={
            applied.version !== undefined
              ? undefined
              : `${deleted ? 'Deleted' : 'Created'}: the ${what} ${name}, mesh revision ${applied.revision}.`
          }
        />
      ) : null}
      {deleted ? (
        <p className="empty" data-testid="rule-deleted">
          The {what} {name} was deleted. {deletedLink(base)}
        </p>
      ) : null}
      {value
        ? children({
            value,
            reloading,
            onReload: reload,
            onApplied: (next, revision) => {
              setBase(next);
              setApplied({ revision, version: next.version });
            },
            onDeleted: (revision) => {
              setBase(value);
              setDeleted(true);
              setApplied({ revision });
            },
          })
        : null}
    </section>
  );
}

/**
 * A new rule of `service`: the form, and once it is created, its edit page (with the create's revision, so the
 * ACK count shows there, and the intent and caller it was opened with).
 */
export function RuleCreator<T extends { name: string }>({
  what,
  collection,
  service,
  intent,
  source,
  children,
}: {
  what: string;
  collection: 'routes' | 'policies';
  service: string;
  intent?: string | undefined;
  source?: string | undefined;
  children: (onApplied: (value: T, revision: number) => void) => ReactNode;
}) {
  const router = useRouter();
  const onApplied = (value: T, revision: number) => {
    const query = new URLSearchParams({ applied: String(revision) });
    if (intent) query.set('intent', intent);
    if (source) query.set('source', source);
    router.replace(`/${collection}/${encodeURIComponent(value.name)}/edit?${query}`);
  };
  return (
    <section className="page" aria-labelledby="rule-title">
      <nav aria-label="Breadcrumb" className="muted small">
        <Link href="/services">Services</Link> /{' '}
        <Link href={`/services/${encodeURIComponent(service)}`}>{service}</Link> / new {what}
      </nav>
      <header className="page-header">
        <h1 id="rule-title">
          New {what} for {service}
        </h1>
      </header>
      {children(onApplied)}
    </section>
  );
}

/** A change the form sends: create, replace or delete, as a promise of the stored value and the revision. */
type Send<Body, Value> = (body: Body) => Promise<{ value: Value; revision: number }>;

/**
 * The review → apply flow of a rule form: "Review changes" checks the values with the API's schema and shows the
 * diff; "Apply" sends them; a failure lands as a conflict (with Reload), as errors on the fields, or as a message.
 * Delete goes through the same failure handling.
 */
export function useRuleForm<Body, Value>({
  fields,
  validate,
  diff,
  send,
  onApplied,
  remove,
  onDeleted,
}: {
  fields: readonly string[];
  validate: () => ValidationResult<Body>;
  diff: (body: Body) => DiffLine[];
  send: Send<Body, Value>;
  onApplied: (value: Value, revision: number) => void;
  remove?: () => Promise<{ revision: number }>;
  onDeleted?: (revision: number) => void;
}) {
  const uid = useId();
  const [errors, setErrors] = useState<PlacedErrors>(NO_ERRORS);
  const [review, setReview] = useState<DiffLine[]>();
  const [failure, setFailure] = useState<Failure>();
  const [pending, setPending] = useState(false);

  const check = () => {
    const result = validate();
    setErrors(result.ok ? NO_ERRORS : placeErrors(result.errors, fields));
    return result;
  };

  const fail = (error: Error) => {
    setReview(undefined);
    const f = failureOf(error);
    if (f.kind === 'fields') {
      setErrors(placeErrors(f.errors, fields));
      setFailure(undefined);
    } else setFailure(f);
  };

  const run = async (action: () => Promise<void>) => {
    setPending(true);
    setFailure(undefined);
    try {
      await action();
    } catch (error) {
      fail(error as Error);
    } finally {
      setPending(false);
    }
  };

  const ctx = fieldContext(errors, (field) => `${uid}--${field}`);

  return {
    ctx,
    review,
    failure,
    pending,
    /** Call on every edit: a shown diff no longer describes the values. */
    edited: () => setReview(undefined),
    closeReview: () => setReview(undefined),
    onReview: (event: FormEvent) => {
      event.preventDefault();
      setFailure(undefined);
      const result = check();
      setReview(result.ok ? diff(result.body) : undefined);
    },
    onApply: () => {
      const result = check();
      if (!result.ok) {
        setReview(undefined);
        return;
      }
      void run(async () => {
        const { value, revision } = await send(result.body);
        onApplied(value, revision);
      });
    },
    onDelete: remove
      ? () =>
          void run(async () => {
            const { revision } = await remove();
            onDeleted?.(revision);
          })
      : undefined,
  };
}

/** Above the form: a version conflict with Reload, a failed apply, and errors no field shows. */
export function FormProblems({
  what = 'rule',
  version,
  failure,
  errors,
  reloading,
  onReload,
}: {
  /** What a conflict says changed: "rule", "setting". */
  what?: string;
  version: number | undefined;
  failure: Failure | undefined;
  errors: PlacedErrors;
  reloading: boolean;
  onReload: (() => void) | undefined;
}) {
  return (
    <>
      {failure?.kind === 'conflict' ? (
        <div role="alert" className="banner conflict" data-testid="conflict">
          <p>
            Someone else changed this {what} since you loaded it (you have version {version}
            {failure.currentVersion !== undefined ? `, it is now at version ${failure.currentVersion}` : ''}
            ). Nothing was applied.
          </p>
          <p className="small">{failure.message}</p>
          {onReload ? (
            <button type="button" className="button" onClick={onReload} disabled={reloading}>
              {reloading ? 'Reloading…' : 'Reload'}
            </button>
          ) : null}
        </div>
      ) : null}
      {failure?.kind === 'forbidden' ? (
        <div role="alert" className="banner" data-testid="forbidden">
          Your role may not change this; nothing was applied. {failure.message}
        </div>
      ) : null}
      {failure?.kind === 'message' ? (
        <div role="alert" className="banner" data-testid="apply-failed">
          The change was not applied: {failure.message}
        </div>
      ) : null}
      {errors.other.length > 0 ? (
        <div role="alert" className="banner" data-testid="form-errors">
          {errors.other.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ')}
        </div>
      ) : null}
    </>
  );
}

/** What the editor page gives the form of a loaded rule (a form creating a rule gets `onApplied` alone). */
export interface EditorProps<T> {
  reloading?: boolean;
  onReload?: (() => void) | undefined;
  onApplied: (value: T, revision: number) => void;
  onDeleted?: ((revision: number) => void) | undefined;
}

/** What a rule's form gets: the rule it starts from, the stored one when editing, where it was opened from. */
export type RuleFormProps<Rule, Spec> = {
  value: Spec;
  /** The stored rule being edited; undefined when creating. */
  stored?: Rule | undefined;
} & EditorProps<Rule> &
  OpenedFrom;

export type RuleFormState = ReturnType<typeof useRuleForm<never, never>>;

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The frame of a service's rule form (see FormFrame), with the edge it was opened from and a way back. */
export function RuleFormFrame({
  what,
  editing,
  ...rest
}: {
  what: string;
  editing: Pick<
    RuleFormProps<{ name: string; version: number }, { service: string }>,
    'value' | 'stored' | 'source' | 'reloading' | 'onReload'
  >;
} & Pick<FrameProps, 'form' | 'name' | 'head' | 'intro' | 'children'>) {
  const { stored, source, reloading, onReload } = editing;
  const { service } = editing.value;
  return (
    <FormFrame
      what={what}
      newLabel={`New ${what} for ${service}`}
      stored={stored}
      reloading={reloading}
      onReload={onReload}
      note={<EdgeNote source={source} destination={service} />}
      back={<Link href={`/services/${encodeURIComponent(service)}`}>Back to {service}</Link>}
      service={service}
      {...rest}
    />
  );
}

interface FrameProps {
  what: string;
  /** The form's label when it creates. */
  newLabel: string;
  stored: { name: string; version: number } | undefined;
  reloading?: boolean | undefined;
  onReload?: (() => void) | undefined;
  form: Pick<
    RuleFormState,
    'ctx' | 'failure' | 'review' | 'pending' | 'onReview' | 'onApply' | 'onDelete' | 'closeReview'
  >;
  /** The name as typed: an input only when creating, as a stored rule's name cannot change. */
  name: { value: string; onChange: (name: string) => void };
  /** The fields beside the name. */
  head: ReactNode;
  intro: ReactNode;
  /** Under the read-only note. */
  note?: ReactNode;
  /** The link beside Review. */
  back: ReactNode;
  /** The service whose proxies the change reaches, as the diff counts them. */
  service?: string;
  /** Who the diff says receives the change. */
  pushedTo?: string;
  children: ReactNode;
}

/**
 * The frame of a rule form: what it steers, conflict and errors above the fields; Review, Back and Delete below
 * them, then the diff preview.
 */
export function FormFrame({
  what,
  newLabel,
  stored,
  reloading = false,
  onReload,
  form,
  name,
  head,
  intro,
  note,
  back,
  service,
  pushedTo,
  children,
}: FrameProps) {
  const canEdit = useCan('edit');
  const label = stored ? `${capitalised(what)} ${stored.name}` : newLabel;
  return (
    <form className="panel route-form" aria-label={label} onSubmit={form.onReview} noValidate>
      <p className="muted small">{intro}</p>
      {canEdit ? null : <ReadOnlyNote what={`this ${what}`} />}
      {note}
      <FormProblems
        version={stored?.version}
        failure={form.failure}
        errors={form.ctx.errors}
        reloading={reloading}
        onReload={onReload}
      />
      {/* A role that may not change the rule reads it: every input and row button is disabled. */}
      <fieldset className="plain" disabled={!canEdit}>
        <div className="field-row">
          {stored ? null : (
            <Field
              ctx={form.ctx}
              field="name"
              label="Name"
              type="text"
              value={name.value}
              onChange={name.onChange}
            />
          )}
          {head}
        </div>
        {children}
      </fieldset>
      <div className="actions">
        {canEdit ? (
          <button type="submit" className="button">
            Review changes
          </button>
        ) : null}
        {back}
        {canEdit && stored && form.onDelete ? (
          <DeleteButton what={what} name={stored.name} pending={form.pending} onDelete={form.onDelete} />
        ) : null}
      </div>
      {canEdit && form.review ? (
        <DiffPreview
          what={what}
          lines={form.review}
          {...(service === undefined ? {} : { service })}
          {...(pushedTo === undefined ? {} : { pushedTo })}
          replaces={stored?.version}
          pending={form.pending}
          onApply={form.onApply}
          onBack={form.closeReview}
        />
      ) : null}
    </form>
  );
}

/** Whose proxies a change to `service`'s rules reaches, by the control plane's scoping rule. */
function AffectedProxies({ service }: { service: string }) {
  const services = useServices();
  const proxies = useProxies();
  if (!services.data || !proxies.data) return <p className="small muted">Counting the proxies it reaches…</p>;
  const affected = affectedProxies(services.data, proxies.data.items, service);
  return (
    <p className="small" data-testid="affected-proxies" data-proxies={affected.proxies}>
      {affected.proxies} {affected.proxies === 1 ? 'proxy' : 'proxies'} of{' '}
      {affected.services.length === 1 ? 'service' : 'services'} {affected.services.join(', ') || 'none'}{' '}
      receive this change.
    </p>
  );
}

/**
 * The diff before apply: each changed field old → new, the proxies it reaches (with `service`, the one whose rules
 * change), Apply and Back to editing.
 */
export function DiffPreview({
  what,
  lines,
  service,
  pushedTo = 'the proxies',
  replaces,
  pending,
  onApply,
  onBack,
}: {
  what: string;
  lines: DiffLine[];
  service?: string;
  /** Who receives the new revision, as the note under the diff says it. */
  pushedTo?: string;
  /** The version an apply replaces; absent when creating. */
  replaces: number | undefined;
  pending: boolean;
  onApply: () => void;
  onBack: () => void;
}) {
  const uid = useId();
  return (
    <section className="diff" aria-labelledby={`${uid}-diff`} data-testid="diff-preview">
      <h2 id={`${uid}-diff`}>What changes</h2>
      {lines.length === 0 ? (
        <p className="empty">Nothing: the values are those of version {replaces}.</p>
      ) : (
        <table className="table" aria-labelledby={`${uid}-diff`}>
          <TableHead columns={['Field', 'Before → after']} />
          <tbody>
            {lines.map((line) => (
              <tr key={`${line.field}-${line.label}`} data-testid={`diff-${line.field}`}>
                <th scope="row">{line.label}</th>
                <td className="mono">
                  {line.from} → {line.to}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {service === undefined ? null : <AffectedProxies service={service} />}
      <p className="small muted">
        {replaces === undefined
          ? `Applying creates the ${what}`
          : `Applying replaces version ${replaces} of the ${what}`}
        ; the control plane pushes the new revision to {pushedTo}.
      </p>
      <div className="actions">
        <button
          type="button"
          className="button primary"
          onClick={onApply}
          disabled={lines.length === 0 || pending}
        >
          {pending ? 'Applying…' : 'Apply'}
        </button>
        <button type="button" className="button" onClick={onBack}>
          Back to editing
        </button>
      </div>
    </section>
  );
}

/** Delete, after the browser's confirmation; the API refuses it if the rule changed since it was loaded. */
export function DeleteButton({
  what,
  name,
  pending,
  onDelete,
}: {
  what: string;
  name: string;
  pending: boolean;
  onDelete: () => void;
}) {
  return (
    <button
      type="button"
      className="button danger"
      disabled={pending}
      onClick={() => {
        if (window.confirm(`Delete the ${what} ${name}? The proxies stop applying it.`)) onDelete();
      }}
    >
      Delete {what}
    </button>
  );
}

/**
 * The errors of a form without the review → apply flow (login, users, tokens): placed on its fields, and the
 * FieldContext its inputs take.
 */
export function useFieldErrors(fields: readonly string[]) {
  const uid = useId();
  const [errors, setErrors] = useState<PlacedErrors>(NO_ERRORS);
  const ctx = fieldContext(errors, (field) => `${uid}--${field}`);
  return {
    ctx,
    show: (list: readonly FieldError[]) => setErrors(placeErrors(list, fields)),
    clear: () => setErrors(NO_ERRORS),
  };
}

/** The state of a form `useCheckedForm` runs: its values, their errors and what its last submit said. */
export type CheckedForm<V> = ReturnType<typeof useCheckedForm<V, never>>;

/**
 * A form without the review → apply flow (login, password, users, tokens): a submit checks the values with the
 * API's schema and shows the errors on the fields, or sends them; a success resets the values (unless it leaves the
 * page: then the form stays pending) and may say so, a failure says what `fail` makes of it. The message of the last
 * submit is cleared by the next one.
 */
export function useCheckedForm<V, B>({
  fields,
  initial,
  validate,
  send,
  fail,
  leaves = false,
}: {
  fields: readonly string[];
  initial: V;
  validate: (values: V) => ValidationResult<B>;
  /** Sends the checked body; a text it resolves to is shown as the success's message. */
  send: (body: B) => Promise<string | undefined>;
  /** What a failure of `send` says; undefined when it is shown on the fields (`show`). */
  fail: (error: Error, show: (errors: readonly FieldError[]) => void) => string | undefined;
  /** A success navigates away. */
  leaves?: boolean;
}) {
  const [values, setValues] = useState<V>(initial);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, setPending] = useState(false);
  const errors = useFieldErrors(fields);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(undefined);
    const checked = validate(values);
    if (!checked.ok) {
      errors.show(checked.errors);
      return;
    }
    errors.clear();
    setPending(true);
    try {
      const said = await send(checked.body);
      if (leaves) return;
      setValues(initial);
      if (said !== undefined) setMessage({ ok: true, text: said });
    } catch (error) {
      const text = fail(error as Error, errors.show);
      if (text !== undefined) setMessage({ ok: false, text });
    }
    setPending(false);
  };
  const edit = (patch: Partial<V>) => setValues((v) => ({ ...v, ...patch }));
  return {
    values,
    setValues,
    edit,
    /** What an input of one of the values takes: `<Field {...form.field('name')} label="Name" />`. */
    field: <K extends keyof V & string>(name: K) => ({
      ctx: errors.ctx,
      field: name,
      value: values[name],
      onChange: (value: V[K]) => {
        const patch: Partial<V> = {};
        patch[name] = value;
        edit(patch);
      },
    }),
    submit,
    message,
    /** The last submit's failure, if that is what it said. */
    failure: message?.ok === false ? message.text : undefined,
    pending,
    ctx: errors.ctx,
  };
}

/** The usual `fail` of a checked form: the API's field errors on the fields, anything else as its message. */
export function fieldsOrMessage(
  error: Error,
  show: (errors: readonly FieldError[]) => void,
): string | undefined {
  const f = failureOf(error);
  if (f.kind !== 'fields') return f.message;
  show(f.errors);
  return undefined;
}
