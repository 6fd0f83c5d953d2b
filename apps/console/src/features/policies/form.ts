/**
 * The pure parts of the traffic policy form: every field of a policy as the form holds it (numbers as typed, keyed
 * by their path in the schema, so one list describes the inputs, the error placement and the diff labels), those
 * values as the API's POST or PUT body, and the diff shown before apply.
 */
import {
  type FieldError,
  HealthCheck,
  LoadBalancer,
  type LoadBalancerType,
  SuccessRateDetection,
  type TrafficPolicy,
  TrafficPolicyReplace,
  TrafficPolicySpec,
  type TrafficPolicySpecInput,
} from '@trellis/schema';
import type { z } from 'zod';
import {
  type DiffLine,
  diffFields,
  flatten,
  META_FIELDS,
  numberOf,
  parseSubset,
  subsetText,
  type ValidationResult,
  validateWith,
} from '../rules/form';

export type PolicySection = 'loadBalancer' | 'connectionPool' | 'retryBudget' | 'outlierDetection' | 'health';

/** A number field of the policy: its path in the schema, its label, its section, when it shows. */
export interface NumberField {
  path: string;
  label: string;
  section: PolicySection;
  hint?: string;
}

export const LOAD_BALANCERS: { value: LoadBalancerType; label: string }[] = [
  { value: 'least_request', label: 'Least request (power of two choices)' },
  { value: 'round_robin', label: 'Round robin' },
  { value: 'random', label: 'Random' },
  { value: 'ring_hash', label: 'Ring hash (session affinity on a header)' },
];

export const NUMBER_FIELDS: readonly NumberField[] = [
  { path: 'loadBalancer.choiceCount', label: 'Choices per pick', section: 'loadBalancer' },
  { path: 'loadBalancer.minimumRingSize', label: 'Minimum ring size', section: 'loadBalancer' },
  { path: 'loadBalancer.maximumRingSize', label: 'Maximum ring size', section: 'loadBalancer' },
  { path: 'connectionPool.maxConnections', label: 'Max connections', section: 'connectionPool' },
  { path: 'connectionPool.maxPendingRequests', label: 'Max pending requests', section: 'connectionPool' },
  { path: 'connectionPool.maxRequests', label: 'Max requests', section: 'connectionPool' },
  { path: 'connectionPool.maxRetries', label: 'Max retries', section: 'connectionPool' },
  { path: 'connectionPool.connectTimeoutMs', label: 'Connect timeout (ms)', section: 'connectionPool' },
  { path: 'retryBudget.budgetPercent', label: 'Budget (% of active requests)', section: 'retryBudget' },
  { path: 'retryBudget.minRetriesPerSecond', label: 'Min retries per second', section: 'retryBudget' },
  { path: 'outlierDetection.consecutive5xx', label: 'Consecutive 5xx', section: 'outlierDetection' },
  {
    path: 'outlierDetection.consecutiveGatewayErrors',
    label: 'Consecutive gateway errors',
    section: 'outlierDetection',
    hint: '502, 503, 504 or connect failures; 0 turns this detector off.',
  },
  { path: 'outlierDetection.intervalMs', label: 'Interval (ms)', section: 'outlierDetection' },
  {
    path: 'outlierDetection.baseEjectionTimeMs',
    label: 'Base ejection time (ms)',
    section: 'outlierDetection',
  },
  {
    path: 'outlierDetection.maxEjectionTimeMs',
    label: 'Max ejection time (ms)',
    section: 'outlierDetection',
  },
  { path: 'outlierDetection.maxEjectionPercent', label: 'Max ejection (%)', section: 'outlierDetection' },
  {
    path: 'outlierDetection.successRate.minimumHosts',
    label: 'Success rate: minimum hosts',
    section: 'outlierDetection',
  },
  {
    path: 'outlierDetection.successRate.requestVolume',
    label: 'Success rate: request volume',
    section: 'outlierDetection',
  },
  {
    path: 'outlierDetection.successRate.stdevFactor',
    label: 'Success rate: stdev factor',
    section: 'outlierDetection',
  },
  { path: 'panicThresholdPercent', label: 'Panic threshold (%)', section: 'health' },
  { path: 'healthCheck.intervalMs', label: 'Health check interval (ms)', section: 'health' },
  { path: 'healthCheck.timeoutMs', label: 'Health check timeout (ms)', section: 'health' },
  { path: 'healthCheck.healthyThreshold', label: 'Healthy threshold', section: 'health' },
  { path: 'healthCheck.unhealthyThreshold', label: 'Unhealthy threshold', section: 'health' },
];

