/**
 * Numbers the proxy's request path and the stream protocol share with the schemas, in a file without zod: the
 * built proxy keeps zod and the schemas out of an idle sidecar's memory and loads them only to validate
 * (packages/proxy/src/schemas.ts), so what it needs on every request must not come from a file that builds schemas.
 */

/** Most endpoints one telemetry frame lists in `ejectedNow`; a proxy holding more ejected reports the first ones. */
export const MAX_EJECTED_NOW = 1024;

/** The most `limits.maxHeaders` can be set to. */
export const MAX_HEADERS_LIMIT = 10_000;

/** A route's timeout when it sets none. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/**
 * 2: snapshots name their mesh, `config` messages, endpoint-by-endpoint `changes`; certificates (`csr`, answered
 * with `certificate` or `certificate-error`, sent only to a proxy that asked). Proxies of another version are
 * refused.
 */
export const STREAM_PROTOCOL_VERSION = 2;
export const STREAM_PATH = '/api/v1/stream/proxy';
/** Largest message either side accepts; bigger frames close the connection with CLOSE_CODES.tooBig. */
export const STREAM_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** WebSocket close codes (4000–4999 are for applications). */
export const CLOSE_CODES = {
  protocolError: 4002,
  unauthorized: 4001,
  tooBig: 1009,
  shuttingDown: 1001,
  replaced: 4003,
  /** The endpoint address is held by another live proxy. */
  conflict: 4009,
} as const;
