/**
 * The pure parts every rule form shares (route rules and traffic policies): number inputs as the API gets them,
 * zod or problem+json field errors placed on the form's fields, a failed apply sorted into conflict / field errors /
 * message, the field-by-field diff shown before apply, which proxies a change reaches and how many have ACKed it.
 */
import {
  type FieldError,
  type ProxyStatus,
  type ScopedService,
  servicesReceiving,
  toFieldErrors,
} from '@trellis/schema';
import type { z } from 'zod';
import { ApiError } from '../../lib/api';

/**
 * A required number input's text as the API gets it: '' as null (refused, rather than left out and silently
 * replaced by the API's default), anything else as Number().
 */
export function numberOf(text: string): number {
  return (text.trim() === '' ? null : Number(text)) as number; // null is refused by the schema, as intended
}

/** An optional number input's text: '' leaves the field out. */
export function optionalNumberOf(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}

/** A list written "a, b, c" as its items, without blanks. */
export function listOf(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export const SUBSET_SYNTAX = 'write labels as key=value, separated by commas';

/** A label selector written "version=v2, zone=a"; an entry without "=" is an error. */
export function parseSubset(text: string): { subset: Record<string, string> } | { error: string } {
  const subset: Record<string, string> = {};
  for (const entry of listOf(text)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) return { error: SUBSET_SYNTAX };
    subset[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return { subset };
}

/** A selector as the console writes it: `version=v2, zone=a` ('' for the empty selector). */
export function subsetText(subset: Record<string, string>): string {
  return Object.entries(subset)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** A destination's subset as the console labels it: `version=v2`, or "all endpoints" for the empty selector. */
export function subsetLabel(subset: Record<string, string>): string {
  return subsetText(subset) || 'all endpoints';
}

export type ValidationResult<T> = { ok: true; body: T } | { ok: false; errors: FieldError[] };

/**
 * Checks a body with the schema the API uses, so the messages are the API's own; `extra` are errors the form found
 * itself (text it could not turn into the API's shape), reported with the schema's.
 */
export function validateWith<S extends z.ZodType>(
  schema: S,
  body: z.input<S>,
  extra: readonly FieldError[] = [],
): ValidationResult<z.output<S>> {
  const parsed = schema.safeParse(body);
  if (parsed.success && extra.length === 0) return { ok: true, body: parsed.data };
  return { ok: false, errors: [...extra, ...(parsed.success ? [] : toFieldErrors(parsed.error))] };
}

/** The field errors placed on the form: by field key, and the ones no field of the form shows. */
export interface PlacedErrors {
  byField: Record<string, string[]>;
  other: FieldError[];
}

export const NO_ERRORS: PlacedErrors = { byField: {}, other: [] };

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

/** Why an apply (create, replace or delete) failed, as the form shows it. */
export type Failure =
  | { kind: 'conflict'; message: string; currentVersion: number | undefined }
  | { kind: 'fields'; errors: FieldError[] }
  | { kind: 'forbidden'; message: string }
  | { kind: 'message'; message: string };

/**
 * A failed apply sorted for the form: a version conflict (409 with the stored resource in `current`), field errors
 * from the API's problem+json, a refusal for the caller's role, or a message.
 */
export function failureOf(error: Error): Failure {
  const problem = error instanceof ApiError ? error.problem : undefined;
  if (problem?.code === 'TRELLIS_ERR_VERSION_CONFLICT') {
    const current = problem.current as { version?: unknown } | undefined;
    return {
      kind: 'conflict',
      message: problem.detail,
      currentVersion: typeof current?.version === 'number' ? current.version : undefined,
    };
  }
  if (problem?.errors && problem.errors.length > 0) return { kind: 'fields', errors: problem.errors };
  if (error instanceof ApiError && error.status === 403 && error.code !== 'TRELLIS_ERR_CSRF')
    return { kind: 'forbidden', message: error.message };
  return { kind: 'message', message: error.message };
}

export interface DiffLine {
  /** The path of the field (`destinations[1].weight`, `connectionPool.maxRequests`, ...) or a name of a summary line. */
  field: string;
  label: string;
  from: string;
  to: string;
}

const ABSENT = '–';
const NONE = 'none';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function leafText(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? NONE : value.map(String).join(', ');
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    return entries.length === 0 ? NONE : entries.map(([k, v]) => `${k}=${String(v)}`).join(', ');
  }
  return String(value);
}

/** How a form's values are compared: its fields' labels, top-level keys left out, maps shown as one field. */
export interface DiffOptions {
  /** Labels by path with indexes taken out (`match[].path.prefix`); `#` in a label is replaced by the index + 1. */
  labels: Readonly<Record<string, string>>;
  skip?: readonly string[];
  /** Paths (indexes taken out) of maps shown as one field, "k=v, k2=v2": label selectors, headers to set. */
  maps?: readonly string[];
}

const generic = (path: string) => path.replace(/\[\d+\]/g, '[]');

/**
 * A value as `path → text` for each field: objects by key (`retries.attempts`), arrays of objects by index
 * (`match[0].path.prefix`), arrays of plain values and the `maps` as one field (`retries.retryOn` → "5xx, reset");
 * empty objects as "none".
 */
export function flatten(value: unknown, options: Omit<DiffOptions, 'labels'> = {}): Map<string, string> {
  const out = new Map<string, string>();
  const maps = new Set(options.maps ?? []);
  const visit = (v: unknown, path: string) => {
    if (isPlainObject(v) && Object.keys(v).length > 0 && !maps.has(generic(path))) {
      for (const [key, child] of Object.entries(v)) {
        if (path === '' && options.skip?.includes(key)) continue;
        visit(child, path ? `${path}.${key}` : key);
      }
    } else if (Array.isArray(v) && v.some(isPlainObject)) {
      v.forEach((child, i) => {
        visit(child, `${path}[${i}]`);
      });
    } else if (v !== undefined) {
      out.set(path, leafText(v));
    }
  };
  visit(value, '');
  return out;
}

/** A field's label, numbered by its indexes ("Match 1: path prefix"); the path itself when it has none. */
export function labelOf(path: string, labels: Readonly<Record<string, string>>): string {
  const label = labels[generic(path)];
  if (label === undefined) return path;
  const numbers = [...path.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]) + 1);
  return numbers.reduce((text, n) => text.replace('#', String(n)), label);
}

