'use client';

/**
 * The traffic policy form, to edit a policy (`/policies/<name>/edit`) or create one (`/policies/new?service=`):
 * load balancer, circuit-breaker thresholds, retry budget, outlier detection and health. It behaves as the route
 * rule form does, with the same parts: the API's schema checks the values with its own messages on the fields, the
 * diff shows what changes and which proxies receive it, a version conflict offers to reload, and after an apply a
 * live count of the proxies that have ACKed.
 */
import type { TrafficPolicy, TrafficPolicySpec } from '@trellis/schema';
import {
  Field,
  FieldErrors,
  Fields,
  RuleFormFrame,
  type RuleFormProps,
  Section,
  Select,
  Toggle,
} from '../rules/components';
import { type RuleKind, ruleViews, useKindForm } from '../rules/kind';
import {
  diffNewPolicy,
  diffPolicy,
  formValuesOf,
  LOAD_BALANCERS,
  newPolicyOf,
  type PolicyFormValues,
  type PolicySection,
  policyFields,
  validateCreate,
  validateReplace,
  visibleNumbers,
} from './form';
import { usePolicy, usePolicyChanges } from './queries';

const POLICY: RuleKind<TrafficPolicy, TrafficPolicySpec, PolicyFormValues> = {
  what: 'traffic policy',
  collection: 'policies',
  versionTestId: 'policy-version',
  useOne: usePolicy,
  useChanges: usePolicyChanges,
  newOf: newPolicyOf,
  valuesOf: formValuesOf,
  fields: (_values, creating) => policyFields(creating),
  validateReplace,
  validateCreate,
  diff: diffPolicy,
  diffNew: diffNewPolicy,
};

const views = ruleViews(POLICY, PolicyForm);
export const PolicyEditView = views.EditView;
export const PolicyCreateView = views.CreateView;

const SECTIONS: { id: PolicySection; title: string }[] = [
  { id: 'loadBalancer', title: 'Load balancer' },
  { id: 'connectionPool', title: 'Circuit breaker' },
  { id: 'retryBudget', title: 'Retry budget' },
  { id: 'outlierDetection', title: 'Outlier detection' },
  { id: 'health', title: 'Health' },
];

/** The policy's switches: each turns a part of the policy on or off. */
type Switch = 'retryBudgetEnabled' | 'outlierEnabled' | 'successRate' | 'healthCheck';

function PolicyForm(props: RuleFormProps<TrafficPolicy, TrafficPolicySpec>) {
  const { values, edit, ctx, frame } = useKindForm(POLICY, props);
  const { service } = props.value;
  const numbers = (section: PolicySection) => (
    <Fields
      ctx={ctx}
      value={values.numbers}
      fields={visibleNumbers(values, section).map((f) => ({ ...f, key: f.path, field: f.path }))}
      onChange={(numbers) => edit({ numbers })}
    />
  );
  const toggle = (field: string, label: string, key: Switch) => (
    <Toggle
      ctx={ctx}
      field={field}
      label={label}
      checked={values[key]}
      onChange={(on) => edit({ [key]: on })}
    />
  );

  const body: Record<PolicySection, React.ReactNode> = {
    loadBalancer: (
      <div className="field-row">
        <Select
          id={`${ctx.fieldId('loadBalancer.type')}-input`}
          label="Algorithm"
          value={values.loadBalancer}
          options={LOAD_BALANCERS}
          aria={ctx.aria('loadBalancer.type')}
          onChange={(loadBalancer) => edit({ loadBalancer })}
        >
          <FieldErrors
            id={ctx.fieldId('loadBalancer.type')}
            field="loadBalancer.type"
            messages={ctx.errors.byField['loadBalancer.type'] ?? ctx.errors.byField.loadBalancer}
          />
        </Select>
        {values.loadBalancer === 'ring_hash' ? (
          <Field
            ctx={ctx}
            field="loadBalancer.hashHeader"
            label="Hash header"
            type="text"
            placeholder="x-user-id"
            value={values.hashHeader}
            onChange={(hashHeader) => edit({ hashHeader })}
          />
        ) : null}
        {numbers('loadBalancer')}
      </div>
    ),
    connectionPool: (
      <>
        <p className="small muted">
          Limits per proxy towards {service}; a request over a limit fails at once (503, overflow).
        </p>
        <div className="field-row">{numbers('connectionPool')}</div>
      </>
    ),
    retryBudget: (
      <>
        {toggle('retryBudget.enabled', 'Limit retries to a share of active requests', 'retryBudgetEnabled')}
        <div className="field-row">{numbers('retryBudget')}</div>
      </>
    ),
    outlierDetection: (
      <>
        {toggle('outlierDetection.enabled', 'Eject endpoints that keep failing', 'outlierEnabled')}
        {toggle(
          'outlierDetection.successRate',
          "Also eject endpoints whose success rate is far below the others'",
          'successRate',
        )}
        <div className="field-row">{numbers('outlierDetection')}</div>
      </>
    ),
    health: (
      <>
        {toggle('healthCheck', 'Probe each endpoint with an HTTP GET', 'healthCheck')}
        <div className="field-row">
          {values.healthCheck ? (
            <Field
              ctx={ctx}
              field="healthCheck.path"
              label="Health check path"
              type="text"
              value={values.healthCheckPath}
              onChange={(healthCheckPath) => edit({ healthCheckPath })}
            />
          ) : null}
          {numbers('health')}
        </div>
      </>
    ),
  };

  return (
    <RuleFormFrame
      {...frame}
      head={
        <Field
          ctx={ctx}
          field="subset"
          label="Applies to subset"
          type="text"
          placeholder="version=v2 (empty: the whole service)"
          value={values.subset}
          onChange={(subset) => edit({ subset })}
        />
      }
      intro={
        <>
          How the proxies treat the traffic to <strong>{service}</strong>
          {values.subset ? ` (endpoints ${values.subset})` : ''}: balancing, limits, retries and ejections.
        </>
      }
    >
      {SECTIONS.map((section) => (
        <Section
          key={section.id}
          id={section.id}
          title={section.title}
          open
          focused={props.intent === 'breaker' && section.id === 'connectionPool'}
        >
          {body[section.id]}
        </Section>
      ))}
    </RuleFormFrame>
  );
}
