/**
 * The pure parts of the route rule form: weights that always sum to 100, every field of a route rule as the form
 * holds it (text as typed, rows of matches and headers), those values as the API's POST or PUT body, the form's
 * fields as error paths name them, and the diff shown before apply.
 */
import {
  type FieldError,
  type HttpMethod,
  type RetryOn,
  type RouteRule,
  RouteRuleReplace,
  RouteRuleSpec,
  type RouteRuleSpecInput,
  subsetKey,
} from '@trellis/schema';
import type { z } from 'zod';
import {
  type DiffLine,
  diffFields,
  listOf,
  META_FIELDS,
  numberOf,
  optionalNumberOf,
  parseSubset,
  subsetLabel,
  subsetText,
  type ValidationResult,
  validateWith,
} from '../rules/form';

export const TOTAL_WEIGHT = 100;

/** Clamps a weight to a whole number between 0 and 100 (NaN counts as 0). */
export function clampWeight(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(TOTAL_WEIGHT, Math.max(0, Math.round(value)));
}

/**
 * Sets `weights[index]` to `value` and shares the rest of 100 among the other weights in proportion to what they
 * were (equally when they were all 0), in whole numbers by largest remainder (ties to the first), so the result
 * always sums to 100. One weight alone is always 100.
 */
export function rebalance(weights: readonly number[], index: number, value: number): number[] {
  if (weights.length === 0) return [];
  if (weights.length === 1) return [TOTAL_WEIGHT];
  const target = clampWeight(value);
  const rest = TOTAL_WEIGHT - target;
  const others = weights.map((w, i) => (i === index ? 0 : Math.max(0, w)));
  const othersTotal = others.reduce((sum, w) => sum + w, 0);
  const share = (i: number): number => {
    if (i === index) return 0;
    return othersTotal > 0 ? ((others[i] ?? 0) * rest) / othersTotal : rest / (weights.length - 1);
  };
  const exact = weights.map((_, i) => share(i));
  const out = exact.map((x) => Math.floor(x));
  let missing = rest - out.reduce((sum, w) => sum + w, 0);
  const order = exact
    .map((x, i) => ({ i, frac: x - Math.floor(x) }))
    .filter(({ i }) => i !== index)
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (missing <= 0) break;
    out[i] = (out[i] ?? 0) + 1;
    missing -= 1;
  }
  out[index] = target;
  return out;
}

/** Adds a destination at weight 0 (the split stays as it is until the operator moves a weight). */
export function addDestination(destinations: readonly DestinationRow[]): DestinationRow[] {
  return [...destinations, { subset: '', weight: destinations.length === 0 ? TOTAL_WEIGHT : 0 }];
}

/** Removes a destination and gives its weight to the others in proportion, so the total stays 100. */
export function removeDestination(destinations: readonly DestinationRow[], index: number): DestinationRow[] {
  if (destinations.length <= 1) return [...destinations];
  const weights = rebalance(
    destinations.map((d) => d.weight),
    index,
    0,
  );
  return destinations.map((d, i) => ({ ...d, weight: weights[i] ?? 0 })).filter((_, i) => i !== index);
}

export type PathKind = 'none' | 'exact' | 'prefix' | 'regex';
export type HeaderKind = 'exact' | 'regex' | 'present' | 'absent';

export interface HeaderMatchRow {
  name: string;
  kind: HeaderKind;
  /** The exact value or the regex; unused for present / absent. */
  value: string;
}

export interface MatchRow {
  pathKind: PathKind;
  path: string;
  methods: HttpMethod[];
  headers: HeaderMatchRow[];
}

export interface DestinationRow {
  /** The label selector as typed: "version=v2". */
  subset: string;
  weight: number;
}

export interface HeaderSetRow {
  name: string;
  value: string;
}

export interface HeaderOpsValues {
  set: HeaderSetRow[];
  /** Header names, "a, b". */
  remove: string;
}

/** What the form edits, as typed: numbers as the inputs hold them ('' when cleared), lists as rows. */
export interface RouteFormValues {
  name: string;
  priority: string;
  matches: MatchRow[];
  destinations: DestinationRow[];
  timeoutMs: string;
  retries: {
    attempts: string;
    perTryTimeoutMs: string;
    retryOn: RetryOn[];
    /** Statuses, "500, 503". */
    retriableStatusCodes: string;
    baseIntervalMs: string;
    maxIntervalMs: string;
  };
  delay: { on: boolean; fixedDelayMs: string; percent: string };
  abort: { on: boolean; httpStatus: string; percent: string };
  mirror: { on: boolean; subset: string; percent: string };
  headers: { request: HeaderOpsValues; response: HeaderOpsValues };
}

