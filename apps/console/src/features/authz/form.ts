/**
 * The pure parts of the authorization policy form: a policy as the form holds it (each rule's callers picked as
 * services, "any mTLS caller", or other principals typed as text; its paths as text and its methods as checkboxes),
 * those values as the API's POST or PUT body checked with the API's own schema, and the diff shown before apply.
 * Callers picked as services are written `service:<name>`, which the control plane expands to the service's SPIFFE
 * ID in the mesh's trust domain.
 */
import {
  type AuthorizationAction,
  type AuthorizationOperation,
  type AuthorizationPolicy,
  AuthorizationPolicyReplace,
  AuthorizationPolicySpec,
  type AuthorizationPolicySpecInput,
  type AuthorizationRule,
  HttpMethod,
  MESH_WIDE,
  SERVICE_PRINCIPAL_PREFIX,
} from '@trellis/schema';
import type { z } from 'zod';
import {
  type DiffLine,
  diffFields,
  listOf,
  META_FIELDS,
  type ValidationResult,
  validateWith,
} from '../rules/form';

export type Method = z.infer<typeof HttpMethod>;
export const METHODS: readonly Method[] = HttpMethod.options;

export const ACTIONS: { value: AuthorizationAction; label: string }[] = [
  { value: 'deny', label: 'Deny the requests the rules match' },
  { value: 'allow', label: 'Allow only the requests the rules match' },
];

export interface AuthzRuleValues {
  /** Calling services, picked: each is the principal `service:<name>`. */
  services: string[];
  /** "*": any caller with a verified mTLS identity. */
  anyCaller: boolean;
  /** Other principals (SPIFFE IDs or prefixes ending in "*"), "a, b". */
  principals: string;
  /** Request paths, "a, b" (exact, or a prefix ending in "*"); empty: any path. */
  paths: string;
  /** Methods; none checked: any method. */
  methods: Method[];
  /** Operations beyond the first of a stored rule: the form edits one per rule and keeps the others as they are. */
  moreOperations: AuthorizationOperation[];
}

export interface AuthzFormValues {
  name: string;
  destination: string;
  action: AuthorizationAction;
  dryRun: boolean;
  rules: AuthzRuleValues[];
}

export const servicePrincipal = (service: string) => `${SERVICE_PRINCIPAL_PREFIX}${service}`;

export function emptyRule(): AuthzRuleValues {
  return { services: [], anyCaller: false, principals: '', paths: '', methods: [], moreOperations: [] };
}

export function ruleValuesOf(rule: AuthorizationRule): AuthzRuleValues {
  const values = emptyRule();
  const others: string[] = [];
  for (const { principal } of rule.from ?? []) {
    if (principal === '*') values.anyCaller = true;
    else if (principal.startsWith(SERVICE_PRINCIPAL_PREFIX))
      values.services.push(principal.slice(SERVICE_PRINCIPAL_PREFIX.length));
    else others.push(principal);
  }
  values.principals = others.join(', ');
  const [first, ...more] = rule.to ?? [];
  values.paths = (first?.paths ?? []).join(', ');
  values.methods = (first?.methods ?? []).filter((m): m is Method => (METHODS as string[]).includes(m));
  values.moreOperations = more;
  return values;
}

export function formValuesOf(spec: AuthorizationPolicySpecInput): AuthzFormValues {
  return {
    name: spec.name,
    destination: spec.destination,
    action: spec.action,
    dryRun: spec.dryRun ?? false,
    rules: spec.rules.map(ruleValuesOf),
  };
}

function ruleOf(values: AuthzRuleValues): AuthorizationRule {
  const principals = [
    ...values.services.map(servicePrincipal),
    ...(values.anyCaller ? ['*'] : []),
    ...listOf(values.principals),
  ];
  const paths = listOf(values.paths);
  const first: AuthorizationOperation = {
    ...(paths.length > 0 ? { paths } : {}),
    ...(values.methods.length > 0 ? { methods: values.methods } : {}),
  };
  const operations = [...(Object.keys(first).length > 0 ? [first] : []), ...values.moreOperations];
  return {
    ...(principals.length > 0 ? { from: principals.map((principal) => ({ principal })) } : {}),
    ...(operations.length > 0 ? { to: operations } : {}),
  };
}

