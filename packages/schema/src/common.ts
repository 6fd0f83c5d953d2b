/**
 * Building blocks shared by every resource of the mesh model: names, labels, ports, percentages.
 * Rules follow Kubernetes where operators already know them (DNS labels, label keys and values).
 */
import { z } from 'zod';
import { regexError } from './match.ts';

/** Message for a value of the wrong type, or "is required" when it is missing altogether. */
export function typeError(expected: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${expected}`);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string cannot be stored (Postgres text and jsonb refuse NUL and lone UTF-16 surrogates), or undefined. */
export function unstorableText(value: string): string | undefined {
  if (value.includes('\0')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** Free text of at most `max` characters that can be stored and shown anywhere. */
export function text(max: number) {
  return z
    .string({ error: typeError('a string') })
    .max(max, { error: `must be at most ${max} characters` })
    .check((ctx) => {
      const problem = unstorableText(ctx.value);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS label (RFC 1123): what service, route and policy names must be. */
export const DnsLabel = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .max(63, { error: 'must be at most 63 characters' })
  .regex(DNS_LABEL, {
    error:
      'must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit',
  });

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))) return false;
  return name.length >= 1 && name.length <= 63 && LABEL_NAME.test(name);
}

/** Label key: optional DNS-subdomain prefix and "/", then a name of up to 63 characters. */
export const LabelKey = z.string({ error: typeError('a string') }).refine(isLabelKey, {
  error: (issue) =>
    `label key ${JSON.stringify(issue.input)} is invalid: up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit, optionally prefixed by a DNS subdomain and "/"`,
});

/** Label value: empty, or up to 63 characters like a label name. */
export const LabelValue = z
  .string({ error: typeError('a string') })
  .max(63, { error: 'label values must be at most 63 characters' })
  .regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, {
    error:
      'label values may hold letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
  });

const MAX_LABELS = 64;

/** A set of labels, as on a service or an endpoint. */
export const Labels = z
  .record(LabelKey, LabelValue)
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, { error: `at most ${MAX_LABELS} labels` });
export type Labels = z.infer<typeof Labels>;

/** A label selector: an endpoint belongs to a subset when it carries every label listed (empty = all endpoints). */
export const Subset = Labels;
export type Subset = z.infer<typeof Subset>;

export const Port = z
  .number({ error: typeError('a number') })
  .int({ error: 'must be an integer' })
  .min(1, { error: 'must be between 1 and 65535' })
  .max(65535, { error: 'must be between 1 and 65535' });

/** A share of traffic in percent; fractions allowed (Envoy's FractionalPercent goes to millionths). */
export const Percent = z
  .number({ error: typeError('a number') })
  .min(0, { error: 'must be between 0 and 100' })
  .max(100, { error: 'must be between 0 and 100' });

/** A duration in whole milliseconds, bounded so that no timer can overflow (24 days). */
export function durationMs(min = 1) {
  return z
    .number({ error: typeError('a number of milliseconds') })
    .int({ error: 'must be whole milliseconds' })
    .min(min, { error: `must be at least ${min} ms` })
    .max(2_000_000_000, { error: 'must be at most 2000000000 ms' });
}

export function count(min: number, max: number) {
  return z
    .number({ error: typeError('a number') })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be between ${min} and ${max}` })
    .max(max, { error: `must be between ${min} and ${max}` });
}

/** Whether JavaScript would compile `source` (only to tell an RE2 limit from a plain syntax error; never run). */
function isJavaScriptRegex(source: string): boolean {
  try {
    new RegExp(source, 'u');
    return true;
  } catch {
    return false;
  }
}

export const Regex = text(1024)
  .min(1, { error: 'must not be empty' })
  .check((ctx) => {
    const problem = regexError(ctx.value);
    if (problem === undefined) return;
    ctx.issues.push({
      code: 'custom',
      message: isJavaScriptRegex(ctx.value)
        ? `is a regular expression RE2 cannot run (no lookaround, backreferences or repeat counts over 1000): ${problem}`
        : 'is not a valid regular expression',
      input: ctx.value,
    });
  });

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An HTTP field name (RFC 9110 token); matched case-insensitively by the proxy. */
export const HeaderName = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .regex(TOKEN, { error: 'is not a valid HTTP header name' });

/** Header values may not carry CR, LF or NUL (response splitting). */
export const HeaderValue = text(8192).regex(/^[^\r\n\0]*$/, { error: 'must not contain CR, LF or NUL' });
