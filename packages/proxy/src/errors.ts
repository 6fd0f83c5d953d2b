/**
 * Errors the proxy produces itself. Each has a code from the shared catalogue (packages/schema), and
 * `localReply` is the one place where such an error becomes an HTTP response, with `x-trellis-error: <tag>`
 * so that clients and telemetry can tell a proxy-made answer from an upstream's. The body is problem+json
 * (RFC 9457) with the catalogue's stable `code`, like the control plane's errors.
 */
import { ERRORS, type ErrorCode, problemType } from '@trellis/schema';
import { Fields } from './http1/fields.ts';
import type { ProxyResponse } from './types.ts';

export type ProxyErrorCode = {
  [K in ErrorCode]: (typeof ERRORS)[K] extends { tag: string } ? K : never;
}[ErrorCode];

export class ProxyError extends Error {
  override name = 'ProxyError';
  constructor(
    readonly code: ProxyErrorCode,
    detail?: string,
    /** Overrides the catalogue status (fault injection aborts with the configured status). */
    readonly statusOverride?: number,
  ) {
    super(detail ?? ERRORS[code].title);
  }

  get status(): number {
    return this.statusOverride ?? ERRORS[this.code].status;
  }

  get tag(): string {
    return ERRORS[this.code].tag;
  }
}

export const ERROR_HEADER = 'x-trellis-error';

export function localReply(error: ProxyError): ProxyResponse {
  const body = Buffer.from(
    `${JSON.stringify({ type: problemType(error.code), code: error.code, status: error.status, title: ERRORS[error.code].title, detail: error.message })}\n`,
  );
  return {
    status: error.status,
    headers: Fields.of(['content-type', 'application/problem+json', ERROR_HEADER, error.tag]),
    body,
  };
}