/**
 * What an apply would change, field by field, in the order of `after` then the fields only `before` has: from or
 * to "–" for a field one side lacks (an empty list or map and a missing one are the same: nothing). Empty when
 * nothing changes.
 */
export function diffFields(before: unknown, after: unknown, options: DiffOptions): DiffLine[] {
  const a = flatten(before, options);
  const b = flatten(after, options);
  const lines: DiffLine[] = [];
  for (const [field, to] of b) {
    const from = a.get(field) ?? ABSENT;
    if (from !== to && !(from === ABSENT && to === NONE)) {
      lines.push({ field, label: labelOf(field, options.labels), from, to });
    }
  }
  for (const [field, from] of a) {
    if (!b.has(field) && from !== NONE) {
      lines.push({ field, label: labelOf(field, options.labels), from, to: ABSENT });
    }
  }
  return lines;
}

/** The resource fields a diff never shows: the control plane's metadata. */
export const META_FIELDS = ['id', 'version', 'createdAt', 'updatedAt'] as const;

export interface Affected {
  /** Connected proxies of the services that are sent the change. */
  proxies: number;
  services: string[];
}

/**
 * Which proxies a change to the rules of `target` reaches: those of every service whose slice holds `target`, by
 * the control plane's own scoping rule (`servicesReceiving`). Disconnected proxies are not counted.
 */
export function affectedProxies(
  services: readonly ScopedService[],
  proxies: readonly ProxyStatus[],
  target: string,
): Affected {
  const receiving = servicesReceiving(services, target);
  const set = new Set(receiving);
  const count = proxies.filter((p) => p.status !== 'DISCONNECTED' && set.has(p.node.service)).length;
  return { proxies: count, services: receiving };
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
