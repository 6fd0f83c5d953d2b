/**
 * Header handling at the proxy's edges: x-forwarded-* tell the upstream who called; x-request-id and W3C
 * traceparent tie a call's hops together (the trace id is kept, each hop gets a new span id).
 */
import { randomFillSync } from 'node:crypto';
import type { Fields } from './http1/fields.ts';
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

function randomHex(bytes: number): string {
  return latin1(SCRATCH, 0, hexAt(0, take(bytes), bytes));
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

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Continues the caller's trace with a new span id, or starts a new sampled trace. */
export function nextTraceparent(incoming: string | undefined): string {
  const value = incoming;
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

/**
 * Adds x-forwarded-for/-proto/-host, x-request-id and traceparent. Hop-by-hop fields need no removing here: the
 * serializer never writes them (nor those the Connection field names).
 */
export function addForwarding(headers: Fields, info: ForwardingInfo): void {
  // Every value below is one the parser accepted or one made here (the socket's address, hex ids).
  if (info.clientAddress) {
    const prior = headers.get('x-forwarded-for');
    headers.setOwn('x-forwarded-for', prior ? `${prior}, ${info.clientAddress}` : info.clientAddress);
  }
  if (!headers.has('x-forwarded-proto')) headers.appendOwn('x-forwarded-proto', info.proto);
  if (info.host && !headers.has('x-forwarded-host')) headers.appendOwn('x-forwarded-host', info.host);
  if (!headers.has('x-request-id')) headers.appendOwn('x-request-id', requestId());
  headers.setOwn('traceparent', nextTraceparent(headers.get('traceparent')));
}

/** Applies a rule's header changes (names are matched case-insensitively). */
export function applyHeaderOps(
  headers: Fields,
  ops: { set: Record<string, string>; remove: string[] },
): void {
  for (const name of ops.remove) headers.delete(name.toLowerCase());
  for (const name in ops.set) headers.set(name.toLowerCase(), ops.set[name] as string);
}
