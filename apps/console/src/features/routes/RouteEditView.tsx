'use client';

/**
 * The route rule form, to edit a rule (`/routes/<name>/edit`) or create one (`/routes/new?service=`): its matches
 * (path, methods, headers), weighted destinations (a slider and a number each, always summing to 100), timeout and
 * retries, fault injection, mirroring and header changes. "Review changes" checks the values with the API's own
 * schema and shows what would change and which proxies receive it; "Apply" sends the rule (a replace carries the
 * version it was loaded at). Field errors, from the schema or the API, show next to their fields; a version conflict
 * offers to reload; after an apply, a live count of the proxies that have ACKed the new revision.
 */
import { HttpMethod, RetryOn, type RouteRule, type RouteRuleSpec } from '@trellis/schema';
import {
  CheckGroup,
  ErrorsOf,
  Field,
  type FieldContext,
  FieldErrors,
  type FieldSpec,
  Fields,
  RowButton,
  RuleFormFrame,
  type RuleFormProps,
  Section,
  Select,
  ToggledFields,
} from '../rules/components';
import type { EdgeIntent } from '../rules/edge';
import { subsetLabel } from '../rules/form';
import { type RuleKind, ruleViews, useKindForm } from '../rules/kind';
import {
  addDestination,
  diffNewRoute,
  diffRoute,
  emptyHeaderMatch,
  emptyMatch,
  formFields,
  formValuesOf,
  type HeaderKind,
  type HeaderOpsValues,
  type MatchRow,
  newRouteOf,
  type PathKind,
  parseSubsetOrEmpty,
  type RouteFormValues,
  rebalance,
  removeDestination,
  validateCreate,
  validateReplace,
} from './form';
import { useRoute, useRouteChanges } from './queries';

const ROUTE: RuleKind<RouteRule, RouteRuleSpec, RouteFormValues> = {
  what: 'route rule',
  collection: 'routes',
  versionTestId: 'route-version',
  useOne: useRoute,
  useChanges: useRouteChanges,
  newOf: newRouteOf,
  valuesOf: formValuesOf,
  fields: formFields,
  validateReplace,
  validateCreate,
  diff: diffRoute,
  diffNew: diffNewRoute,
};

const views = ruleViews(ROUTE, RouteForm);
export const RouteEditView = views.EditView;
export const RouteCreateView = views.CreateView;

/** Which section an edge of the topology opens. */
const SECTION_OF: Partial<Record<EdgeIntent, string>> = { split: 'destinations', retry: 'retries' };

