/**
 * Header handling at the proxy's edges: hop-by-hop headers are connection-scoped (RFC 9110 §7.6.1) and never
 * forwarded; x-forwarded-* tell the upstream who called; x-request-id and W3C traceparent tie a call's hops
 * together (the trace id is kept, each hop gets a new span id).
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'http2-settings',
]);

export type HeaderMap = Record<string, string | string[]>;

const NONE: readonly string[] = [];

function connectionTokens(value: string | string[] | undefined): readonly string[] {
  if (value === undefined) return NONE;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** Copies headers without hop-by-hop ones (also those the Connection header names). */
export function endToEnd(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  keep?: ReadonlySet<string>,
): HeaderMap {
  const named = connectionTokens(headers.connection as string | string[] | undefined);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if ((HOP_BY_HOP.has(name) || named.includes(name)) && !keep?.has(name)) continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}

/** Random ids come from a pool filled 8 KiB at a time: one syscall-backed fill per few hundred requests. */
const POOL = Buffer.alloc(8192);
let poolOffset = POOL.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const hex = POOL.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Continues the caller's trace with a new span id, or starts a new sampled trace. */
export function nextTraceparent(incoming: string | string[] | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  const span = randomHex(8);
  if (m && m[1] !== 'ff' && !/^0+$/.test(m[2] ?? '') && !/^0+$/.test(m[3] ?? '')) {
    return `00-${m[2]}-${span}-${m[4]}`;
  }
  return `00-${randomHex(16)}-${span}-01`;
}

export interface ForwardingInfo {
  clientAddress: string | undefined;
  proto: 'http' | 'https';
  host: string | undefined;
}

/** Adds x-forwarded-for/-proto/-host, x-request-id and traceparent to headers already stripped of hop-by-hop. */
export function addForwarding(headers: HeaderMap, info: ForwardingInfo): void {
  if (info.clientAddress) {
    const prior = headers['x-forwarded-for'];
    const list = prior === undefined ? '' : Array.isArray(prior) ? prior.join(', ') : prior;
    headers['x-forwarded-for'] = list ? `${list}, ${info.clientAddress}` : info.clientAddress;
  }
  if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = info.proto;
  if (headers['x-forwarded-host'] === undefined && info.host) headers['x-forwarded-host'] = info.host;
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID();
  headers.traceparent = nextTraceparent(headers.traceparent);
}

export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Applies a rule's header changes (names are matched case-insensitively). */
export function applyHeaderOps(
  headers: HeaderMap,
  ops: { set: Record<string, string>; remove: string[] },
): void {
  for (const name of ops.remove) delete headers[name.toLowerCase()];
  for (const name in ops.set) headers[name.toLowerCase()] = ops.set[name] as string;
}
