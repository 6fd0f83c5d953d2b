/**
 * Header handling at the proxy's edges: x-forwarded-* tell the upstream who called; x-request-id and W3C
 * traceparent tie a call's hops together (the trace id is kept, each hop gets a new span id).
 */
import { randomFillSync } from 'node:crypto';
import { type Fields, headerName } from './http1/fields.ts';
import { latin1 } from './http1/lookup.ts';

/** Random ids come from a pool filled 8 KiB at a time: one syscall-backed fill per few hundred requests. */
const POOL = Buffer.alloc(8192);
let poolOffset = POOL.length;
/** Where an id's characters are put together, then read out as one string. */
const SCRATCH = Buffer.alloc(64);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

function take(bytes: number): number {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += bytes;
  return at;
}

/** Writes `bytes` random bytes as hex into SCRATCH at `o`; returns the offset after them. */
function hexAt(o: number, from: number, bytes: number): number {
  for (let i = 0; i < bytes; i++) {
    const b = POOL[from + i] as number;
    SCRATCH[o++] = HEX[b >> 4] as number;
    SCRATCH[o++] = HEX[b & 15] as number;
  }
  return o;
}

/** A random (version 4) UUID, as crypto.randomUUID makes, from the pool. */
export function requestId(): string {
  const from = take(16);
  POOL[from + 6] = ((POOL[from + 6] as number) & 0x0f) | 0x40;
  POOL[from + 8] = ((POOL[from + 8] as number) & 0x3f) | 0x80;
  let o = hexAt(0, from, 4);
  SCRATCH[o++] = 0x2d;
  o = hexAt(o, from + 4, 2);
  SCRATCH[o++] = 0x2d;
  o = hexAt(o, from + 6, 2);
  SCRATCH[o++] = 0x2d;
  o = hexAt(o, from + 8, 2);
  SCRATCH[o++] = 0x2d;
  o = hexAt(o, from + 10, 6);
  return latin1(SCRATCH, 0, o);
}

/** Lowercase hex digit for a character of a header value, or -1 (A-F count, as the value is read case-blind). */
function hexDigit(c: number): number {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) return c;
  return c >= 0x41 && c <= 0x46 ? c | 0x20 : -1;
}

/** What String.prototype.trim takes off a Latin-1 value's ends. */
function isTrimmed(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

const TRACEPARENT_LENGTH = 55;

/**
 * Where the caller's traceparent starts in `value` once trimmed, when it is one to continue: version, 32 hex trace
 * id, 16 hex parent id and 2 hex flags, dash-separated; not version ff, no all-zero id. Otherwise -1.
 */
function continuable(value: string): number {
  let s = 0;
  let e = value.length;
  while (s < e && isTrimmed(value.charCodeAt(s))) s++;
  while (e > s && isTrimmed(value.charCodeAt(e - 1))) e--;
  if (e - s !== TRACEPARENT_LENGTH) return -1;
  let traceZero = true;
  let parentZero = true;
  for (let i = 0; i < TRACEPARENT_LENGTH; i++) {
    const c = value.charCodeAt(s + i);
    if (i === 2 || i === 35 || i === 52) {
      if (c !== 0x2d) return -1;
      continue;
    }
    const h = hexDigit(c);
    if (h < 0) return -1;
    if (h !== 0x30) {
      if (i > 2 && i < 35) traceZero = false;
      else if (i > 35 && i < 52) parentZero = false;
    }
  }
  if (traceZero || parentZero) return -1;
  return hexDigit(value.charCodeAt(s)) === 0x66 && hexDigit(value.charCodeAt(s + 1)) === 0x66 ? -1 : s;
}

/**
 * Continues the caller's trace with a new span id, or starts a new sampled trace. Put together in SCRATCH and read
 * out as one string: no regular expression, no string per part.
 */
export function nextTraceparent(incoming: string | undefined): string {
  const s = incoming === undefined ? -1 : continuable(incoming);
  SCRATCH[0] = 0x30;
  SCRATCH[1] = 0x30;
  SCRATCH[2] = 0x2d;
  if (s >= 0) {
    const value = incoming as string;
    for (let i = 3; i < 35; i++) SCRATCH[i] = hexDigit(value.charCodeAt(s + i));
    SCRATCH[53] = hexDigit(value.charCodeAt(s + 53));
    SCRATCH[54] = hexDigit(value.charCodeAt(s + 54));
  } else {
    hexAt(3, take(16), 16);
    SCRATCH[53] = 0x30;
    SCRATCH[54] = 0x31;
  }
  SCRATCH[35] = 0x2d;
  hexAt(36, take(8), 8);
  SCRATCH[52] = 0x2d;
  return latin1(SCRATCH, 0, TRACEPARENT_LENGTH);
}

export interface ForwardingInfo {
  clientAddress: string | undefined;
  proto: 'http' | 'https';
  host: string | undefined;
}

const X_FORWARDED_FOR = headerName('x-forwarded-for');
const X_FORWARDED_PROTO = headerName('x-forwarded-proto');
const X_FORWARDED_HOST = headerName('x-forwarded-host');
const X_REQUEST_ID = headerName('x-request-id');
const TRACEPARENT = headerName('traceparent');

/**
 * Adds x-forwarded-for/-proto/-host, x-request-id and traceparent. Hop-by-hop fields need no removing here: the
 * serializer never writes them (nor those the Connection field names).
 */
export function addForwarding(headers: Fields, info: ForwardingInfo): void {
  // Every value below is one the parser accepted or one made here (the socket's address, hex ids).
  if (info.clientAddress) {
    const prior = headers.getNamed(X_FORWARDED_FOR);
    headers.setOwn(X_FORWARDED_FOR, prior ? `${prior}, ${info.clientAddress}` : info.clientAddress);
  }
  if (!headers.hasNamed(X_FORWARDED_PROTO)) headers.appendOwn(X_FORWARDED_PROTO, info.proto);
  if (info.host && !headers.hasNamed(X_FORWARDED_HOST)) headers.appendOwn(X_FORWARDED_HOST, info.host);
  if (!headers.hasNamed(X_REQUEST_ID)) headers.appendOwn(X_REQUEST_ID, requestId());
  headers.setOwn(TRACEPARENT, nextTraceparent(headers.getNamed(TRACEPARENT)));
}

/** Applies a rule's header changes (names are matched case-insensitively). */
export function applyHeaderOps(
  headers: Fields,
  ops: { set: Record<string, string>; remove: string[] },
): void {
  for (const name of ops.remove) headers.delete(name.toLowerCase());
  for (const name in ops.set) headers.set(name.toLowerCase(), ops.set[name] as string);
}
