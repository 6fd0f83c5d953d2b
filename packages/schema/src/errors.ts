/**
 * Error codes, field errors and problem documents (RFC 9457) as schemas, for the API's answers and the clients that
 * read them. The catalogue of codes and the helpers that need no schema are in error-catalogue.ts.
 */
import { z } from 'zod';
import { ERRORS } from './error-catalogue.ts';

export type ErrorCode = keyof typeof ERRORS;
export const ErrorCode = z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]);

export const FieldError = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof FieldError>;

/** application/problem+json body (RFC 9457) with Trellis's stable `code` and, for validation, every field at fault. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: ErrorCode,
  instance: z.string().optional(),
  errors: z.array(FieldError).optional(),
  /** On a version conflict: the resource as it is now, so the client can re-apply its change. */
  current: z.unknown().optional(),
});
export type Problem = z.infer<typeof Problem>;
