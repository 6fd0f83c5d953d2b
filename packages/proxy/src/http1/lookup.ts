/**
 * Header names the proxy acts on, recognised once, as the parser reads each field name, and kept as a small
 * number beside the field's offsets. Framing, hop-by-hop removal and the proxy's own look-ups (Host, trace
 * context, request ids, x-trellis-*) then compare numbers instead of strings; no header name is lowercased or
 * copied. Names outside this list are found with `findField`, a case-insensitive ASCII compare over the bytes
 * as they arrived.
 */

/** Known field names. Values are bit positions, so that a set of them (hop-by-hop headers to drop) is a mask. */
export const F_OTHER = 0;
export const F_HOST = 1;
export const F_CONTENT_LENGTH = 2;
export const F_TRANSFER_ENCODING = 3;
export const F_CONNECTION = 4;
export const F_UPGRADE = 5;
export const F_TE = 6;
export const F_EXPECT = 7;
export const F_TRACEPARENT = 8;
export const F_X_REQUEST_ID = 9;
export const F_KEEP_ALIVE = 10;
export const F_PROXY_CONNECTION = 11;
export const F_TRAILER = 12;
export const F_PROXY_AUTHENTICATE = 13;
export const F_PROXY_AUTHORIZATION = 14;
export const F_HTTP2_SETTINGS = 15;
export const F_TRACESTATE = 16;
/** Any name that starts with `x-trellis-`. */
export const F_X_TRELLIS = 17;
/** Every request's forwarding fields, looked up (and set) on every request. */
export const F_X_FORWARDED_FOR = 18;
export const F_X_FORWARDED_PROTO = 19;
export const F_X_FORWARDED_HOST = 20;

export const bit = (id: number): number => 1 << id;

/**
 * RFC 9110 §7.6.1 hop-by-hop fields plus those the proxy treats the same way (as `headers.ts` does): never
 * forwarded. Content-Length and Transfer-Encoding are not here because the serializer always writes its own
 * framing.
 */
export const HOP_BY_HOP_MASK =
  bit(F_CONNECTION) |
  bit(F_KEEP_ALIVE) |
  bit(F_PROXY_CONNECTION) |
  bit(F_PROXY_AUTHENTICATE) |
  bit(F_PROXY_AUTHORIZATION) |
  bit(F_TE) |
  bit(F_TRAILER) |
  bit(F_UPGRADE) |
  bit(F_EXPECT) |
  bit(F_HTTP2_SETTINGS);

/**
 * Names a Connection field can take off a message (RFC 9110 §7.6.1): any but the known ones the proxy frames and
 * routes by, so that "Connection: host" cannot make it drop the Host. The forwarding fields are known only to be
 * found fast, and stay removable as any other name.
 */
export const CONNECTION_REMOVABLE_MASK =
  bit(F_OTHER) |
  bit(F_X_TRELLIS) |
  bit(F_X_FORWARDED_FOR) |
  bit(F_X_FORWARDED_PROTO) |
  bit(F_X_FORWARDED_HOST);

/** ASCII lowercase table: A-Z to a-z, every other byte to itself. */
export const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

const N_TE = ascii('te');
const N_HOST = ascii('host');
const N_EXPECT = ascii('expect');
const N_UPGRADE = ascii('upgrade');
const N_TRAILER = ascii('trailer');
const N_CONNECTION = ascii('connection');
const N_KEEP_ALIVE = ascii('keep-alive');
const N_TRACESTATE = ascii('tracestate');
const N_TRACEPARENT = ascii('traceparent');
const N_X_REQUEST_ID = ascii('x-request-id');
const N_CONTENT_LENGTH = ascii('content-length');
const N_HTTP2_SETTINGS = ascii('http2-settings');
const N_PROXY_CONNECTION = ascii('proxy-connection');
const N_TRANSFER_ENCODING = ascii('transfer-encoding');
const N_PROXY_AUTHENTICATE = ascii('proxy-authenticate');
const N_PROXY_AUTHORIZATION = ascii('proxy-authorization');
const N_X_TRELLIS = ascii('x-trellis-');
const N_X_FORWARDED_FOR = ascii('x-forwarded-for');
const N_X_FORWARDED_PROTO = ascii('x-forwarded-proto');
const N_X_FORWARDED_HOST = ascii('x-forwarded-host');

