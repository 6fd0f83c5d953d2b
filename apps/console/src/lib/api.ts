/**
 * The console's one way to talk to the control plane: `/api/v1/...` (rewritten by Next to the control plane), every
 * answer parsed with the shared zod schema at the boundary, so that a page never sees an unchecked shape.
 *
 * The browser is signed in by the control plane's httpOnly session cookie, which the console never reads. A change
 * (POST, PUT, DELETE) carries the session's CSRF token in `x-trellis-csrf`: the token comes with the login's answer
 * or `GET /api/v1/auth/me` and is kept here, in memory only. A 401 from any call means the session is gone: the
 * browser goes to the login page, which brings it back where it was (`/login?next=`).
 *
 * A read the control plane does not answer within READ_TIMEOUT_MS fails as unreachable (status 0), so that a page
 * whose control plane hangs says so instead of loading for as long as the console's server keeps the request open.
 */
import { CSRF_HEADER, Problem, pageOf } from '@trellis/schema';
import { z } from 'zod';
import { LOGIN_PAGE, loginPath } from './login';

export { LOGIN_PAGE, loginPath, safeNext } from './login';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    /** The HTTP status, or 0 when the control plane could not be reached or answered something unexpected. */
    readonly status: number,
    /** The problem+json body of a 4xx/5xx answer, when the control plane sent one. */
    readonly problem?: Problem,
    /** The answer's error code (`TRELLIS_ERR_FORBIDDEN`), also when its problem+json is not one this build parses. */
    readonly code?: string,
    /** Seconds to wait before trying again, from a 429's `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** A read the control plane did not answer in time (status 0, like any other failure to reach it). */
export class ApiTimeoutError extends ApiError {
  override name = 'ApiTimeoutError';
  constructor(message: string) {
    super(message, 0);
  }
}

/** How long a read waits for the control plane's answer. */
export const READ_TIMEOUT_MS = 10_000;

/** The control plane could not be reached, or did not answer: a page shows "unreachable" and offers a retry. */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  // A 500 without a Trellis code is the console's server failing to reach the control plane, not its answer.
  return error.status === 0 || [502, 503, 504].includes(error.status) || (error.status >= 500 && !error.code);
}

const ME_PATH = '/api/v1/auth/me';
const LOGIN_PATH = '/api/v1/auth/login';

let csrfToken: string | undefined;

/** Keeps the session's CSRF token for the changes that follow (undefined after a logout). */
export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? undefined;
}

/** Calls that answer 401 for a wrong password rather than for a missing session: no redirect for those. */
const NO_REDIRECT = [LOGIN_PATH, '/api/v1/auth/password'];

let onUnauthenticated = (): void => {
  if (typeof window === 'undefined') return;
  const { pathname, search } = window.location;
  if (pathname === LOGIN_PAGE) return;
  window.location.assign(loginPath(`${pathname}${search}`));
};

/** Replaces what a 401 does (the tests; the default sends the browser to the login page). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

function unauthenticated(path: string, status: number): void {
  if (status === 401 && !NO_REDIRECT.some((p) => path.startsWith(p))) onUnauthenticated();
}

/** The problem+json of a refusal, when the body is one; its `code` alone, for codes this build does not know. */
function problemOf(json: unknown): { problem?: Problem; code?: string; detail?: string } {
  const problem = Problem.safeParse(json);
  if (problem.success) return { problem: problem.data, code: problem.data.code, detail: problem.data.detail };
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  return {
    ...(typeof raw.code === 'string' ? { code: raw.code } : {}),
    ...(typeof raw.detail === 'string' ? { detail: raw.detail } : {}),
  };
}