function RouteForm(props: RuleFormProps<RouteRule, RouteRuleSpec>) {
  const { values, edit, ctx, frame } = useKindForm(ROUTE, props);
  const focus = props.intent ? SECTION_OF[props.intent] : undefined;
  const total = values.destinations.reduce((sum, d) => sum + d.weight, 0);

  return (
    <RuleFormFrame
      {...frame}
      head={
        <Field
          ctx={ctx}
          field="priority"
          label="Priority"
          value={values.priority}
          hint="Rules are tried from the lowest number up; the first that matches wins."
          onChange={(priority) => edit({ priority })}
        />
      }
      intro={
        <>
          Steers the HTTP traffic to <strong>{props.value.service}</strong>
          {values.matches.length > 0 ? ' that its matches select' : ''}. Weights always sum to 100: moving one
          shares the rest among the others in proportion.
        </>
      }
    >
      <Section
        id="matches"
        title={`Matches (${values.matches.length === 0 ? 'every request' : values.matches.length})`}
        open={values.matches.length > 0}
        focused={false}
      >
        <Matches ctx={ctx} matches={values.matches} onChange={(matches) => edit({ matches })} />
      </Section>

      <Section id="destinations" title="Destinations" open focused={focus === 'destinations'}>
        <Destinations ctx={ctx} values={values} onChange={(destinations) => edit({ destinations })} />
        <p className="small muted" data-testid="weights-total">
          Total: {total} %
        </p>
        <FieldErrors
          id={ctx.fieldId('destinations')}
          field="destinations"
          messages={ctx.errors.byField.destinations}
        />
      </Section>

      <Section id="retries" title="Timeout and retries" open focused={focus === 'retries'}>
        <Retries ctx={ctx} values={values} onChange={edit} />
      </Section>

      <Section id="fault" title="Fault injection" open={values.delay.on || values.abort.on} focused={false}>
        <ErrorsOf ctx={ctx} field="fault" />
        <ToggledFields
          ctx={ctx}
          field="fault.delay"
          label="Delay requests"
          value={values.delay}
          fields={[
            { key: 'fixedDelayMs', field: 'fault.delay.fixedDelayMs', label: 'Delay (ms)' },
            { key: 'percent', field: 'fault.delay.percent', label: 'Delayed requests (%)' },
          ]}
          onChange={(delay) => edit({ delay })}
        />
        <ToggledFields
          ctx={ctx}
          field="fault.abort"
          label="Abort requests"
          value={values.abort}
          fields={[
            { key: 'httpStatus', field: 'fault.abort.httpStatus', label: 'Abort status' },
            { key: 'percent', field: 'fault.abort.percent', label: 'Aborted requests (%)' },
          ]}
          onChange={(abort) => edit({ abort })}
        />
      </Section>

      <Section id="mirror" title="Mirror" open={values.mirror.on} focused={false}>
        <ToggledFields
          ctx={ctx}
          field="mirror"
          label="Copy requests to a subset (its answers are dropped)"
          value={values.mirror}
          fields={[
            {
              key: 'subset',
              field: 'mirror.subset',
              label: 'Mirror subset',
              type: 'text',
              placeholder: 'version=v2 (empty: every endpoint)',
            },
            { key: 'percent', field: 'mirror.percent', label: 'Mirrored requests (%)' },
          ]}
          onChange={(mirror) => edit({ mirror })}
        />
      </Section>

      <Section
        id="headers"
        title="Header changes"
        open={hasHeaderOps(values.headers.request) || hasHeaderOps(values.headers.response)}
        focused={false}
      >
        {(['request', 'response'] as const).map((side) => (
          <HeaderOps
            key={side}
            ctx={ctx}
            side={side}
            ops={values.headers[side]}
            onChange={(ops) => edit({ headers: { ...values.headers, [side]: ops } })}
          />
        ))}
      </Section>
    </RuleFormFrame>
  );
}

function hasHeaderOps(ops: HeaderOpsValues): boolean {
  return ops.set.length > 0 || ops.remove.trim() !== '';
}

function replaceAt<T>(list: readonly T[], index: number, item: T): T[] {
  return list.map((x, i) => (i === index ? item : x));
}

const PATH_KINDS: { value: PathKind; label: string }[] = [
  { value: 'none', label: 'any path' },
  { value: 'exact', label: 'is' },
  { value: 'prefix', label: 'starts with' },
  { value: 'regex', label: 'matches regex' },
];

const HEADER_KINDS: { value: HeaderKind; label: string }[] = [
  { value: 'exact', label: 'is' },
  { value: 'regex', label: 'matches regex' },
  { value: 'present', label: 'is present' },
  { value: 'absent', label: 'is absent' },
];

