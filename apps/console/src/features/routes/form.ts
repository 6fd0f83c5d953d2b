/**
 * The pure parts of the route rule form: weights that always sum to 100, the form's values as the PUT body, zod or
 * problem+json field errors placed on the form's fields, the diff shown before apply and the ACK count after it.
 */
import {
  type FieldError,
  type ProxyStatus,
  type RouteRule,
  RouteRuleReplace,
  subsetKey,
  toFieldErrors,
} from '@trellis/schema';
import type { z } from 'zod';

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

/** What the form edits, as typed: numbers as the inputs hold them ('' when cleared). */
export interface RouteFormValues {
  weights: number[];
  timeoutMs: string;
  retryAttempts: string;
}

export function formValuesOf(rule: RouteRule): RouteFormValues {
  return {
    weights: rule.destinations.map((d) => d.weight),
    timeoutMs: String(rule.timeoutMs),
    retryAttempts: String(rule.retries.attempts),
  };
}

/**
 * A number input's text as the API gets it: '' as null (refused, rather than left out and silently replaced by
 * the API's default), anything else as Number().
 */
function numberOf(text: string): number | null {
  return text.trim() === '' ? null : Number(text);
}

/** The PUT body: the rule as loaded (without its id and timestamps), the edited fields, and the version it was read at. */
export function replaceBodyOf(rule: RouteRule, values: RouteFormValues): z.input<typeof RouteRuleReplace> {
  const { id: _id, createdAt: _created, updatedAt: _updated, ...spec } = rule;
  return {
    ...spec,
    destinations: rule.destinations.map((d, i) => ({ ...d, weight: values.weights[i] ?? d.weight })),
    timeoutMs: numberOf(values.timeoutMs) as number, // null is refused by the schema, as intended
    retries: { ...rule.retries, attempts: numberOf(values.retryAttempts) as number },
  };
}

export type ValidationResult =
  | { ok: true; body: z.output<typeof RouteRuleReplace> }
  | { ok: false; errors: FieldError[] };

/** Checks the body with the schema the API uses, so the messages are the API's own. */
export function validateReplace(body: z.input<typeof RouteRuleReplace>): ValidationResult {
  const parsed = RouteRuleReplace.safeParse(body);
  return parsed.success
    ? { ok: true, body: parsed.data }
    : { ok: false, errors: toFieldErrors(parsed.error) };
}

/** The field errors placed on the form: by field key, and the ones no field of the form shows. */
export interface PlacedErrors {
  byField: Record<string, string[]>;
  other: FieldError[];
}

function pathWithin(path: string, field: string): boolean {
  return path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`);
}

/**
 * Places each error (a path as `formatPath` writes it, e.g. `destinations[1].weight`) on the most specific form
 * field it falls within (`destinations[1].weight` on itself, `destinations[1].subset.version` on
 * `destinations[1]` if that is a field); errors within no field are `other`, for a message above the form.
 */
export function placeErrors(errors: readonly FieldError[], fields: readonly string[]): PlacedErrors {
  const byField: Record<string, string[]> = {};
  const other: FieldError[] = [];
  for (const error of errors) {
    let best: string | undefined;
    for (const field of fields) {
      if (pathWithin(error.path, field) && (best === undefined || field.length > best.length)) best = field;
    }
    if (best === undefined) other.push(error);
    else {
      const suffix = error.path.slice(best.length).replace(/^\./, '');
      const message = suffix ? `${suffix}: ${error.message}` : error.message;
      const list = byField[best] ?? [];
      if (!list.includes(message)) list.push(message);
      byField[best] = list;
    }
  }
  return { byField, other };
}

/** The keys of the form's fields, as error paths name them. */
export function formFields(destinations: number): string[] {
  const out = ['destinations', 'timeoutMs', 'retries.attempts'];
  for (let i = 0; i < destinations; i++) out.push(`destinations[${i}]`, `destinations[${i}].weight`);
  return out;
}

/** A destination's subset as the console writes it: `version=v2`, or "all endpoints" for the empty selector. */
export function subsetLabel(subset: Record<string, string>): string {
  const text = Object.entries(subset)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return text || 'all endpoints';
}

export interface DiffLine {
  /** The path of the field (`destinations[1].weight`, `timeoutMs`, ...), or `weights` for the whole split. */
  field: string;
  label: string;
  from: string;
  to: string;
}

type Comparable = Pick<RouteRule, 'destinations' | 'timeoutMs'> & { retries: { attempts: number } };

/**
 * What an apply would change, field by field: the split as a whole (`90/10 → 0/100`) and each destination's
 * weight when any weight changes (destinations matched by subset, a new or removed one from or to "–"), then the
 * timeout and retry attempts. Empty when nothing changes.
 */
export function diffRoute(before: Comparable, after: Comparable): DiffLine[] {
  const lines: DiffLine[] = [];
  const split = (r: Comparable) => r.destinations.map((d) => d.weight).join('/');
  const beforeBySubset = new Map(before.destinations.map((d) => [subsetKey(d.subset), d]));
  const afterKeys = new Set(after.destinations.map((d) => subsetKey(d.subset)));
  const sameShape =
    before.destinations.length === after.destinations.length &&
    after.destinations.every((d) => beforeBySubset.has(subsetKey(d.subset)));
  const weightsChanged =
    !sameShape ||
    after.destinations.some((d) => beforeBySubset.get(subsetKey(d.subset))?.weight !== d.weight);
  if (weightsChanged) {
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
  }
  if (before.timeoutMs !== after.timeoutMs) {
    lines.push({
      field: 'timeoutMs',
      label: 'Timeout (ms)',
      from: String(before.timeoutMs),
      to: String(after.timeoutMs),
    });
  }
  if (before.retries.attempts !== after.retries.attempts) {
    lines.push({
      field: 'retries.attempts',
      label: 'Retry attempts',
      from: String(before.retries.attempts),
      to: String(after.retries.attempts),
    });
  }
  return lines;
}

export interface AckProgress {
  /** Connected proxies whose acked revision is at least the change's. */
  acked: number;
  /** Proxies not DISCONNECTED. */
  connected: number;
  done: boolean;
}

/** How many connected proxies run a revision at least `revision`. */
export function ackProgress(proxies: readonly ProxyStatus[], revision: number): AckProgress {
  const connected = proxies.filter((p) => p.status !== 'DISCONNECTED');
  const acked = connected.filter((p) => p.ackedRevision !== null && p.ackedRevision >= revision).length;
  return { acked, connected: connected.length, done: connected.length > 0 && acked === connected.length };
}
