/**
 * The control plane's REST API as the CLI uses it: JSON in and out, the token as a bearer header, cursor pages
 * followed to the end, answers parsed with the shared schemas. A server that cannot be reached becomes exit 4; a
 * problem+json answer becomes an ApiError carrying its stable code and field paths (exit 5 on 409, else 1).
 */
import { API_PREFIX, describeFieldErrors, Problem, type Problem as ProblemT } from '@trellis/schema';
import { z } from 'zod';
import { CliError, EXIT } from './errors.ts';

const TIMEOUT_MS = 30_000;

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly problem: ProblemT | undefined,
    message: string,
  ) {
    super(message, status === 409 ? EXIT.conflict : EXIT.failed);
  }

  get code(): string | undefined {
    return this.problem?.code;
  }
}

/** `TRELLIS_ERR_VALIDATION: the route is invalid (destinations: weights must sum to 100, got 90)`. */
function describeProblem(status: number, problem: ProblemT | undefined, fallback: string): string {
  if (!problem) return `the server answered ${status}: ${fallback}`;
  const unsaid = (problem.errors ?? []).filter((e) => !problem.detail.includes(describeFieldErrors([e])));
  const fields = unsaid.length ? ` (${describeFieldErrors(unsaid)})` : '';
  const hint = status === 401 || status === 403 ? ' (run `trellis login --server URL --token TOKEN`)' : '';
  return `${problem.code}: ${problem.detail}${fields}${hint}`;
}

export interface Answer<T> {
  status: number;
  body: T;
  /** x-trellis-revision: the mesh revision after a write. */
  revision: number | undefined;
}

export class Client {
  constructor(
    readonly server: string,
    private readonly token: string | undefined,
  ) {}

  private async request(method: string, pathAndQuery: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(`${this.server}${pathAndQuery}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new CliError(`cannot reach the control plane at ${this.server}: ${why}`, EXIT.unreachable);
    }
  }

  /** Sends a request; a 2xx answer is parsed with `schema`, anything else throws an ApiError. */
  async send<T>(schema: z.ZodType<T>, method: string, apiPath: string, body?: unknown): Promise<Answer<T>> {
    const res = await this.request(method, `${API_PREFIX}${apiPath}`, body);
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const problem = Problem.safeParse(json);
      const data = problem.success ? problem.data : undefined;
      throw new ApiError(res.status, data, describeProblem(res.status, data, text.slice(0, 200)));
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new CliError(
        `the server's answer to ${method} ${API_PREFIX}${apiPath} is not what this CLI understands (is it a Trellis control plane of the same version?)`,
        EXIT.failed,
      );
    }
    const revision = Number(res.headers.get('x-trellis-revision') ?? Number.NaN);
    return {
      status: res.status,
      body: parsed.data,
      revision: Number.isFinite(revision) ? revision : undefined,
    };
  }

  async get<T>(schema: z.ZodType<T>, apiPath: string): Promise<T> {
    return (await this.send(schema, 'GET', apiPath)).body;
  }

  /** GET of one resource; undefined when the server says it does not exist. */
  async find<T>(schema: z.ZodType<T>, apiPath: string): Promise<T | undefined> {
    try {
      return await this.get(schema, apiPath);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && error.code === 'TRELLIS_ERR_NOT_FOUND') {
        return undefined;
      }
      throw error;
    }
  }

  /** Every item of a paged list, following `nextCursor`. */
  async list<T>(item: z.ZodType<T>, apiPath: string, query: Record<string, string> = {}): Promise<T[]> {
    const page = z.object({ items: z.array(item), nextCursor: z.string().nullable() });
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams({ ...query, limit: '500' });
      if (cursor) params.set('cursor', cursor);
      const body: { items: T[]; nextCursor: string | null } = await this.get(page, `${apiPath}?${params}`);
      items.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    return items;
  }
}