function Matches({
  ctx,
  matches,
  onChange,
}: {
  ctx: FieldContext;
  matches: MatchRow[];
  onChange: (matches: MatchRow[]) => void;
}) {
  return (
    <>
      <p className="small muted">
        A request matches when all conditions of one match hold; with no match the rule takes every request.
      </p>
      <ErrorsOf ctx={ctx} field="match" />
      {matches.map((m, i) => {
        const n = i + 1;
        const set = (next: MatchRow) => onChange(replaceAt(matches, i, next));
        const pathField = `match[${i}].path`;
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
          <fieldset key={i} className="fieldset match-row" data-testid={`match-${i}`}>
            <legend>Match {n}</legend>
            <ErrorsOf ctx={ctx} field={`match[${i}]`} />
            <div className="field-row">
              <Select
                id={`${ctx.fieldId(pathField)}-kind`}
                label={`Match ${n} path`}
                value={m.pathKind}
                options={PATH_KINDS}
                onChange={(pathKind) => set({ ...m, pathKind })}
              />
              {m.pathKind === 'none' ? null : (
                <Field
                  ctx={ctx}
                  field={pathField}
                  label={`Match ${n} path value`}
                  type="text"
                  value={m.path}
                  onChange={(path) => set({ ...m, path })}
                />
              )}
            </div>
            <CheckGroup
              ctx={ctx}
              field={`match[${i}].methods`}
              legend="Methods (none: any)"
              options={HttpMethod.options}
              checked={m.methods}
              onChange={(methods) => set({ ...m, methods })}
            />
            {m.headers.map((h, j) => {
              const field = `match[${i}].headers[${j}]`;
              const setHeader = (next: typeof h) => set({ ...m, headers: replaceAt(m.headers, j, next) });
              return (
                // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
                <div key={j} className="field-row header-row" data-testid={`match-${i}-header-${j}`}>
                  <Field
                    ctx={ctx}
                    field={`${field}.name`}
                    label={`Match ${n} header ${j + 1} name`}
                    type="text"
                    value={h.name}
                    onChange={(name) => setHeader({ ...h, name })}
                  />
                  <Select
                    id={`${ctx.fieldId(field)}-kind`}
                    label={`Match ${n} header ${j + 1} condition`}
                    value={h.kind}
                    options={HEADER_KINDS}
                    onChange={(kind) => setHeader({ ...h, kind })}
                  />
                  {h.kind === 'exact' || h.kind === 'regex' ? (
                    <Field
                      ctx={ctx}
                      field={`${field}.${h.kind}`}
                      label={`Match ${n} header ${j + 1} value`}
                      type="text"
                      value={h.value}
                      onChange={(value) => setHeader({ ...h, value })}
                    />
                  ) : null}
                  <ErrorsOf ctx={ctx} field={field} />
                  <RowButton onClick={() => set({ ...m, headers: m.headers.filter((_, k) => k !== j) })}>
                    Remove header {j + 1} of match {n}
                  </RowButton>
                </div>
              );
            })}
            <div className="actions">
              <RowButton onClick={() => set({ ...m, headers: [...m.headers, emptyHeaderMatch()] })}>
                Add header condition to match {n}
              </RowButton>
              <RowButton onClick={() => onChange(matches.filter((_, k) => k !== i))}>
                Remove match {n}
              </RowButton>
            </div>
          </fieldset>
        );
      })}
      <RowButton onClick={() => onChange([...matches, emptyMatch()])}>Add match</RowButton>
    </>
  );
}

function Destinations({
  ctx,
  values,
  onChange,
}: {
  ctx: FieldContext;
  values: RouteFormValues;
  onChange: (destinations: RouteFormValues['destinations']) => void;
}) {
  const { destinations } = values;
  return (
    <>
      {destinations.map((d, i) => {
        const name = subsetLabel(parseSubsetOrEmpty(d.subset));
        const label = `Weight of ${name}`;
        const field = `destinations[${i}].weight`;
        const messages = [
          ...(ctx.errors.byField[`destinations[${i}]`] ?? []),
          ...(ctx.errors.byField[`destinations[${i}].subset`] ?? []),
          ...(ctx.errors.byField[field] ?? []),
        ];
        const set = (value: number) => {
          const weights = rebalance(
            destinations.map((x) => x.weight),
            i,
            value,
          );
          onChange(destinations.map((x, k) => ({ ...x, weight: weights[k] ?? 0 })));
        };
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
          <div className="destination" key={i} data-testid={`destination-${i}`}>
            <input
              type="text"
              className="mono destination-subset"
              aria-label={`Subset of destination ${i + 1}`}
              placeholder="version=v2 (empty: every endpoint)"
              value={d.subset}
              onChange={(e) => onChange(replaceAt(destinations, i, { ...d, subset: e.target.value }))}
            />
            <input
              type="range"
              min={0}
              max={100}
              step={1}
              aria-label={label}
              value={d.weight}
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
              aria-describedby={messages.length > 0 ? ctx.fieldId(field) : undefined}
              value={d.weight}
              onChange={(e) => set(e.target.value === '' ? 0 : Number(e.target.value))}
            />
            <span aria-hidden="true">%</span>
            {destinations.length > 1 ? (
              <RowButton onClick={() => onChange(removeDestination(destinations, i))}>
                Remove destination {i + 1}
              </RowButton>
            ) : null}
            <FieldErrors
              id={ctx.fieldId(field)}
              field={field}
              messages={messages.length > 0 ? messages : undefined}
            />
          </div>
        );
      })}
      <RowButton onClick={() => onChange(addDestination(destinations))}>Add destination</RowButton>
    </>
  );
}