/** Which number fields show: those of the chosen balancer, of success-rate and health checks when on. */
export function visibleNumbers(values: PolicyFormValues, section: PolicySection): NumberField[] {
  return NUMBER_FIELDS.filter((f) => {
    if (f.section !== section) return false;
    if (f.path === 'loadBalancer.choiceCount') return values.loadBalancer === 'least_request';
    if (f.path.endsWith('RingSize')) return values.loadBalancer === 'ring_hash';
    if (f.path.startsWith('outlierDetection.successRate.')) return values.successRate;
    if (f.path.startsWith('healthCheck.')) return values.healthCheck;
    return true;
  });
}

export interface PolicyFormValues {
  name: string;
  /** The label selector as typed; empty: the whole service. */
  subset: string;
  loadBalancer: LoadBalancerType;
  hashHeader: string;
  retryBudgetEnabled: boolean;
  outlierEnabled: boolean;
  /** Success-rate outlier detection on (it is optional in the schema). */
  successRate: boolean;
  /** Active health checking on (optional in the schema). */
  healthCheck: boolean;
  healthCheckPath: string;
  /** Every number field by its path, as typed. */
  numbers: Record<string, string>;
}

/** The defaults of every optional part, so turning one on starts from the API's defaults. */
function defaults(): Map<string, string> {
  return flatten({
    loadBalancer: {
      ...LoadBalancer.parse({ type: 'least_request' }),
      ...LoadBalancer.parse({ type: 'ring_hash', hashHeader: 'x' }),
    },
    outlierDetection: { successRate: SuccessRateDetection.parse({}) },
    healthCheck: HealthCheck.parse({}),
  });
}

export function formValuesOf(policy: TrafficPolicySpec): PolicyFormValues {
  const stored = flatten(policy);
  const fallback = defaults();
  const numbers: Record<string, string> = {};
  for (const { path } of NUMBER_FIELDS) numbers[path] = stored.get(path) ?? fallback.get(path) ?? '';
  return {
    name: policy.name,
    subset: subsetText(policy.subset ?? {}),
    loadBalancer: policy.loadBalancer.type,
    hashHeader: policy.loadBalancer.type === 'ring_hash' ? policy.loadBalancer.hashHeader : '',
    retryBudgetEnabled: policy.retryBudget.enabled,
    outlierEnabled: policy.outlierDetection.enabled,
    successRate: policy.outlierDetection.successRate !== undefined,
    healthCheck: policy.healthCheck !== undefined,
    healthCheckPath: policy.healthCheck?.path ?? HealthCheck.parse({}).path,
    numbers,
  };
}

/** A new policy of `service` as the API would default it. */
export function newPolicyOf(service: string): TrafficPolicySpec {
  return TrafficPolicySpec.parse({ name: `${service}-policy`.slice(0, 63).replace(/-+$/, ''), service });
}

/** The numbers under `prefix` (`connectionPool`) as an object of the API's shape, for the fields shown. */
function numbersUnder(values: PolicyFormValues, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { path } of NUMBER_FIELDS) {
    if (!path.startsWith(`${prefix}.`)) continue;
    const key = path.slice(prefix.length + 1);
    if (key.includes('.')) continue;
    out[key] = numberOf(values.numbers[path] ?? '');
  }
  return out;
}

