/**
 * TrellisError carries a code from the shared catalogue (packages/schema); `toProblem` is the one place where
 * errors become HTTP problem documents. Database and framework errors are translated here too, so that no
 * route handler decides a status code by itself.
 */
import {
  describeFieldErrors,
  ERRORS,
  type ErrorCode,
  type FieldError,
  type Problem,
  problemType,
  toFieldErrors,
} from '@trellis/schema';
import type { z } from 'zod';

export class TrellisError extends Error {
  override name = 'TrellisError';
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;
  readonly current: unknown;

  constructor(code: ErrorCode, detail: string, extra: { errors?: FieldError[]; current?: unknown } = {}) {
    super(detail);
    this.code = code;
    this.errors = extra.errors;
    this.current = extra.current;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export function validationError(error: z.ZodError, prefix: readonly PropertyKey[] = []): TrellisError {
  const errors = toFieldErrors(error, prefix);
  return new TrellisError('TRELLIS_ERR_VALIDATION', describeFieldErrors(errors), { errors });
}

/** Parses with a shared schema, turning failures into a validation error with every field path. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: readonly PropertyKey[] = [],
) {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, prefix);
  return result.data as z.infer<S>;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'TRELLIS_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'TRELLIS_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'TRELLIS_ERR_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'TRELLIS_ERR_MALFORMED_JSON',
  FST_ERR_BAD_URL: 'TRELLIS_ERR_BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'TRELLIS_ERR_URI_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'TRELLIS_ERR_BAD_REQUEST',
};

/** Postgres SQLSTATE classes and driver conditions meaning "the database is not there right now". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
const UNAVAILABLE_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      cause?: unknown;
      kind?: unknown;
    };
    if (typeof e.code === 'string') {
      if (
        UNAVAILABLE_ERRNO.has(e.code) ||
        UNAVAILABLE_PRISMA.has(e.code) ||
        UNAVAILABLE_SQLSTATE.test(e.code)
      ) {
        return true;
      }
    }
    if (e.name === 'PrismaClientInitializationError') return true;
    if (e.kind === 'DatabaseNotReachable' || e.kind === 'ConnectionClosed' || e.kind === 'SocketTimeout')
      return true;
    if (
      typeof e.message === 'string' &&
      /Connection terminated|connection timeout|Can't reach database/i.test(e.message)
    ) {
      return true;
    }
    current = e.cause;
  }
  return false;
}

/** Postgres class 22 (data exception): the database refused a value, which only input can cause. */
function isDataException(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as { code?: unknown; originalCode?: unknown; cause?: unknown };
    for (const code of [e.code, e.originalCode])
      if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return true;
    current = e.cause;
  }
  return false;
}

export interface ProblemResponse {
  status: number;
  body: Problem;
}

/** The single mapping from any thrown value to an HTTP problem document. */
export function toProblem(error: unknown, instance?: string): ProblemResponse {
  let code: ErrorCode;
  let detail: string;
  let extra: Pick<Problem, 'errors' | 'current'> = {};
  if (error instanceof TrellisError) {
    code = error.code;
    detail = error.message;
    if (error.errors) extra.errors = error.errors;
    if (error.current !== undefined) extra.current = error.current;
  } else if (isDataException(error)) {
    code = 'TRELLIS_ERR_BAD_REQUEST';
    detail = 'the database refused a value in this request';
  } else if (isDatabaseUnavailable(error)) {
    code = 'TRELLIS_ERR_DATABASE_UNAVAILABLE';
    detail = 'the database cannot be reached; retry shortly';
  } else {
    const e = error as { code?: unknown; statusCode?: unknown; message?: unknown };
    const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
    if (mapped) {
      code = mapped;
      detail = typeof e.message === 'string' ? e.message : ERRORS[mapped].title;
    } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      code = 'TRELLIS_ERR_BAD_REQUEST';
      detail = typeof e.message === 'string' ? e.message : ERRORS[code].title;
    } else {
      code = 'TRELLIS_ERR_INTERNAL';
      detail = 'an unexpected error occurred; it has been logged';
      extra = {};
    }
  }
  const { status, title } = ERRORS[code];
  const body: Problem = { type: problemType(code), title, status, detail, code, ...extra };
  if (instance) body.instance = instance;
  return { status, body };
}