type RetryValues = RouteFormValues['retries'];

const RETRY_LIMITS: readonly FieldSpec<RetryValues>[] = [
  {
    key: 'attempts',
    field: 'retries.attempts',
    label: 'Retry attempts',
    hint: 'Retries after the first try; 0 turns retries off.',
  },
  {
    key: 'perTryTimeoutMs',
    field: 'retries.perTryTimeoutMs',
    label: 'Timeout per try (ms)',
    hint: 'Empty: each try may take the whole timeout.',
  },
];

const RETRY_BACKOFF: readonly FieldSpec<RetryValues>[] = [
  {
    key: 'retriableStatusCodes',
    field: 'retries.retriableStatusCodes',
    label: 'Retried statuses',
    type: 'text',
    placeholder: '500, 503',
    hint: 'With "retriable-status-codes".',
  },
  { key: 'baseIntervalMs', field: 'retries.backoff.baseIntervalMs', label: 'Backoff base interval (ms)' },
  { key: 'maxIntervalMs', field: 'retries.backoff.maxIntervalMs', label: 'Backoff max interval (ms)' },
];

function Retries({
  ctx,
  values,
  onChange,
}: {
  ctx: FieldContext;
  values: RouteFormValues;
  onChange: (patch: Partial<RouteFormValues>) => void;
}) {
  const r = values.retries;
  const set = (retries: RetryValues) => onChange({ retries });
  return (
    <>
      <div className="field-row">
        <Field
          ctx={ctx}
          field="timeoutMs"
          label="Timeout (ms)"
          value={values.timeoutMs}
          onChange={(timeoutMs) => onChange({ timeoutMs })}
        />
        <Fields ctx={ctx} value={r} fields={RETRY_LIMITS} onChange={set} />
      </div>
      <CheckGroup
        ctx={ctx}
        field="retries.retryOn"
        legend="Retry on"
        options={RetryOn.options}
        checked={r.retryOn}
        onChange={(retryOn) => set({ ...r, retryOn })}
      />
      <div className="field-row">
        <Fields ctx={ctx} value={r} fields={RETRY_BACKOFF} onChange={set} />
      </div>
    </>
  );
}

function HeaderOps({
  ctx,
  side,
  ops,
  onChange,
}: {
  ctx: FieldContext;
  side: 'request' | 'response';
  ops: HeaderOpsValues;
  onChange: (ops: HeaderOpsValues) => void;
}) {
  const title = side === 'request' ? 'Request' : 'Response';
  const setField = `headers.${side}.set`;
  return (
    <fieldset className="fieldset" data-testid={`headers-${side}`}>
      <legend>{title} headers</legend>
      {ops.set.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div key={i} className="field-row header-row">
          {(['name', 'value'] as const).map((key) => {
            const id = `${ctx.fieldId(setField)}-${i}-${key}`;
            return (
              <div key={key} className="field">
                <label htmlFor={id}>
                  {title} header {i + 1} {key === 'name' ? 'to set' : 'value'}
                </label>
                <input
                  id={id}
                  type="text"
                  value={row[key]}
                  {...ctx.aria(setField)}
                  onChange={(e) =>
                    onChange({ ...ops, set: replaceAt(ops.set, i, { ...row, [key]: e.target.value }) })
                  }
                />
              </div>
            );
          })}
          <RowButton onClick={() => onChange({ ...ops, set: ops.set.filter((_, k) => k !== i) })}>
            Remove {side} header {i + 1}
          </RowButton>
        </div>
      ))}
      <ErrorsOf ctx={ctx} field={setField} />
      <RowButton onClick={() => onChange({ ...ops, set: [...ops.set, { name: '', value: '' }] })}>
        Add {side} header to set
      </RowButton>
      <Field
        ctx={ctx}
        field={`headers.${side}.remove`}
        label={`${title} headers to remove`}
        type="text"
        placeholder="x-debug, x-internal"
        value={ops.remove}
        onChange={(remove) => onChange({ ...ops, remove })}
      />
    </fieldset>
  );
}