/** Whether buf[start, start + lower.length) equals `lower` (already lowercase) ignoring ASCII case. */
export function equalsLower(buf: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let j = 0; j < lower.length; j++) {
    if (LOWER[buf[start + j] as number] !== lower[j]) return false;
  }
  return true;
}

/** The known-name id of buf[start, end); the length decides which one or two names to compare. */
export function classifyName(buf: Uint8Array, start: number, end: number): number {
  switch (end - start) {
    case 2:
      return equalsLower(buf, start, N_TE) ? F_TE : F_OTHER;
    case 4:
      return equalsLower(buf, start, N_HOST) ? F_HOST : F_OTHER;
    case 6:
      return equalsLower(buf, start, N_EXPECT) ? F_EXPECT : F_OTHER;
    case 7:
      if (equalsLower(buf, start, N_UPGRADE)) return F_UPGRADE;
      return equalsLower(buf, start, N_TRAILER) ? F_TRAILER : F_OTHER;
    case 10:
      if (equalsLower(buf, start, N_CONNECTION)) return F_CONNECTION;
      if (equalsLower(buf, start, N_KEEP_ALIVE)) return F_KEEP_ALIVE;
      return equalsLower(buf, start, N_TRACESTATE) ? F_TRACESTATE : F_OTHER;
    case 11:
      if (equalsLower(buf, start, N_TRACEPARENT)) return F_TRACEPARENT;
      break;
    case 12:
      if (equalsLower(buf, start, N_X_REQUEST_ID)) return F_X_REQUEST_ID;
      break;
    case 14:
      if (equalsLower(buf, start, N_CONTENT_LENGTH)) return F_CONTENT_LENGTH;
      if (equalsLower(buf, start, N_HTTP2_SETTINGS)) return F_HTTP2_SETTINGS;
      break;
    case 15:
      if (equalsLower(buf, start, N_X_FORWARDED_FOR)) return F_X_FORWARDED_FOR;
      break;
    case 16:
      if (equalsLower(buf, start, N_PROXY_CONNECTION)) return F_PROXY_CONNECTION;
      if (equalsLower(buf, start, N_X_FORWARDED_HOST)) return F_X_FORWARDED_HOST;
      break;
    case 17:
      if (equalsLower(buf, start, N_TRANSFER_ENCODING)) return F_TRANSFER_ENCODING;
      if (equalsLower(buf, start, N_X_FORWARDED_PROTO)) return F_X_FORWARDED_PROTO;
      break;
    case 18:
      if (equalsLower(buf, start, N_PROXY_AUTHENTICATE)) return F_PROXY_AUTHENTICATE;
      break;
    case 19:
      if (equalsLower(buf, start, N_PROXY_AUTHORIZATION)) return F_PROXY_AUTHORIZATION;
      break;
  }
  return end - start > N_X_TRELLIS.length && equalsLower(buf, start, N_X_TRELLIS) ? F_X_TRELLIS : F_OTHER;
}

/**
 * What the look-ups need of a parsed head: the buffer the fields' bytes live in and, per field, five numbers
 * (name start, name end, value start, value end, known-name id).
 */
export interface FieldList {
  readonly buf: Buffer;
  readonly count: number;
  readonly fields: Uint32Array;
}

export const FIELD_STRIDE = 5;

/** Index of the first field at or after `from` with the known-name id, or -1. */
export function findKnown(list: FieldList, id: number, from = 0): number {
  const f = list.fields;
  for (let i = from; i < list.count; i++) if (f[i * FIELD_STRIDE + 4] === id) return i;
  return -1;
}