export async function getJson<S extends z.ZodType>(
  path: string,
  schema: S,
  signal?: AbortSignal,
  fetchImpl: typeof fetch = fetch,
): Promise<z.infer<S>> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), READ_TIMEOUT_MS);
  const abort = () => timeout.abort();
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort);
  try {
    return await readJson(path, schema, timeout.signal, fetchImpl);
  } catch (cause) {
    if (signal?.aborted || !timeout.signal.aborted) throw cause;
    throw new ApiTimeoutError(`no answer to GET ${path} within ${READ_TIMEOUT_MS / 1000} s`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

async function readJson<S extends z.ZodType>(
  path: string,
  schema: S,
  signal: AbortSignal,
  fetchImpl: typeof fetch,
): Promise<z.infer<S>> {
  let res: Response;
  try {
    res = await fetchImpl(path, { signal, headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (cause) {
    if (signal.aborted) throw cause;
    throw new ApiError(`the control plane is unreachable (${(cause as Error).message})`, 0);
  }
  if (!res.ok) {
    unauthenticated(path, res.status);
    let message = `${res.status} ${res.statusText}`;
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      // not JSON: a proxy error page, the control plane down behind the rewrite
    }
    const { problem, code, detail } = problemOf(body);
    const text = (body as { message?: unknown } | undefined)?.message;
    if (detail) message = `${res.status}: ${detail}`;
    else if (typeof text === 'string') message = `${res.status}: ${text}`;
    throw new ApiError(`GET ${path} failed: ${message}`, res.status, problem, code);
  }
  const parsed = schema.safeParse(await res.json());
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ApiError(
      `GET ${path}: unexpected answer${first ? ` (${first.path.join('.') || '(root)'}: ${first.message})` : ''}`,
      0,
    );
  }
  return parsed.data;
}

/**
 * Every item of a paginated list (`{ items, nextCursor }`), following the cursors 500 at a time: the console shows
 * whole lists, and a list cut at the API's default page size would silently hide the rest.
 */
export async function getAllPages<I extends z.ZodType>(
  path: string,
  item: I,
  signal?: AbortSignal,
  fetchImpl: typeof fetch = fetch,
): Promise<z.infer<I>[]> {
  // A list that never pages (the admin lists) may leave `nextCursor` out: that is its last page too.
  const page = pageOf(item).extend({ nextCursor: z.string().nullable().default(null) });
  const items: z.infer<I>[] = [];
  let cursor: string | null = null;
  const [base, search] = path.split('?', 2) as [string, string | undefined];
  do {
    const query = new URLSearchParams(search);
    query.set('limit', '500');
    if (cursor) query.set('cursor', cursor);
    const answer: { items: z.infer<I>[]; nextCursor: string | null } = await getJson(
      `${base}?${query}`,
      page,
      signal,
      fetchImpl,
    );
    items.push(...answer.items);
    cursor = answer.nextCursor;
  } while (cursor);
  return items;
}

/** A change's answer: the resource as stored and the mesh revision it created (`x-trellis-revision`). */
export interface Change<T> {
  value: T;
  revision: number;
}

/** The CSRF token for a change: the one kept, else the session's as `GET /api/v1/auth/me` tells it. */
async function csrfFor(fetchImpl: typeof fetch): Promise<string | undefined> {
  if (csrfToken !== undefined) return csrfToken;
  try {
    const res = await fetchImpl(ME_PATH, { headers: { accept: 'application/json' }, cache: 'no-store' });
    const body = (await res.json()) as { csrfToken?: unknown };
    if (res.ok && typeof body.csrfToken === 'string') csrfToken = body.csrfToken;
  } catch {
    // the change itself reports what is wrong
  }
  return csrfToken;
}

export type Method = 'PUT' | 'POST' | 'DELETE';

/**
 * A PUT, POST or DELETE of `/api/v1/...` (with a JSON body unless `body` is undefined) with the CSRF token; a JSON
 * answer is parsed with `schema`, a 204 gives undefined. A 4xx/5xx throws an ApiError carrying the problem+json
 * body. A CSRF refusal (the token of an older session) is retried once with the session's current token.
 */
export async function send<S extends z.ZodType>(
  method: Method,
  path: string,
  body: unknown,
  schema: S,
  fetchImpl: typeof fetch = fetch,
): Promise<{ value: z.infer<S>; headers: Headers }> {
  for (let attempt = 0; ; attempt++) {
    // A login has no session yet, hence no token to send.
    const token = path === LOGIN_PATH ? undefined : await csrfFor(fetchImpl);
    let res: Response;
    try {
      res = await fetchImpl(path, {
        method,
        headers: {
          accept: 'application/json',
          ...(token === undefined ? {} : { [CSRF_HEADER]: token }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        cache: 'no-store',
      });
    } catch (cause) {
      throw new ApiError(`the control plane is unreachable (${(cause as Error).message})`, 0);
    }
    let json: unknown;
    try {
      json = res.status === 204 ? undefined : await res.json();
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const { problem, code, detail } = problemOf(json);
      if (code === 'TRELLIS_ERR_CSRF' && attempt === 0) {
        csrfToken = undefined;
        continue;
      }
      unauthenticated(path, res.status);
      const retryAfter = Number(res.headers.get('retry-after') ?? Number.NaN);
      throw new ApiError(
        detail ?? `${res.status} ${res.statusText}`,
        res.status,
        problem,
        code,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ApiError(`${method} ${path}: unexpected answer`, 0);
    return { value: parsed.data, headers: res.headers };
  }
}

/**
 * A change of the mesh (see `send`): its answer and the mesh revision it created (`x-trellis-revision`), so a form
 * can show each error on its field and count the proxies that ACK the revision.
 */
export async function sendJson<S extends z.ZodType>(
  method: Method,
  path: string,
  body: unknown,
  schema: S,
  fetchImpl: typeof fetch = fetch,
): Promise<Change<z.infer<S>>> {
  const { value, headers } = await send(method, path, body, schema, fetchImpl);
  const revision = Number(headers.get('x-trellis-revision'));
  if (!Number.isInteger(revision))
    throw new ApiError(`${method} ${path}: no x-trellis-revision in the answer`, 0);
  return { value, revision };
}

/** A PUT of a JSON body to `/api/v1/...` (see `sendJson`). */
export function putJson<S extends z.ZodType>(
  path: string,
  body: unknown,
  schema: S,
  fetchImpl: typeof fetch = fetch,
): Promise<Change<z.infer<S>>> {
  return sendJson('PUT', path, body, schema, fetchImpl);
}
