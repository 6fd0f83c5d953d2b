/**
 * The console's one way to read the control plane: a GET of `/api/v1/...` (rewritten by Next to the control plane),
 * parsed with the shared zod schema at the boundary, so that a page never sees an unchecked shape.
 */
import { Problem, pageOf } from '@trellis/schema';
import type { z } from 'zod';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    /** The HTTP status, or 0 when the control plane could not be reached or answered something unexpected. */
    readonly status: number,
    /** The problem+json body of a 4xx/5xx answer, when the control plane sent one. */
    readonly problem?: Problem,
  ) {
    super(message);
  }
}

export async function getJson<S extends z.ZodType>(
  path: string,
  schema: S,
  signal?: AbortSignal,
  fetchImpl: typeof fetch = fetch,
): Promise<z.infer<S>> {
  let res: Response;
  try {
    res = await fetchImpl(path, { signal, headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError(`the control plane is unreachable (${(cause as Error).message})`, 0);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { message?: unknown };
      if (typeof body.message === 'string') message = `${res.status}: ${body.message}`;
    } catch {
      // not JSON: a proxy error page, the control plane down behind the rewrite
    }
    throw new ApiError(`GET ${path} failed: ${message}`, res.status);
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
  const page = pageOf(item);
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

/**
 * A PUT, POST or DELETE of `/api/v1/...` (with a JSON body unless `body` is undefined); a JSON answer is parsed
 * with `schema`, a 204 gives `value: undefined`. A 4xx/5xx throws an ApiError carrying the problem+json body (its
 * `errors` for the fields, `current` on a 409), so a form can show each on its field.
 */
export async function sendJson<S extends z.ZodType>(
  method: 'PUT' | 'POST' | 'DELETE',
  path: string,
  body: unknown,
  schema: S,
  fetchImpl: typeof fetch = fetch,
): Promise<Change<z.infer<S>>> {
  let res: Response;
  try {
    res = await fetchImpl(path, {
      method,
      headers: {
        accept: 'application/json',
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
    const problem = Problem.safeParse(json);
    const detail = problem.success ? problem.data.detail : `${res.status} ${res.statusText}`;
    throw new ApiError(detail, res.status, problem.success ? problem.data : undefined);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ApiError(`${method} ${path}: unexpected answer`, 0);
  const revision = Number(res.headers.get('x-trellis-revision'));
  if (!Number.isInteger(revision))
    throw new ApiError(`${method} ${path}: no x-trellis-revision in the answer`, 0);
  return { value: parsed.data, revision };
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