export function emptyMatch(): MatchRow {
  return { pathKind: 'prefix', path: '/', methods: [], headers: [] };
}

export function emptyHeaderMatch(): HeaderMatchRow {
  return { name: '', kind: 'exact', value: '' };
}

const str = (n: number | undefined) => (n === undefined ? '' : String(n));

function matchRowOf(m: RouteRule['match'][number]): MatchRow {
  const p = m.path;
  const [pathKind, path]: [PathKind, string] =
    p?.exact !== undefined
      ? ['exact', p.exact]
      : p?.prefix !== undefined
        ? ['prefix', p.prefix]
        : p?.regex !== undefined
          ? ['regex', p.regex]
          : ['none', ''];
  return {
    pathKind,
    path,
    methods: [...(m.methods ?? [])],
    headers: m.headers.map((h) => {
      if (h.exact !== undefined) return { name: h.name, kind: 'exact', value: h.exact };
      if (h.regex !== undefined) return { name: h.name, kind: 'regex', value: h.regex };
      return { name: h.name, kind: h.present === false ? 'absent' : 'present', value: '' };
    }),
  };
}

function opsValuesOf(ops: RouteRule['headers']['request']): HeaderOpsValues {
  return {
    set: Object.entries(ops.set).map(([name, value]) => ({ name, value })),
    remove: ops.remove.join(', '),
  };
}

/** The form's values for a stored rule, or for a new one (the API's defaults). */
export function formValuesOf(rule: RouteRuleSpec): RouteFormValues {
  return {
    name: rule.name,
    priority: String(rule.priority),
    matches: rule.match.map(matchRowOf),
    destinations: rule.destinations.map((d) => ({ subset: subsetText(d.subset), weight: d.weight })),
    timeoutMs: String(rule.timeoutMs),
    retries: {
      attempts: String(rule.retries.attempts),
      perTryTimeoutMs: str(rule.retries.perTryTimeoutMs),
      retryOn: [...rule.retries.retryOn],
      retriableStatusCodes: rule.retries.retriableStatusCodes.join(', '),
      baseIntervalMs: String(rule.retries.backoff.baseIntervalMs),
      maxIntervalMs: String(rule.retries.backoff.maxIntervalMs),
    },
    delay: {
      on: rule.fault?.delay !== undefined,
      fixedDelayMs: str(rule.fault?.delay?.fixedDelayMs),
      percent: str(rule.fault?.delay?.percent ?? 100),
    },
    abort: {
      on: rule.fault?.abort !== undefined,
      httpStatus: str(rule.fault?.abort?.httpStatus ?? 503),
      percent: str(rule.fault?.abort?.percent ?? 100),
    },
    mirror: {
      on: rule.mirror !== undefined,
      subset: subsetText(rule.mirror?.subset ?? {}),
      percent: str(rule.mirror?.percent ?? 100),
    },
    headers: { request: opsValuesOf(rule.headers.request), response: opsValuesOf(rule.headers.response) },
  };
}

/** A new rule of `service` as the API would default it, named after the service. */
export function newRouteOf(service: string): RouteRuleSpec {
  return RouteRuleSpec.parse({ name: `${service}-route`.slice(0, 63).replace(/-+$/, ''), service });
}

function headerMatchOf(row: HeaderMatchRow) {
  if (row.kind === 'present' || row.kind === 'absent')
    return { name: row.name, present: row.kind === 'present' };
  return { name: row.name, [row.kind]: row.value };
}

function matchOf(row: MatchRow) {
  return {
    ...(row.pathKind === 'none' ? {} : { path: { [row.pathKind]: row.path } }),
    ...(row.methods.length > 0 ? { methods: row.methods } : {}),
    headers: row.headers.map(headerMatchOf),
  };
}

function opsOf(ops: HeaderOpsValues) {
  return {
    set: Object.fromEntries(ops.set.map((r) => [r.name, r.value])),
    remove: listOf(ops.remove),
  };
}

/** Numbers typed in a list ("500, 503"); an entry that is not a number stays as typed so the schema refuses it. */
function numbersOf(text: string): number[] {
  return listOf(text).map((item) => (Number.isNaN(Number(item)) ? item : Number(item))) as number[];
}

/**
 * The rule's spec as the API gets it, and the errors of what the form could not turn into the API's shape
 * (a subset not written as key=value).
 */