/**
 * Index of the first field at or after `from` named `lowerName` (ASCII, lowercase), or -1. For names the
 * parser does not recognise; the known ones are cheaper through `findKnown`.
 */
export function findField(list: FieldList, lowerName: string, from = 0): number {
  const f = list.fields;
  const buf = list.buf;
  const len = lowerName.length;
  outer: for (let i = from; i < list.count; i++) {
    const s = f[i * FIELD_STRIDE] as number;
    if ((f[i * FIELD_STRIDE + 1] as number) - s !== len) continue;
    for (let j = 0; j < len; j++) {
      if (LOWER[buf[s + j] as number] !== lowerName.charCodeAt(j)) continue outer;
    }
    return i;
  }
  return -1;
}

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** buf[start, end) as a string, one char per byte (how Node's parser gives header values). */
export function latin1(buf: Buffer, start: number, end: number): string {
  return start === end ? '' : (buf as Latin1Buffer).latin1Slice(start, end);
}

export function fieldName(list: FieldList, i: number): string {
  const at = i * FIELD_STRIDE;
  return latin1(list.buf, list.fields[at] as number, list.fields[at + 1] as number);
}

export function fieldValue(list: FieldList, i: number): string {
  const at = i * FIELD_STRIDE;
  return latin1(list.buf, list.fields[at + 2] as number, list.fields[at + 3] as number);
}

/** The value of the first field with the known-name id, or undefined. */
export function knownValue(list: FieldList, id: number): string | undefined {
  const i = findKnown(list, id);
  return i < 0 ? undefined : fieldValue(list, i);
}

/** The value of the first field named `lowerName`, or undefined. */
export function fieldValueOf(list: FieldList, lowerName: string): string | undefined {
  const i = findField(list, lowerName);
  return i < 0 ? undefined : fieldValue(list, i);
}

/**
 * Whether the comma-separated list in buf[start, end) holds `lowerToken` as one of its elements (ASCII case
 * ignored, optional whitespace around elements): Connection's `close`, `upgrade`, `keep-alive`.
 */
export function listHasToken(buf: Uint8Array, start: number, end: number, lowerToken: Uint8Array): boolean {
  let i = start;
  while (i < end) {
    while (i < end && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x2c)) i++;
    const s = i;
    while (i < end && buf[i] !== 0x2c) i++;
    let e = i;
    while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
    if (e - s === lowerToken.length && equalsLower(buf, s, lowerToken)) return true;
  }
  return false;
}

/** The flat [name, value, name, value, …] list Node calls rawHeaders; for tests and slow paths only. */
export function rawFields(list: FieldList): string[] {
  const out: string[] = new Array(list.count * 2);
  for (let i = 0; i < list.count; i++) {
    out[2 * i] = fieldName(list, i);
    out[2 * i + 1] = fieldValue(list, i);
  }
  return out;
}

/** Lowercase name of each known id (F_X_TRELLIS names a family, so its entry is only the prefix). */
export const KNOWN_NAMES: readonly string[] = [
  '',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'upgrade',
  'te',
  'expect',
  'traceparent',
  'x-request-id',
  'keep-alive',
  'proxy-connection',
  'trailer',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
  'tracestate',
  'x-trellis-',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
];

const KNOWN_BY_NAME = new Map<string, number>(KNOWN_NAMES.map((name, id) => [name, id]));
KNOWN_BY_NAME.delete('');
KNOWN_BY_NAME.delete('x-trellis-');

/** The known-name id of a lowercase name given as a string (fields set by the proxy, look-ups by name). */
export function knownId(lowerName: string): number {
  const id = KNOWN_BY_NAME.get(lowerName);
  if (id !== undefined) return id;
  return lowerName.length > 10 && lowerName.startsWith('x-trellis-') ? F_X_TRELLIS : F_OTHER;
}