function loadBalancerOf(values: PolicyFormValues) {
  const n = (key: string) => numberOf(values.numbers[`loadBalancer.${key}`] ?? '');
  switch (values.loadBalancer) {
    case 'least_request':
      return { type: values.loadBalancer, choiceCount: n('choiceCount') };
    case 'ring_hash':
      return {
        type: values.loadBalancer,
        hashHeader: values.hashHeader.trim(),
        minimumRingSize: n('minimumRingSize'),
        maximumRingSize: n('maximumRingSize'),
      };
    default:
      return { type: values.loadBalancer };
  }
}

/** The policy's spec as the API gets it, and the errors of what the form could not turn into the API's shape. */
export function specOf(
  service: string,
  values: PolicyFormValues,
): { spec: TrafficPolicySpecInput; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const parsed = parseSubset(values.subset);
  if ('error' in parsed) errors.push({ path: 'subset', message: parsed.error });
  const subset = 'error' in parsed ? {} : parsed.subset;
  const spec: TrafficPolicySpecInput = {
    name: values.name.trim(),
    service,
    ...(Object.keys(subset).length > 0 ? { subset } : {}),
    loadBalancer: loadBalancerOf(values),
    connectionPool: numbersUnder(values, 'connectionPool'),
    retryBudget: { enabled: values.retryBudgetEnabled, ...numbersUnder(values, 'retryBudget') },
    outlierDetection: {
      enabled: values.outlierEnabled,
      ...numbersUnder(values, 'outlierDetection'),
      ...(values.successRate ? { successRate: numbersUnder(values, 'outlierDetection.successRate') } : {}),
    },
    panicThresholdPercent: numberOf(values.numbers.panicThresholdPercent ?? ''),
    ...(values.healthCheck
      ? { healthCheck: { path: values.healthCheckPath, ...numbersUnder(values, 'healthCheck') } }
      : {}),
  };
  return { spec, errors };
}

/** Checks a PUT (the policy as loaded, its name and service kept) with the API's schema. */
export function validateReplace(
  policy: TrafficPolicy,
  values: PolicyFormValues,
): ValidationResult<z.output<typeof TrafficPolicyReplace>> {
  const { spec, errors } = specOf(policy.service, { ...values, name: policy.name });
  return validateWith(TrafficPolicyReplace, { ...spec, version: policy.version }, errors);
}

/** Checks a POST (a new policy of `service`) with the API's schema. */
export function validateCreate(
  service: string,
  values: PolicyFormValues,
): ValidationResult<TrafficPolicySpec> {
  const { spec, errors } = specOf(service, values);
  return validateWith(TrafficPolicySpec, spec, errors);
}

/**
 * The keys of the form's fields, as error paths name them (the name only when creating: it cannot change). The
 * service is not a field of the form: its errors (another policy already covers it) show above it.
 */
export function policyFields(creating: boolean): string[] {
  return [...(creating ? ['name'] : []), ...POLICY_FIELDS];
}

const POLICY_FIELDS: readonly string[] = [
  'subset',
  'loadBalancer',
  'loadBalancer.type',
  'loadBalancer.hashHeader',
  'retryBudget.enabled',
  'outlierDetection.enabled',
  'outlierDetection.successRate',
  'healthCheck',
  'healthCheck.path',
  ...NUMBER_FIELDS.map((f) => f.path),
];

export const POLICY_LABELS: Record<string, string> = {
  name: 'Name',
  service: 'Service',
  subset: 'Applies to subset',
  'loadBalancer.type': 'Load balancer',
  'loadBalancer.hashHeader': 'Hash header',
  'retryBudget.enabled': 'Retry budget on',
  'outlierDetection.enabled': 'Outlier detection on',
  'healthCheck.path': 'Health check path',
  ...Object.fromEntries(NUMBER_FIELDS.map((f) => [f.path, f.label])),
};

const POLICY_DIFF = { labels: POLICY_LABELS, skip: META_FIELDS, maps: ['subset'] };

/** What an apply would change, field by field in the policy's order; empty when nothing changes. */
export function diffPolicy(before: unknown, after: unknown): DiffLine[] {
  return diffFields(before, after, POLICY_DIFF);
}

/** A new policy's diff: every field against nothing. */
export function diffNewPolicy(after: TrafficPolicySpec): DiffLine[] {
  return diffFields({}, after, POLICY_DIFF);
}
