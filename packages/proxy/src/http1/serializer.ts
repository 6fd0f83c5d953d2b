/**
 * Writes message heads with their framing into one Buffer, so that a head (and a small body, copied in after it)
 * leaves in one socket write. The framing is the caller's statement of how the body will be sent, and only it
 * decides the framing fields on the wire: the fields' own Content-Length and Transfer-Encoding are never copied,
 * so a message can never leave with two framings (the smuggling shape this proxy exists to stop), whatever
 * arrived. Hop-by-hop fields (and those the message's Connection field names) are connection-scoped and dropped
 * too; a field the caller set or appended itself is written as given (Connection/Upgrade for a WebSocket
 * handshake, Content-Length announced on a bodiless HEAD answer), except Content-Length and Transfer-Encoding
 * when the framing writes its own.
 *
 * Every string written is checked first: a CR or LF in a method, target, reason or added field would let whoever
 * chose it write a header or a whole response of their own (response splitting), so it throws InvalidFieldError
 * instead.
 */
import { FIELD_VALUE, TARGET, TOKEN } from './chars.ts';
import { type Fields, InvalidFieldError } from './fields.ts';
import { bit, F_CONTENT_LENGTH, F_HOST, F_TRANSFER_ENCODING, HOP_BY_HOP_MASK } from './lookup.ts';
import { REASON_PHRASES } from './status.ts';

export type Framing =
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'none' }
  | { kind: 'close' };

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

const FRAMING_MASK = bit(F_CONTENT_LENGTH) | bit(F_TRANSFER_ENCODING);
/** Raw fields never copied into a head. */
const RAW_HEAD_MASK = HOP_BY_HOP_MASK | FRAMING_MASK;
/** Fields never written in trailers, raw or added (RFC 9110 §6.5.1). */
const TRAILER_MASK = HOP_BY_HOP_MASK | FRAMING_MASK | bit(F_HOST);

const CRLF_LENGTH = 2;
const TRANSFER_ENCODING_CHUNKED = 'transfer-encoding: chunked\r\n';
const CONNECTION_CLOSE = 'connection: close\r\n';
const CONTENT_LENGTH = 'content-length: ';
const HTTP11 = ' HTTP/1.1\r\n';

export const CHUNK_END: Buffer = Buffer.from('\r\n', 'latin1');
export const LAST_CHUNK: Buffer = Buffer.from('0\r\n\r\n', 'latin1');

function checkToken(what: string, s: string): void {
  if (s.length === 0) throw new InvalidFieldError(`empty ${what}`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) throw new InvalidFieldError(what);
  }
}

function checkTarget(target: string): void {
  if (target.length === 0) throw new InvalidFieldError('empty request target');
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c > 0xff || TARGET[c] !== 1) throw new InvalidFieldError('request target');
  }
}

function checkReason(reason: string): void {
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) throw new InvalidFieldError('reason phrase');
  }
}

/** "content-length: N\r\n", "transfer-encoding: chunked\r\n" or nothing. */
function framingLine(framing: Framing): string {
  switch (framing.kind) {
    case 'length': {
      const n = framing.length;
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid content length ${n}`);
      return `${CONTENT_LENGTH}${n}\r\n`;
    }
    case 'chunked':
      return TRANSFER_ENCODING_CHUNKED;
    default:
      return '';
  }
}

/** Added fields a framing overrides: its own Content-Length or Transfer-Encoding takes their place. */
function addedMask(framing: Framing): number {
  return framing.kind === 'length' || framing.kind === 'chunked' ? FRAMING_MASK : 0;
}

/** A body this small leaves in the same buffer as its head (one write); a larger one is not copied. */
export const INLINE_BODY_BYTES = 16 * 1024;

/**
 * Writes start line, fields, framing lines and the final CRLF into one exactly sized buffer, followed by `body`
 * when one is given.
 */
function assemble(
  startLine: string,
  fields: Fields,
  extra: string,
  rawMask: number,
  added: number,
  body?: Buffer,
): Buffer {
  const headLength = startLine.length + fields.encodedLength(rawMask, added) + extra.length + CRLF_LENGTH;
  const out = Buffer.allocUnsafe(headLength + (body === undefined ? 0 : body.length)) as Latin1Buffer;
  const o = fields.writeTo(out, out.latin1Write(startLine, 0), rawMask, added, `${extra}\r\n`);
  if (body !== undefined) body.copy(out, o);
  return out;
}

/**
 * A request head as the proxy sends it upstream, always HTTP/1.1, with `body` after it when given (a small one, up to
 * INLINE_BODY_BYTES). `close` framing is not valid for a request.
 */
export function requestHead(
  method: string,
  target: string,
  fields: Fields,
  framing: Framing,
  body?: Buffer,
): Buffer {
  checkToken('method', method);
  checkTarget(target);
  if (framing.kind === 'close')
    throw new TypeError('a request body cannot be delimited by closing the connection');
  return assemble(
    `${method} ${target}${HTTP11}`,
    fields,
    framingLine(framing),
    RAW_HEAD_MASK,
    addedMask(framing),
    body,
  );
}

const STATUS_LINES = new Map<number, string>();

function statusLine(status: number, reason: string | undefined): string {
  if (!Number.isInteger(status) || status < 100 || status > 999)
    throw new RangeError(`invalid status ${status}`);
  if (reason === undefined) {
    let line = STATUS_LINES.get(status);
    if (line === undefined) {
      line = `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? ''}\r\n`;
      STATUS_LINES.set(status, line);
    }
    return line;
  }
  checkReason(reason);
  return `HTTP/1.1 ${status} ${reason}\r\n`;
}

/**
 * A response head as the proxy sends it to its client, always HTTP/1.1. `connection: close` is written when the
 * connection will not be kept, and always with `close` framing (the body ends with the connection). The reason
 * defaults to the standard phrase. `body`, when given, follows in the same buffer (a small one, up to
 * INLINE_BODY_BYTES).
 */
export function responseHead(
  status: number,
  reason: string | undefined,
  fields: Fields,
  framing: Framing,
  keepAlive: boolean,
  body?: Buffer,
): Buffer {
  const line = statusLine(status, reason);
  const close = !keepAlive || framing.kind === 'close';
  const extra = close ? framingLine(framing) + CONNECTION_CLOSE : framingLine(framing);
  return assemble(line, fields, extra, RAW_HEAD_MASK, addedMask(framing), body);
}

const SMALL_CHUNK_HEADERS = 1024;
const chunkHeaders: (Buffer | undefined)[] = [];
const powerHeaders = new Map<number, Buffer>();

/** "<hex length>\r\n"; the common sizes (small ones, powers of two) are cached and shared: do not modify. */
export function chunkHeader(length: number): Buffer {
  if (length <= SMALL_CHUNK_HEADERS) {
    let b = chunkHeaders[length];
    if (b === undefined) {
      b = Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
      chunkHeaders[length] = b;
    }
    return b;
  }
  if ((length & (length - 1)) === 0 && length <= 1 << 30) {
    let b = powerHeaders.get(length);
    if (b === undefined) {
      b = Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
      powerHeaders.set(length, b);
    }
    return b;
  }
  return Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
}

/** The last chunk with trailer fields; framing, routing and connection fields are left out, raw or added. */
export function lastChunkWithTrailers(trailers: Fields): Buffer {
  return assemble('0\r\n', trailers, '', TRAILER_MASK, TRAILER_MASK);
}
