/**
 * Why the HTTP/1.1 codec refused bytes, as values: a stable code, the status the proxy answers with, and a
 * short reason for logs. Every error is a frozen singleton, so refusing costs no allocation and callers compare
 * codes, never messages.
 *
 * Statuses for refused requests follow what llhttp/Node and Envoy answer where they agree and Envoy or the RFC
 * where they do not:
 * - 400 for malformed syntax and ambiguous framing (Node answers 400 to every llhttp error but two; Envoy too).
 * - 431 when the head is too large or has too many fields (Node's HPE_HEADER_OVERFLOW, Envoy's
 *   max_request_headers_kb and max_headers_count).
 * - 414 when the request line alone is too long (nginx's answer; Node and Envoy count it in the head and say
 *   431).
 * - 413 when chunk extensions exceed their budget (Node's HPE_CHUNK_EXTENSIONS_OVERFLOW, CVE-2024-22019).
 * - 501 for a transfer coding other than chunked (Envoy; RFC 9112 §6.1 "SHOULD respond with 501") and for a
 *   well-formed method the proxy does not know (RFC 9110 §9.1; Node says 400).
 * - 505 for a well-formed HTTP version other than 1.0 and 1.1 (RFC 9110 §15.6.6).
 * An upstream's malformed response is the proxy's 502 whatever the code, so response-mode errors say 502.
 */

export type Http1ErrorCode =
  | 'INVALID_METHOD'
  | 'UNKNOWN_METHOD'
  | 'INVALID_TARGET'
  | 'TARGET_FORM'
  | 'URI_TOO_LONG'
  | 'INVALID_VERSION'
  | 'VERSION_NOT_SUPPORTED'
  | 'INVALID_START_LINE'
  | 'INVALID_STATUS'
  | 'BARE_CR'
  | 'BARE_LF'
  | 'OBS_FOLD'
  | 'INVALID_HEADER_NAME'
  | 'INVALID_HEADER_VALUE'
  | 'HEAD_TOO_LARGE'
  | 'TOO_MANY_HEADERS'
  | 'INVALID_CONTENT_LENGTH'
  | 'DUPLICATE_CONTENT_LENGTH'
  | 'CONTENT_LENGTH_WITH_TRANSFER_ENCODING'
  | 'INVALID_TRANSFER_ENCODING'
  | 'UNSUPPORTED_TRANSFER_CODING'
  | 'TRANSFER_ENCODING_IN_HTTP10'
  | 'MISSING_HOST'
  | 'DUPLICATE_HOST'
  | 'INVALID_CHUNK_SIZE'
  | 'CHUNK_SIZE_TOO_LARGE'
  | 'INVALID_CHUNK_EXTENSION'
  | 'CHUNK_EXTENSIONS_TOO_LARGE'
  | 'INVALID_CHUNK_END'
  | 'FORBIDDEN_TRAILER'
  | 'DATA_AFTER_CLOSE'
  | 'INCOMPLETE_MESSAGE'
  | 'UNEXPECTED_RESPONSE'
  | 'UNEXPECTED_UPGRADE'
  | 'PARSER_UPGRADED'
  | 'INVALID_FIELD';

export interface Http1Error {
  readonly code: Http1ErrorCode;
  /** The status to answer a refused request with; 502 for a refused response. */
  readonly status: number;
  readonly reason: string;
}

const REQUEST_STATUS: Record<Http1ErrorCode, [number, string]> = {
  INVALID_METHOD: [400, 'method is not a token'],
  UNKNOWN_METHOD: [501, 'method not implemented'],
  INVALID_TARGET: [400, 'invalid request target'],
  TARGET_FORM: [400, 'request-target form not allowed for this method or listener'],
  URI_TOO_LONG: [414, 'request line too long'],
  INVALID_VERSION: [400, 'malformed or missing HTTP version'],
  VERSION_NOT_SUPPORTED: [505, 'HTTP version not supported'],
  INVALID_START_LINE: [400, 'malformed start line'],
  INVALID_STATUS: [502, 'malformed status code'],
  BARE_CR: [400, 'CR not followed by LF'],
  BARE_LF: [400, 'LF not preceded by CR'],
  OBS_FOLD: [400, 'obsolete line folding'],
  INVALID_HEADER_NAME: [400, 'invalid header field name'],
  INVALID_HEADER_VALUE: [400, 'invalid character in header field value'],
  HEAD_TOO_LARGE: [431, 'header section too large'],
  TOO_MANY_HEADERS: [431, 'too many header fields'],
  INVALID_CONTENT_LENGTH: [400, 'invalid Content-Length'],
  DUPLICATE_CONTENT_LENGTH: [400, 'repeated Content-Length'],
  CONTENT_LENGTH_WITH_TRANSFER_ENCODING: [400, 'Content-Length with Transfer-Encoding'],
  INVALID_TRANSFER_ENCODING: [400, 'Transfer-Encoding must be exactly one final chunked'],
  UNSUPPORTED_TRANSFER_CODING: [501, 'transfer coding not implemented'],
  TRANSFER_ENCODING_IN_HTTP10: [400, 'Transfer-Encoding in an HTTP/1.0 message'],
  MISSING_HOST: [400, 'HTTP/1.1 request without Host'],
  DUPLICATE_HOST: [400, 'more than one Host'],
  INVALID_CHUNK_SIZE: [400, 'invalid chunk size'],
  CHUNK_SIZE_TOO_LARGE: [400, 'chunk size too large'],
  INVALID_CHUNK_EXTENSION: [400, 'invalid chunk extension'],
  CHUNK_EXTENSIONS_TOO_LARGE: [413, 'chunk extensions too large'],
  INVALID_CHUNK_END: [400, 'chunk data not followed by CRLF'],
  FORBIDDEN_TRAILER: [400, 'framing, routing or connection field in trailers'],
  DATA_AFTER_CLOSE: [400, 'data after a message that closes the connection'],
  INCOMPLETE_MESSAGE: [400, 'connection ended inside a message'],
  UNEXPECTED_RESPONSE: [502, 'response without a request'],
  UNEXPECTED_UPGRADE: [502, '101 Switching Protocols to a request that did not ask to upgrade'],
  PARSER_UPGRADED: [500, 'bytes fed to a parser after an upgrade'],
  INVALID_FIELD: [500, 'CR, LF or NUL in a field the proxy writes'],
};

function table(responseMode: boolean): Readonly<Record<Http1ErrorCode, Http1Error>> {
  const out = {} as Record<Http1ErrorCode, Http1Error>;
  for (const code of Object.keys(REQUEST_STATUS) as Http1ErrorCode[]) {
    const [status, reason] = REQUEST_STATUS[code];
    const asResponse = responseMode && code !== 'PARSER_UPGRADED' && code !== 'INVALID_FIELD' ? 502 : status;
    out[code] = Object.freeze({ code, status: asResponse, reason });
  }
  return Object.freeze(out);
}

/** Errors met while parsing requests (what to answer the client). */
export const REQUEST_ERRORS = table(false);
/** Errors met while parsing responses (the proxy answers its client 502). */
export const RESPONSE_ERRORS = table(true);
