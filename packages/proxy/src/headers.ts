/**
 * Header handling at the proxy's edges: x-forwarded-* tell the upstream who called; x-request-id ties a call's hops
 * together. A W3C traceparent passes through unchanged: the proxy reports no spans, and a span id it wrote without
 * reporting the span would leave the caller's trace with a parent no one knows (and one it started would be
 * sampled by no one's decision).
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

export interface ForwardingInfo {
  clientAddress: string | undefined;
  proto: 'http' | 'https';
  host: string | undefined;
}

const X_FORWARDED_FOR = headerName('x-forwarded-for');
const X_FORWARDED_PROTO = headerName('x-forwarded-proto');
const X_FORWARDED_HOST = headerName('x-forwarded-host');
const X_REQUEST_ID = headerName('x-request-id');

/**
 * Adds x-forwarded-for/-proto/-host and x-request-id. Hop-by-hop fields need no removing here: the
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
}

/** Applies a rule's header changes (names are matched case-insensitively). */
export function applyHeaderOps(
  headers: Fields,
  ops: { set: Record<string, string>; remove: string[] },
): void {
  for (const name of ops.remove) headers.delete(name.toLowerCase());
  for (const name in ops.set) headers.set(name.toLowerCase(), ops.set[name] as string);
}