export function specOf(
  service: string,
  values: RouteFormValues,
): { spec: RouteRuleSpecInput; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const subset = (text: string, path: string) => {
    const parsed = parseSubset(text);
    if ('error' in parsed) {
      errors.push({ path, message: parsed.error });
      return {};
    }
    return parsed.subset;
  };
  const fault = {
    ...(values.delay.on
      ? {
          delay: {
            fixedDelayMs: numberOf(values.delay.fixedDelayMs),
            percent: numberOf(values.delay.percent),
          },
        }
      : {}),
    ...(values.abort.on
      ? { abort: { httpStatus: numberOf(values.abort.httpStatus), percent: numberOf(values.abort.percent) } }
      : {}),
  };
  const spec: RouteRuleSpecInput = {
    name: values.name.trim(),
    service,
    priority: numberOf(values.priority),
    match: values.matches.map(matchOf),
    destinations: values.destinations.map((d, i) => ({
      subset: subset(d.subset, `destinations[${i}].subset`),
      weight: d.weight,
    })),
    timeoutMs: numberOf(values.timeoutMs),
    retries: {
      attempts: numberOf(values.retries.attempts),
      ...(optionalNumberOf(values.retries.perTryTimeoutMs) === undefined
        ? {}
        : { perTryTimeoutMs: optionalNumberOf(values.retries.perTryTimeoutMs) }),
      retryOn: values.retries.retryOn,
      retriableStatusCodes: numbersOf(values.retries.retriableStatusCodes),
      backoff: {
        baseIntervalMs: numberOf(values.retries.baseIntervalMs),
        maxIntervalMs: numberOf(values.retries.maxIntervalMs),
      },
    },
    ...(values.delay.on || values.abort.on ? { fault } : {}),
    ...(values.mirror.on
      ? {
          mirror: {
            subset: subset(values.mirror.subset, 'mirror.subset'),
            percent: numberOf(values.mirror.percent),
          },
        }
      : {}),
    headers: { request: opsOf(values.headers.request), response: opsOf(values.headers.response) },
  };
  return { spec, errors };
}

/** The PUT body: the form's spec with the version the rule was loaded at (the name and service stay). */
export function replaceBodyOf(rule: RouteRule, values: RouteFormValues): z.input<typeof RouteRuleReplace> {
  return { ...specOf(rule.service, { ...values, name: rule.name }).spec, version: rule.version };
}

/** Checks a PUT with the schema the API uses, so the messages are the API's own. */
export function validateReplace(
  rule: RouteRule,
  values: RouteFormValues,
): ValidationResult<z.output<typeof RouteRuleReplace>> {
  const { spec, errors } = specOf(rule.service, { ...values, name: rule.name });
  return validateWith(RouteRuleReplace, { ...spec, version: rule.version }, errors);
}

/** Checks a POST (a new rule of `service`) with the API's schema. */
export function validateCreate(service: string, values: RouteFormValues): ValidationResult<RouteRuleSpec> {
  const { spec, errors } = specOf(service, values);
  return validateWith(RouteRuleSpec, spec, errors);
}

/**
 * The keys of the form's fields, as error paths name them (the name only when creating: it cannot change). The
 * service is not a field of the form: its errors show above it.
 */
export function formFields(
  values: Pick<RouteFormValues, 'matches' | 'destinations'>,
  creating = false,
): string[] {
  const out = [
    ...(creating ? ['name'] : []),
    'priority',
    'match',
    'destinations',
    'timeoutMs',
    'retries.attempts',
    'retries.perTryTimeoutMs',
    'retries.retryOn',
    'retries.retriableStatusCodes',
    'retries.backoff.baseIntervalMs',
    'retries.backoff.maxIntervalMs',
    'fault',
    'fault.delay.fixedDelayMs',
    'fault.delay.percent',
    'fault.abort.httpStatus',
    'fault.abort.percent',
    'mirror.subset',
    'mirror.percent',
  ];
  for (const side of ['request', 'response']) out.push(`headers.${side}.set`, `headers.${side}.remove`);
  values.matches.forEach((m, i) => {
    out.push(`match[${i}]`, `match[${i}].path`, `match[${i}].methods`);
    m.headers.forEach((_, j) => {
      const row = `match[${i}].headers[${j}]`;
      out.push(row, `${row}.name`, `${row}.exact`, `${row}.regex`);
    });
  });
  values.destinations.forEach((_, i) => {
    out.push(`destinations[${i}]`, `destinations[${i}].weight`, `destinations[${i}].subset`);
  });
  return out;
}

