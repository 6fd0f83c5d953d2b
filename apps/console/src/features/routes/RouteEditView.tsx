'use client';

/**
 * The route rule form: a rule's weighted destinations (a slider and a number per destination, always summing to
 * 100), its timeout and retry attempts. "Review changes" checks the values with the API's own schema and shows
 * what would change; "Apply" PUTs the rule with the version it was loaded at. Field errors (from the schema or from
 * the API's problem+json) show next to their fields; a version conflict offers to reload; after an apply, a live
 * count of the proxies that have ACKed the new revision.
 */
import { RouteRule } from '@trellis/schema';
import Link from 'next/link';
import { type FormEvent, useId, useState } from 'react';
import { ApiError } from '../../lib/api';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useProxies } from '../proxies/queries';
import {
  ackProgress,
  type DiffLine,
  diffRoute,
  formFields,
  formValuesOf,
  type PlacedErrors,
  placeErrors,
  type RouteFormValues,
  rebalance,
  replaceBodyOf,
  subsetLabel,
  validateReplace,
} from './form';
import { useReplaceRoute, useRoute } from './queries';

interface Applied {
  revision: number;
  version: number;
}

export function RouteEditView({ name }: { name: string }) {
  const route = useRoute(name);
  // The rule as the form edits it: as first loaded, then as reloaded or as the last apply stored it.
  const [base, setBase] = useState<RouteRule>();
  const [applied, setApplied] = useState<Applied>();
  const [reloading, setReloading] = useState(false);
  const rule = base ?? route.data;
  const notFound = route.error instanceof ApiError && route.error.status === 404;

  const reload = async () => {
    setReloading(true);
    try {
      const fresh = await route.refetch();
      if (fresh.data) {
        setBase(fresh.data);
        setApplied(undefined);
      }
    } finally {
      setReloading(false);
    }
  };

  return (
    <section className="page" aria-labelledby="route-title">
      <nav aria-label="Breadcrumb" className="muted small">
        <Link href="/services">Services</Link>
        {rule ? (
          <>
            {' / '}
            <Link href={`/services/${encodeURIComponent(rule.service)}`}>{rule.service}</Link>
          </>
        ) : null}{' '}
        / {name}
      </nav>
      <header className="page-header">
        <h1 id="route-title">Edit route rule {name}</h1>
        {rule ? (
          <span className="muted" data-testid="route-version">
            version {rule.version}
          </span>
        ) : null}
      </header>
      {notFound ? (
        <p className="empty" role="alert">
          There is no route rule named {name}. <Link href="/services">All services</Link>
        </p>
      ) : null}
      {route.error && !notFound ? <ErrorBanner error={route.error} /> : null}
      {route.isPending ? <p className="empty">Loading the route rule…</p> : null}
      {applied ? <AckIndicator revision={applied.revision} version={applied.version} /> : null}
      {rule ? (
        <RouteForm
          key={rule.version}
          rule={rule}
          reloading={reloading}
          onReload={reload}
          onApplied={(value, revision) => {
            setBase(value);
            setApplied({ revision, version: value.version });
          }}
        />
      ) : null}
    </section>
  );
}