/** The policy's spec as the API gets it. */
export function specOf(values: AuthzFormValues): AuthorizationPolicySpecInput {
  return {
    name: values.name.trim(),
    destination: values.destination,
    action: values.action,
    rules: values.rules.map(ruleOf),
    dryRun: values.dryRun,
  };
}

export function validateCreate(values: AuthzFormValues): ValidationResult<AuthorizationPolicySpec> {
  return validateWith(AuthorizationPolicySpec, specOf(values));
}

/** A PUT: the policy as loaded, its name kept, with the version it was read at. */
export function validateReplace(
  policy: AuthorizationPolicy,
  values: AuthzFormValues,
): ValidationResult<z.output<typeof AuthorizationPolicyReplace>> {
  return validateWith(AuthorizationPolicyReplace, {
    ...specOf({ ...values, name: policy.name }),
    version: policy.version,
  });
}

/** The keys of the form's fields, as error paths name them. */
export function authzFields(values: AuthzFormValues, creating: boolean): string[] {
  return [
    ...(creating ? ['name'] : []),
    'destination',
    'action',
    'dryRun',
    'rules',
    ...values.rules.flatMap((_, i) => [
      `rules[${i}]`,
      `rules[${i}].from`,
      `rules[${i}].to`,
      `rules[${i}].to[0].paths`,
      `rules[${i}].to[0].methods`,
    ]),
  ];
}

export const AUTHZ_LABELS: Record<string, string> = {
  name: 'Name',
  destination: 'Destination',
  action: 'Action',
  dryRun: 'Dry run',
  'rules[].from[].principal': 'Rule #: caller',
  'rules[].to[].paths': 'Rule #: paths',
  'rules[].to[].methods': 'Rule #: methods',
};

const AUTHZ_DIFF = { labels: AUTHZ_LABELS, skip: META_FIELDS };

export function diffAuthz(before: unknown, after: unknown): DiffLine[] {
  return diffFields(before, after, AUTHZ_DIFF);
}

export function diffNewAuthz(after: AuthorizationPolicySpec): DiffLine[] {
  return diffFields({}, after, AUTHZ_DIFF);
}

/** A name for a new policy: `deny-a-to-b`, within a DNS label. */
export function suggestedName(
  action: AuthorizationAction,
  source: string | undefined,
  destination: string,
): string {
  const to = destination === MESH_WIDE ? 'mesh' : destination;
  const base = source ? `${action}-${source}-to-${to}` : `${action}-to-${to}`;
  return base.slice(0, 63).replace(/-+$/, '');
}

export interface NewAuthz {
  destination: string;
  source?: string | undefined;
  action?: AuthorizationAction | undefined;
}

/** A new policy for `destination`; opened from an edge, one rule naming the caller. */
export function newAuthzOf({ destination, source, action = 'deny' }: NewAuthz): AuthorizationPolicySpecInput {
  return {
    name: suggestedName(action, source, destination),
    destination,
    action,
    rules: source ? [{ from: [{ principal: servicePrincipal(source) }] }] : [],
    dryRun: false,
  };
}

/** The new-policy page, prefilled for an edge or a service. */
export function authorizationNewPath(what: NewAuthz): string {
  const query = new URLSearchParams({ destination: what.destination });
  if (what.source) query.set('source', what.source);
  if (what.action) query.set('action', what.action);
  return `/authorization/new?${query}`;
}

/** What a policy does, in one line (the list and the form's heading). */
export function summary(
  policy: Pick<AuthorizationPolicySpecInput, 'action' | 'destination' | 'rules' | 'dryRun'>,
): string {
  const where = policy.destination === MESH_WIDE ? 'every service' : policy.destination;
  const callers = [
    ...new Set(
      policy.rules.flatMap((r) =>
        (r.from ?? []).map((f) =>
          f.principal === '*'
            ? 'any mTLS caller'
            : f.principal.startsWith(SERVICE_PRINCIPAL_PREFIX)
              ? f.principal.slice(SERVICE_PRINCIPAL_PREFIX.length)
              : f.principal,
        ),
      ),
    ),
  ];
  const verb = policy.action === 'deny' ? 'Denies' : 'Allows only';
  const text =
    policy.rules.length === 0
      ? policy.action === 'allow'
        ? `Denies every request to ${where}`
        : `Matches nothing (no rules) at ${where}`
      : `${verb} ${callers.length > 0 ? callers.join(', ') : 'any caller'} → ${where}`;
  return policy.dryRun ? `${text} (dry run)` : text;
}