/** The labels of a route rule's fields in the diff. */
export const ROUTE_LABELS: Record<string, string> = {
  name: 'Name',
  service: 'Service',
  priority: 'Priority',
  match: 'Matches',
  'match[].path.exact': 'Match #: path is',
  'match[].path.prefix': 'Match #: path starts with',
  'match[].path.regex': 'Match #: path matches',
  'match[].methods': 'Match #: methods',
  'match[].headers': 'Match #: headers',
  'match[].headers[].name': 'Match #: header # name',
  'match[].headers[].exact': 'Match #: header # is',
  'match[].headers[].regex': 'Match #: header # matches',
  'match[].headers[].present': 'Match #: header # present',
  timeoutMs: 'Timeout (ms)',
  'retries.attempts': 'Retry attempts',
  'retries.perTryTimeoutMs': 'Timeout per try (ms)',
  'retries.retryOn': 'Retry on',
  'retries.retriableStatusCodes': 'Retried statuses',
  'retries.backoff.baseIntervalMs': 'Backoff base interval (ms)',
  'retries.backoff.maxIntervalMs': 'Backoff max interval (ms)',
  'fault.delay.fixedDelayMs': 'Fault: delay (ms)',
  'fault.delay.percent': 'Fault: delayed requests (%)',
  'fault.abort.httpStatus': 'Fault: abort status',
  'fault.abort.percent': 'Fault: aborted requests (%)',
  'mirror.subset': 'Mirror: subset',
  'mirror.percent': 'Mirror: mirrored requests (%)',
  'headers.request.set': 'Request headers set',
  'headers.request.remove': 'Request headers removed',
  'headers.response.set': 'Response headers set',
  'headers.response.remove': 'Response headers removed',
};

const ROUTE_MAPS = ['mirror.subset', 'headers.request.set', 'headers.response.set'];

type Comparable = Partial<RouteRuleSpec> & Pick<RouteRuleSpec, 'destinations'>;

/** The split as a whole and each destination's weight when any weight changes, destinations matched by subset. */
function diffWeights(before: Comparable, after: Comparable): DiffLine[] {
  const lines: DiffLine[] = [];
  const split = (r: Comparable) => r.destinations.map((d) => d.weight).join('/') || '–';
  const beforeBySubset = new Map(before.destinations.map((d) => [subsetKey(d.subset), d]));
  const afterKeys = new Set(after.destinations.map((d) => subsetKey(d.subset)));
  const sameShape =
    before.destinations.length === after.destinations.length &&
    after.destinations.every((d) => beforeBySubset.has(subsetKey(d.subset)));
  const weightsChanged =
    !sameShape ||
    after.destinations.some((d) => beforeBySubset.get(subsetKey(d.subset))?.weight !== d.weight);
  if (!weightsChanged) return lines;
  lines.push({ field: 'weights', label: 'Split (weights)', from: split(before), to: split(after) });
  after.destinations.forEach((d, i) => {
    const old = beforeBySubset.get(subsetKey(d.subset));
    if (old?.weight === d.weight) return;
    lines.push({
      field: `destinations[${i}].weight`,
      label: `Weight of ${subsetLabel(d.subset)}`,
      from: old ? String(old.weight) : '–',
      to: String(d.weight),
    });
  });
  for (const d of before.destinations) {
    if (afterKeys.has(subsetKey(d.subset))) continue;
    lines.push({
      field: 'destinations',
      label: `Weight of ${subsetLabel(d.subset)}`,
      from: String(d.weight),
      to: '–',
    });
  }
  return lines;
}

/**
 * What an apply would change: the split (`90/10 → 0/100`) and each weight that changes (a new or removed
 * destination from or to "–"), then every other field of the rule that changes, in the rule's order. Empty when
 * nothing changes.
 */
export function diffRoute(before: Comparable, after: Comparable): DiffLine[] {
  const options = {
    labels: ROUTE_LABELS,
    maps: ROUTE_MAPS,
    skip: [...META_FIELDS, 'destinations'],
  };
  return [...diffWeights(before, after), ...diffFields(before, after, options)];
}

/** A new rule's diff: every field against nothing. */
export function diffNewRoute(after: RouteRuleSpec): DiffLine[] {
  return diffRoute({ destinations: [] }, after);
}

/** A subset as typed, for labels while it is being typed: what parses, else every endpoint. */
export function parseSubsetOrEmpty(text: string): Record<string, string> {
  const parsed = parseSubset(text);
  return 'error' in parsed ? {} : parsed.subset;
}