function AckIndicator({ revision, version }: Applied) {
  const proxies = useProxies(1000);
  const progress = ackProgress(proxies.data?.items ?? [], revision);
  return (
    <div className="panel applied" role="status" aria-live="polite">
      <p>
        Applied: the rule is now at version {version}, mesh revision {revision}.
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

function FieldErrors({ id, field, messages }: { id: string; field: string; messages: string[] | undefined }) {
  if (!messages || messages.length === 0) return null;
  return (
    <span id={id} className="field-error" data-testid={`field-error-${field}`}>
      {messages.join('; ')}
    </span>
  );
}

interface Conflict {
  message: string;
  currentVersion: number | undefined;
}

function RouteForm({
  rule,
  reloading,
  onReload,
  onApplied,
}: {
  rule: RouteRule;
  reloading: boolean;
  onReload: () => void;
  onApplied: (value: RouteRule, revision: number) => void;
}) {
  const uid = useId();
  const fieldId = (field: string) => `${uid}--${field}`;
  const [values, setValues] = useState<RouteFormValues>(() => formValuesOf(rule));
  const [errors, setErrors] = useState<PlacedErrors>({ byField: {}, other: [] });
  const [review, setReview] = useState<DiffLine[]>();
  const [conflict, setConflict] = useState<Conflict>();
  const [failure, setFailure] = useState<string>();
  const replace = useReplaceRoute(rule.name);
  const fields = formFields(rule.destinations.length);

  const edit = (next: RouteFormValues) => {
    setValues(next);
    setReview(undefined);
  };

  const check = () => {
    const result = validateReplace(replaceBodyOf(rule, values));
    setErrors(result.ok ? { byField: {}, other: [] } : placeErrors(result.errors, fields));
    return result;
  };

  const onReview = (event: FormEvent) => {
    event.preventDefault();
    setFailure(undefined);
    const result = check();
    setReview(result.ok ? diffRoute(rule, result.body) : undefined);
  };

  const onApply = () => {
    const result = check();
    if (!result.ok) {
      setReview(undefined);
      return;
    }
    setFailure(undefined);
    replace.mutate(result.body, {
      onSuccess: ({ value, revision }) => onApplied(value, revision),
      onError: (error) => {
        setReview(undefined);
        const problem = error instanceof ApiError ? error.problem : undefined;
        if (
          error instanceof ApiError &&
          error.status === 409 &&
          problem?.code === 'TRELLIS_ERR_VERSION_CONFLICT'
        ) {
          const current = RouteRule.safeParse(problem.current);
          setConflict({
            message: problem.detail,
            currentVersion: current.success ? current.data.version : undefined,
          });
        } else if (problem?.errors && problem.errors.length > 0) {
          setErrors(placeErrors(problem.errors, fields));
        } else {
          setFailure(error.message);
        }
      },
    });
  };

  const total = values.weights.reduce((sum, w) => sum + w, 0);
  const describedBy = (field: string) => (errors.byField[field] ? fieldId(field) : undefined);

  return (
    <form className="panel route-form" aria-label={`Route rule ${rule.name}`} onSubmit={onReview} noValidate>
      <p className="muted small">
        Steers the HTTP traffic to <strong>{rule.service}</strong>
        {rule.match.length > 0 ? ' that its matches select' : ''}. Weights always sum to 100: moving one
        shares the rest among the others in proportion.
      </p>
      {conflict ? (
        <div role="alert" className="banner conflict" data-testid="conflict">
          <p>
            Someone else changed this rule since you loaded it (you have version {rule.version}
            {conflict.currentVersion !== undefined ? `, it is now at version ${conflict.currentVersion}` : ''}
            ). Nothing was applied.
          </p>
          <p className="small">{conflict.message}</p>
          <button type="button" className="button" onClick={onReload} disabled={reloading}>
            {reloading ? 'Reloading…' : 'Reload'}
          </button>
        </div>
      ) : null}
      {failure ? (
        <div role="alert" className="banner">
          The change was not applied: {failure}
        </div>
      ) : null}
      {errors.other.length > 0 ? (
        <div role="alert" className="banner" data-testid="form-errors">
          {errors.other.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ')}
        </div>
      ) : null}

      <fieldset className="fieldset" aria-describedby={describedBy('destinations')}>
        <legend>Destinations</legend>
        {rule.destinations.map((d, i) => {
          const label = `Weight of ${subsetLabel(d.subset)}`;
          const weight = values.weights[i] ?? 0;
          const field = `destinations[${i}].weight`;
          const messages = [
            ...(errors.byField[`destinations[${i}]`] ?? []),
            ...(errors.byField[field] ?? []),
          ];
          const set = (value: number) => edit({ ...values, weights: rebalance(values.weights, i, value) });
          return (
            <div className="destination" key={JSON.stringify(d.subset)} data-testid={`destination-${i}`}>
              <span className="mono destination-subset">{subsetLabel(d.subset)}</span>
              <input
                type="range"
                min={0}
                max={100}
                step={1}
                aria-label={label}
                value={weight}
                onChange={(e) => set(Number(e.target.value))}
              />
              <input
                type="number"
                className="weight-input"
                min={0}
                max={100}
                step={1}
                aria-label={label}
                aria-invalid={messages.length > 0}
                aria-describedby={messages.length > 0 ? fieldId(field) : undefined}
                value={weight}
                onChange={(e) => set(e.target.value === '' ? 0 : Number(e.target.value))}
              />
              <span aria-hidden="true">%</span>
              <FieldErrors
                id={fieldId(field)}
                field={field}
                messages={messages.length > 0 ? messages : undefined}
              />
            </div>
          );
        })}
        <p className="small muted" data-testid="weights-total">
          Total: {total} %
        </p>
        <FieldErrors
          id={fieldId('destinations')}
          field={'destinations'}
          messages={errors.byField.destinations}
        />
      </fieldset>

      <div className="field">
        <label htmlFor={`${uid}-timeout`}>Timeout (ms)</label>
        <input
          id={`${uid}-timeout`}
          type="number"
          step={1}
          value={values.timeoutMs}
          aria-invalid={Boolean(errors.byField.timeoutMs)}
          aria-describedby={describedBy('timeoutMs')}
          onChange={(e) => edit({ ...values, timeoutMs: e.target.value })}
        />
        <FieldErrors id={fieldId('timeoutMs')} field={'timeoutMs'} messages={errors.byField.timeoutMs} />
      </div>
      <div className="field">
        <label htmlFor={`${uid}-attempts`}>Retry attempts</label>
        <input
          id={`${uid}-attempts`}
          type="number"
          step={1}
          value={values.retryAttempts}
          aria-invalid={Boolean(errors.byField['retries.attempts'])}
          aria-describedby={describedBy('retries.attempts')}
          onChange={(e) => edit({ ...values, retryAttempts: e.target.value })}
        />
        <FieldErrors
          id={fieldId('retries.attempts')}
          field={'retries.attempts'}
          messages={errors.byField['retries.attempts']}
        />
      </div>

      <div className="actions">
        <button type="submit" className="button">
          Review changes
        </button>
        <Link href={`/services/${encodeURIComponent(rule.service)}`}>Back to {rule.service}</Link>
      </div>

      {review ? (
        <section className="diff" aria-labelledby={`${uid}-diff`} data-testid="diff-preview">
          <h2 id={`${uid}-diff`}>What changes</h2>
          {review.length === 0 ? (
            <p className="empty">Nothing: the values are those of version {rule.version}.</p>
          ) : (
            <table className="table" aria-labelledby={`${uid}-diff`}>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Before → after</th>
                </tr>
              </thead>
              <tbody>
                {review.map((line) => (
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
          <p className="small muted">
            Applying replaces version {rule.version} of the rule; the control plane pushes the new revision to
            the proxies.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button primary"
              onClick={onApply}
              disabled={review.length === 0 || replace.isPending}
            >
              {replace.isPending ? 'Applying…' : 'Apply'}
            </button>
            <button type="button" className="button" onClick={() => setReview(undefined)}>
              Back to editing
            </button>
          </div>
        </section>
      ) : null}
    </form>
  );
}
