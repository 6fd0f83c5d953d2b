/**
 * The one catalogue of Trellis error codes and the HTTP status each maps to. Clients (console, CLI, proxies)
 * branch on `code`, never on message text. Problem documents follow RFC 9457.
 *
 * No zod here: the proxy answers from this catalogue on its request path, and a built sidecar loads zod only to
 * validate (packages/proxy/src/schemas.ts).
 */
import type { z } from 'zod';
import type { ErrorCode, FieldError } from './errors.ts';

export const ERRORS = {
  TRELLIS_ERR_VALIDATION: { status: 400, title: 'The request failed validation' },
  TRELLIS_ERR_MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  TRELLIS_ERR_BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  TRELLIS_ERR_TOO_DEEP: { status: 400, title: 'The JSON is nested too deeply' },
  TRELLIS_ERR_UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  TRELLIS_ERR_FORBIDDEN: { status: 403, title: 'The caller lacks the role this needs' },
  TRELLIS_ERR_CSRF: { status: 403, title: 'The CSRF token is missing or wrong' },
  TRELLIS_ERR_BAD_ORIGIN: { status: 403, title: 'The page this comes from may not use the session' },
  TRELLIS_ERR_NOT_FOUND: { status: 404, title: 'No such resource' },
  TRELLIS_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such API route' },
  TRELLIS_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this resource' },
  TRELLIS_ERR_NOT_ACCEPTABLE: { status: 406, title: 'Cannot produce the requested media type' },
  TRELLIS_ERR_VERSION_CONFLICT: { status: 409, title: 'The resource was changed by someone else' },
  TRELLIS_ERR_REVISION_CONFLICT: {
    status: 409,
    title: 'The mesh is no longer at the expected revision',
  },
  TRELLIS_ERR_ALREADY_EXISTS: { status: 409, title: 'A resource with this name already exists' },
  TRELLIS_ERR_CONFLICT: { status: 409, title: 'The change conflicts with the current state' },
  TRELLIS_ERR_IN_USE: { status: 409, title: 'The resource is still referenced by others' },
  TRELLIS_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  TRELLIS_ERR_URI_TOO_LONG: { status: 414, title: 'A part of the request path is too long' },
  TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body must be application/json' },
  TRELLIS_ERR_RATE_LIMITED: { status: 429, title: 'Too many attempts; retry later' },
  TRELLIS_ERR_UNKNOWN_REFERENCE: {
    status: 422,
    title: 'The resource refers to something that does not exist',
  },
  TRELLIS_ERR_INTERNAL: { status: 500, title: 'Internal error' },
  TRELLIS_ERR_DATABASE_UNAVAILABLE: { status: 503, title: 'The database is unavailable' },
  TRELLIS_ERR_NOT_READY: { status: 503, title: 'The control plane is not ready' },
  // Produced by the proxy; `tag` is what it puts in the x-trellis-error header.
  TRELLIS_ERR_NO_ROUTE: { status: 404, title: 'No route matches the request', tag: 'no_route' },
  TRELLIS_ERR_NO_HEALTHY_UPSTREAM: {
    status: 503,
    title: 'No healthy upstream endpoint',
    tag: 'no_healthy_upstream',
  },
  TRELLIS_ERR_OVERFLOW: { status: 503, title: 'Circuit breaker limit reached', tag: 'overflow' },
  TRELLIS_ERR_UPSTREAM_CONNECT: {
    status: 502,
    title: 'Could not connect to the upstream',
    tag: 'upstream_connect_failure',
  },
  TRELLIS_ERR_UPSTREAM_RESET: {
    status: 502,
    title: 'The upstream reset the connection',
    tag: 'upstream_reset',
  },
  TRELLIS_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'The upstream did not answer in time',
    tag: 'upstream_timeout',
  },
  TRELLIS_ERR_EGRESS_DENIED: {
    status: 403,
    title: 'The destination is not on the egress allow-list',
    tag: 'egress_denied',
  },
  TRELLIS_ERR_FAULT_ABORT: { status: 503, title: 'Aborted by fault injection', tag: 'fault_abort' },
  TRELLIS_ERR_RBAC_DENIED: {
    status: 403,
    title: 'An authorization policy denies this request',
    tag: 'rbac_denied',
  },
  TRELLIS_ERR_BAD_GATEWAY_REQUEST: {
    status: 400,
    title: 'The proxy could not parse the request',
    tag: 'bad_request',
  },
  TRELLIS_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request headers too large',
    tag: 'headers_too_large',
  },
  TRELLIS_ERR_BAD_REQUEST_TARGET: {
    status: 400,
    title: 'The request target is not a valid path (fragment, bad escape or character, or unsupported form)',
    tag: 'bad_request_target',
  },
  TRELLIS_ERR_REQUEST_TIMEOUT: {
    status: 408,
    title: 'The request was not received in time',
    tag: 'request_timeout',
  },
} as const satisfies Record<string, { status: number; title: string; tag?: string }>;

export function problemType(code: ErrorCode): string {
  return `https://trellis.dev/errors/${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Formats a zod issue path the way operators read it: `destinations[0].weight`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Flattens a zod error into field errors; unknown keys get one entry each, at their own path. */
export function toFieldErrors(error: z.ZodError, prefix: readonly PropertyKey[] = []): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: formatPath([...path, key]), message: 'is not a known field' });
    } else if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      for (const inner of issue.issues) out.push({ path: formatPath(path), message: inner.message });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

/** One line per field error, e.g. `destinations: weights must sum to 100, got 90`. */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; ');
}
