/**
 * Incremental HTTP/1.1 request and response parsers over Buffers (RFC 9112), strict where a lenient reading
 * lets two parsers disagree about where a message ends (request smuggling, response splitting): a proxy that
 * reads a message one way and forwards it to a server that reads it another is the attack, so every ambiguity
 * is refused rather than resolved. llhttp's strict mode and Envoy are the references; where this parser is
 * stricter than llhttp, `test/http1/support/divergences.ts` lists the case and its RFC reason.
 *
 * Why it looks the way it does:
 * - A head is parsed in one pass over one contiguous Buffer, fields kept as offsets (`FieldList`), no string per
 *   field. When a head arrives whole in one chunk (nearly always) that chunk is the head's `buf`, no copy. When
 *   it spans chunks, its bytes are gathered in a scratch buffer while a cheap scan looks only at the new bytes
 *   for the end of the head (so a client sending a byte at a time costs linear time, not quadratic), and the
 *   one-pass parse runs once the end is there. The scratch buffer is then handed over as the head's `buf` and a
 *   new one is made for the next spanning head, so a head stays valid as long as its holder keeps it.
 * - Bodies are handed on as subarrays of the input, chunked framing removed, never copied.
 * - The `MessageHead` object and its offsets array are reused for every message of a parser: `onHead` callers
 *   copy what they keep past the next message (`Fields.from` copies the offsets and keeps `buf`).
 * - `pause()` stops at once, also from inside an event, and keeps the unparsed rest; a parser pauses itself
 *   after an upgrade or CONNECT request (and after a 101 or a 2xx to CONNECT) so the connection can decide
 *   whether the rest is HTTP or a tunnel's bytes.
 * - Limits are checked as bytes arrive, not once a head is complete, so an endless head or start line is cut
 *   off at the limit.
 */
import {
  AUTHORITY,
  BACKSLASH,
  COLON,
  COMMA,
  CR,
  DQUOTE,
  EQUALS,
  FIELD_VALUE,
  HEX,
  HTAB,
  LF,
  QDTEXT,
  QUOTED_PAIR,
  SEMI,
  SP,
  TARGET,
  TOKEN,
} from './chars.ts';
import { type Http1Error, type Http1ErrorCode, REQUEST_ERRORS, RESPONSE_ERRORS } from './errors.ts';
import {
  bit,
  classifyName,
  equalsLower,
  F_CONNECTION,
  F_CONTENT_LENGTH,
  F_EXPECT,
  F_HOST,
  F_TRANSFER_ENCODING,
  F_UPGRADE,
  FIELD_STRIDE,
  type FieldList,
  HOP_BY_HOP_MASK,
  latin1,
  listHasToken,
} from './lookup.ts';

export interface ParserLimits {
  /** The whole head, start line and final empty line included; beyond it HEAD_TOO_LARGE (431). Also bounds trailers. */
  maxHeadBytes: number;
  /** Field lines in a head (and in trailers); beyond it TOO_MANY_HEADERS (431). */
  maxHeaders: number;
  /** The request line without its CRLF; beyond it URI_TOO_LONG (414). Not applied to status lines. */
  maxStartLineBytes: number;
  /**
   * Chunk extension bytes per message (names and values, as Node counts them); default 16 KiB. Node resets its
   * count at each chunk; a bound per message is stricter and costs legitimate senders nothing.
   */
  maxChunkExtensionBytes?: number;
}

export interface MessageHead extends FieldList {
  /** Requests: the method; the known ones are interned constants, so `===` compares them. */
  method: string;
  /** Requests: the request-target as it arrived. */
  target: string;
  /** Responses: the status code. */
  status: number;
  /** Responses: the reason phrase ('' when absent). */
  reason: string;
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  versionMinor: number;
  /** The Content-Length, -1 when absent (also when the message is chunked). */
  contentLength: number;
  chunked: boolean;
  /** Whether the connection stays open after this message (version, Connection, read-until-close bodies). */
  keepAlive: boolean;
  /** Requests: Connection lists `upgrade` and an Upgrade field is present. Responses: status 101. */
  upgrade: boolean;
  /** Requests: `Expect: 100-continue`. */
  expectContinue: boolean;
  /** bit(F_x) for every known field present. */
  present: number;
  /** The size of the head on the wire, start line to the final CRLF. */
  headBytes: number;
}

export interface ParserEvents {
  /** The head, valid until the next message's head is parsed (the object and its offsets are reused). */
  onHead(head: MessageHead): void;
  /** A piece of the body: a subarray of the input (no copy), chunked framing removed. */
  onBody(chunk: Buffer): void;
  /** Chunked trailers when there are any; without this handler they are still parsed and checked, then dropped. */
  onTrailers?(fields: FieldList): void;
  onComplete(): void;
  /** The parser is dead after this: execute() does nothing more until reset(). */
  onError(error: Http1Error): void;
}

const EMPTY = Buffer.alloc(0);
const NEED_MORE = -1;
const FAILED = -2;
const DEFAULT_MAX_CHUNK_EXTENSION_BYTES = 16 * 1024;
/** Offsets arrays start this small (a parser per connection) and double up to maxHeaders when a head needs it. */
const INITIAL_FIELDS = 16;
/** Sixteen hex digits hold any 64-bit size; more can only be padding, an endless chunk-size line. */
const MAX_CHUNK_SIZE_DIGITS = 16;

const S_START = 0;
const S_START_CR = 1;
const S_HEAD = 2;
const S_HEAD_SLOW = 3;
const S_BODY_LENGTH = 4;
const S_BODY_EOF = 5;
const S_CHUNK_SIZE = 6;
const S_CHUNK_EXT = 7;
const S_CHUNK_SIZE_LF = 8;
const S_CHUNK_DATA = 9;
const S_CHUNK_DATA_CR = 10;
const S_CHUNK_DATA_LF = 11;
const S_TRAILERS = 12;
const S_TRAILERS_SLOW = 13;
const S_DONE = 14;
const S_CLOSED = 15;
const S_UPGRADED = 16;
const S_DEAD = 17;

/** Where in a chunk extension the parser is (RFC 9112 §7.1.1: `;name[=token|quoted-string]`, no whitespace). */
const X_NAME_START = 0;
const X_NAME = 1;
const X_VALUE_START = 2;
const X_VALUE = 3;
const X_QUOTED = 4;
const X_QUOTED_PAIR = 5;
const X_QUOTED_DONE = 6;

const K_REQUEST = 0;
const K_RESPONSE = 1;
const K_TRAILERS = 2;

/**
 * Fields that must never come from trailers (RFC 9110 §6.5.1): framing, routing and connection control. A proxy
 * that merged them into the head, or a server that did, would be told a length or a host after the fact.
 */
const FORBIDDEN_TRAILERS = HOP_BY_HOP_MASK | bit(F_CONTENT_LENGTH) | bit(F_TRANSFER_ENCODING) | bit(F_HOST);

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const T_CLOSE = ascii('close');
const T_KEEP_ALIVE = ascii('keep-alive');
const T_UPGRADE = ascii('upgrade');
const T_CHUNKED = ascii('chunked');
const T_100_CONTINUE = ascii('100-continue');
const HTTP_SLASH = ascii('HTTP/');

/**
 * The methods node:http (llhttp) accepts with HTTP/1.x, the set the proxy accepted before it had its own codec.
 * Others are refused 501 (RFC 9110 §9.1), so a method an upstream would read differently never reaches it.
 */
const KNOWN_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'ACL',
  'BIND',
  'CHECKOUT',
  'COPY',
  'LINK',
  'LOCK',
  'M-SEARCH',
  'MERGE',
  'MKACTIVITY',
  'MKCALENDAR',
  'MKCOL',
  'MOVE',
  'NOTIFY',
  'PROPFIND',
  'PROPPATCH',
  'PURGE',
  'QUERY',
  'REBIND',
  'REPORT',
  'SEARCH',
  'SOURCE',
  'SUBSCRIBE',
  'UNBIND',
  'UNLINK',
  'UNLOCK',
  'UNSUBSCRIBE',
] as const;
const METHODS_BY_LENGTH: string[][] = [];
for (const m of KNOWN_METHODS) {
  const bucket = METHODS_BY_LENGTH[m.length] ?? [];
  bucket.push(m);
  METHODS_BY_LENGTH[m.length] = bucket;
}

/** The interned method string for buf[s, e), or undefined for a method outside the list. */
function internMethod(buf: Buffer, s: number, e: number): string | undefined {
  const bucket = METHODS_BY_LENGTH[e - s];
  if (bucket === undefined) return undefined;
  outer: for (const m of bucket) {
    for (let i = 0; i < m.length; i++) if (buf[s + i] !== m.charCodeAt(i)) continue outer;
    return m;
  }
  return undefined;
}

/** Content-Length digits as a number; -1 invalid, -2 a list of lengths ("1,1", RFC 9110 §8.6 lets none through). */
function parseLength(buf: Buffer, s: number, e: number): number {
  if (s === e) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = (buf[i] as number) - 0x30;
    if (d < 0 || d > 9) return buf[i] === COMMA ? -2 : -1;
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

/** authority-form (RFC 9112 §3.2.3): uri-host ":" port, the host a reg-name or a bracketed IP literal. */
function isAuthorityForm(buf: Buffer, s: number, e: number): boolean {
  let colon = -1;
  for (let i = e - 1; i >= s; i--) {
    if (buf[i] === COLON) {
      colon = i;
      break;
    }
  }
  if (colon <= s || colon === e - 1) return false;
  for (let i = colon + 1; i < e; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) return false;
  }
  if (buf[s] === 0x5b) {
    if (buf[colon - 1] !== 0x5d || colon - s < 3) return false;
    for (let i = s + 1; i < colon - 1; i++) {
      const c = buf[i] as number;
      if (AUTHORITY[c] !== 1 || c === 0x5b || c === 0x5d) return false;
    }
    return true;
  }
  for (let i = s; i < colon; i++) {
    const c = buf[i] as number;
    if (AUTHORITY[c] !== 1 || c === COLON || c === 0x5b || c === 0x5d) return false;
  }
  return true;
}

/**
 * absolute-form (RFC 9112 §3.2.2) for http and https only: the scheme, "://", a non-empty authority without user
 * info, then path, query or nothing. The rest of the URI is checked by the caller (http-path.ts).
 */
function isAbsoluteForm(buf: Buffer, s: number, e: number): boolean {
  let p = s;
  if (e - p < 8) return false;
  if (((buf[p] as number) | 0x20) !== 0x68 || ((buf[p + 1] as number) | 0x20) !== 0x74) return false;
  if (((buf[p + 2] as number) | 0x20) !== 0x74 || ((buf[p + 3] as number) | 0x20) !== 0x70) return false;
  p += 4;
  if (((buf[p] as number) | 0x20) === 0x73) p++;
  if (buf[p] !== COLON || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x2f) return false;
  p += 3;
  const hostStart = p;
  while (p < e && AUTHORITY[buf[p] as number] === 1) p++;
  if (p === hostStart) return false;
  return p === e || buf[p] === 0x2f || buf[p] === 0x3f;
}

/** The head handed to onHead; one per parser, reused. */
class Head implements MessageHead {
  buf: Buffer = EMPTY;
  count = 0;
  fields: Uint32Array;
  method = '';
  target = '';
  status = 0;
  reason = '';
  versionMinor = 1;
  contentLength = -1;
  chunked = false;
  keepAlive = true;
  upgrade = false;
  expectContinue = false;
  present = 0;
  headBytes = 0;

  constructor(maxFields: number) {
    this.fields = new Uint32Array(Math.min(maxFields, INITIAL_FIELDS) * FIELD_STRIDE);
  }
}

class TrailerList implements FieldList {
  buf: Buffer = EMPTY;
  count = 0;
  fields: Uint32Array;

  constructor(maxFields: number) {
    this.fields = new Uint32Array(Math.min(maxFields, INITIAL_FIELDS) * FIELD_STRIDE);
  }
}

abstract class Http1Parser {
  protected readonly events: ParserEvents;
  protected readonly errors: Readonly<Record<Http1ErrorCode, Http1Error>>;
  protected readonly head: Head;
  protected readonly maxHeadBytes: number;
  protected readonly maxHeaders: number;
  protected readonly maxStartLineBytes: number;
  private readonly maxExtensionBytes: number;
  private readonly headKind: number;

  protected state = S_START;
  private isPaused = false;
  private rest: Buffer = EMPTY;
  private restBase = 0;
  private runBase = 0;
  private fed = 0;
  private at = 0;
  private running = false;
  private eofPending = false;
  private generation = 0;

  /** A head or trailer section gathered across chunks, and the scan of it so far (offsets relative to its start). */
  private scratch: Buffer | null = null;
  private scratchLen = 0;
  private scanPos = 0;
  private lineStart = 0;
  private lines = 0;
  /** Where the last scan found the end of the section being gathered (relative to its start). */
  private scanEnd = 0;

  private remaining = 0;
  private chunkDigits = 0;
  private extState = 0;
  private extBytes = 0;
  private trailers: TrailerList | null = null;
  private fieldCount = 0;

  /** What follows the current message: S_START, S_CLOSED or S_UPGRADED; and whether to pause after it. */
  protected next = S_START;
  protected pauseAfter = false;

  constructor(limits: ParserLimits, events: ParserEvents, errors: typeof REQUEST_ERRORS, headKind: number) {
    this.events = events;
    this.errors = errors;
    this.maxHeadBytes = limits.maxHeadBytes;
    this.maxHeaders = limits.maxHeaders;
    this.maxStartLineBytes = limits.maxStartLineBytes;
    this.maxExtensionBytes = limits.maxChunkExtensionBytes ?? DEFAULT_MAX_CHUNK_EXTENSION_BYTES;
    this.headKind = headKind;
    this.head = new Head(limits.maxHeaders);
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /**
   * Bytes of the stream dealt with since construction or reset(); read inside an event, the offset just past
   * what that event reports (the head's last byte in onHead, the message's last byte in onComplete).
   */
  get offset(): number {
    return this.runBase + this.at;
  }

  execute(chunk: Buffer): void {
    if (this.state === S_DEAD) return;
    if (this.isPaused) {
      this.rest = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
      this.fed += chunk.length;
      return;
    }
    this.runBase = this.fed;
    this.fed += chunk.length;
    this.run(chunk, 0);
  }

  pause(): void {
    if (this.state === S_DEAD || this.isPaused) return;
    this.isPaused = true;
    if (!this.running) this.restBase = this.fed;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    if (this.state === S_DEAD) return;
    const rest = this.rest;
    this.rest = EMPTY;
    this.runBase = this.restBase;
    this.run(rest, 0);
    if (this.eofPending && !this.isPaused) {
      this.eofPending = false;
      this.finish();
    }
  }

  takeRest(): Buffer {
    const rest = this.rest;
    this.restBase += rest.length;
    this.rest = EMPTY;
    return rest;
  }

  reset(): void {
    this.generation++;
    this.state = S_START;
    this.isPaused = false;
    this.rest = EMPTY;
    this.restBase = 0;
    this.runBase = 0;
    this.fed = 0;
    this.at = 0;
    this.running = false;
    this.eofPending = false;
    this.scratch = null;
    this.scratchLen = 0;
    this.next = S_START;
    this.pauseAfter = false;
  }

  /** EOF from the peer. */
  finish(): void {
    if (this.state === S_DEAD) return;
    if (this.isPaused) {
      this.eofPending = true;
      return;
    }
    switch (this.state) {
      case S_START:
      case S_START_CR:
      case S_CLOSED:
      case S_UPGRADED:
        return;
      case S_BODY_EOF:
        this.state = S_DONE;
        this.runBase = this.fed;
        this.run(EMPTY, 0);
        return;
      default:
        this.fail('INCOMPLETE_MESSAGE');
    }
  }

  /** Parses a head from buf[start, limit): the end of the head, NEED_MORE, or FAILED (after onError). */
  protected abstract parseHead(buf: Buffer, start: number, limit: number): number;
  /** Checks a parsed head and sets the body state, `next` and `pauseAfter`; false after onError. */
  protected abstract analyze(buf: Buffer): boolean;
  /** A message is starting at the current byte; false after onError (a response nobody asked for). */
  protected beginMessage(): boolean {
    return true;
  }
  /** The message just completed (before onComplete). */
  protected messageDone(): void {}

  protected fail(code: Http1ErrorCode): number {
    this.state = S_DEAD;
    this.isPaused = false;
    this.rest = EMPTY;
    this.scratch = null;
    this.events.onError(this.errors[code]);
    return FAILED;
  }

  private keep(buf: Buffer, pos: number): void {
    this.rest = pos < buf.length ? buf.subarray(pos) : EMPTY;
    this.restBase = this.runBase + pos;
    this.at = pos;
  }

  private run(buf: Buffer, start: number): void {
    const generation = this.generation;
    this.running = true;
    try {
      this.loop(buf, start, generation);
    } finally {
      if (this.generation === generation) this.running = false;
    }
  }

  private loop(buf: Buffer, start: number, generation: number): void {
    const len = buf.length;
    let pos = start;
    for (;;) {
      if (this.generation !== generation) return;
      if (this.isPaused) {
        this.keep(buf, pos);
        return;
      }
      switch (this.state) {
        case S_START: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const c = buf[pos];
          if (c === CR) {
            this.state = S_START_CR;
            pos++;
            continue;
          }
          if (c === LF) {
            this.fail('BARE_LF');
            return;
          }
          if (!this.beginMessage()) return;
          this.state = S_HEAD;
          continue;
        }
        case S_START_CR:
          if (pos >= len) {
            this.at = pos;
            return;
          }
          if (buf[pos] !== LF) {
            this.fail('BARE_CR');
            return;
          }
          pos++;
          this.state = S_START;
          continue;
        case S_HEAD: {
          const end = this.parseHead(buf, pos, len);
          if (end === FAILED) return;
          if (end === NEED_MORE) {
            if (!this.gather(buf, pos, len, this.headKind)) return;
            this.state = S_HEAD_SLOW;
            this.at = len;
            return;
          }
          if (!this.emitHead(buf, pos, end)) return;
          pos = end;
          continue;
        }
        case S_HEAD_SLOW: {
          if (pos >= len) return;
          const took = this.feed(buf, pos, len, this.headKind);
          if (took < 0) {
            if (took === NEED_MORE) this.at = len;
            return;
          }
          const scratch = this.scratch as Buffer;
          const headEnd = this.scanEnd;
          this.scratch = null;
          const parsed = this.parseHead(scratch, 0, headEnd);
          if (parsed !== headEnd) {
            if (parsed !== FAILED) this.fail('INVALID_START_LINE');
            return;
          }
          pos += took;
          if (!this.emitHead(scratch, 0, headEnd, pos)) return;
          continue;
        }
        case S_BODY_LENGTH: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const n = Math.min(len - pos, this.remaining);
          const piece = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_DONE;
          this.at = pos;
          this.events.onBody(piece);
          continue;
        }
        case S_BODY_EOF: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const piece = pos === 0 ? buf : buf.subarray(pos);
          pos = len;
          this.at = pos;
          this.events.onBody(piece);
          continue;
        }
        case S_CHUNK_SIZE: {
          for (;;) {
            if (pos >= len) {
              this.at = pos;
              return;
            }
            const c = buf[pos] as number;
            const h = HEX[c] as number;
            if (h >= 0) {
              if (++this.chunkDigits > MAX_CHUNK_SIZE_DIGITS) {
                this.fail('CHUNK_SIZE_TOO_LARGE');
                return;
              }
              this.remaining = this.remaining * 16 + h;
              if (this.remaining > Number.MAX_SAFE_INTEGER) {
                this.fail('CHUNK_SIZE_TOO_LARGE');
                return;
              }
              pos++;
              continue;
            }
            if (this.chunkDigits === 0) {
              this.fail(c === LF ? 'BARE_LF' : 'INVALID_CHUNK_SIZE');
              return;
            }
            pos++;
            if (c === CR) this.state = S_CHUNK_SIZE_LF;
            else if (c === SEMI) {
              this.state = S_CHUNK_EXT;
              this.extState = X_NAME_START;
            } else {
              this.fail(c === LF ? 'BARE_LF' : 'INVALID_CHUNK_SIZE');
              return;
            }
            break;
          }
          continue;
        }
        case S_CHUNK_EXT: {
          const end = this.extensions(buf, pos, len);
          if (end < 0) {
            if (end === NEED_MORE) this.at = len;
            return;
          }
          pos = end;
          this.state = S_CHUNK_SIZE_LF;
          continue;
        }
        case S_CHUNK_SIZE_LF:
          if (pos >= len) {
            this.at = pos;
            return;
          }
          if (buf[pos] !== LF) {
            this.fail('BARE_CR');
            return;
          }
          pos++;
          if (this.remaining === 0) {
            this.state = S_TRAILERS;
          } else {
            this.state = S_CHUNK_DATA;
          }
          continue;
        case S_CHUNK_DATA: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const n = Math.min(len - pos, this.remaining);
          const piece = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR;
          this.at = pos;
          this.events.onBody(piece);
          continue;
        }
        case S_CHUNK_DATA_CR: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const c = buf[pos];
          if (c !== CR) {
            this.fail(c === LF ? 'BARE_LF' : 'INVALID_CHUNK_END');
            return;
          }
          pos++;
          this.state = S_CHUNK_DATA_LF;
          continue;
        }
        case S_CHUNK_DATA_LF:
          if (pos >= len) {
            this.at = pos;
            return;
          }
          if (buf[pos] !== LF) {
            this.fail('BARE_CR');
            return;
          }
          pos++;
          this.startChunk();
          continue;
        case S_TRAILERS: {
          if (pos >= len) {
            this.at = pos;
            return;
          }
          const end = this.parseFields(buf, pos, len, this.trailerList(), pos);
          if (end === FAILED) return;
          if (end === NEED_MORE) {
            if (!this.gather(buf, pos, len, K_TRAILERS)) return;
            this.state = S_TRAILERS_SLOW;
            this.at = len;
            return;
          }
          pos = end;
          if (!this.emitTrailers(buf, pos)) return;
          continue;
        }
        case S_TRAILERS_SLOW: {
          if (pos >= len) return;
          const took = this.feed(buf, pos, len, K_TRAILERS);
          if (took < 0) {
            if (took === NEED_MORE) this.at = len;
            return;
          }
          const scratch = this.scratch as Buffer;
          const end = this.scanEnd;
          this.scratch = null;
          const parsed = this.parseFields(scratch, 0, end, this.trailerList(), 0);
          if (parsed !== end) {
            if (parsed !== FAILED) this.fail('INVALID_HEADER_NAME');
            return;
          }
          pos += took;
          if (!this.emitTrailers(scratch, pos)) return;
          continue;
        }
        case S_DONE: {
          this.state = this.next;
          this.at = pos;
          this.messageDone();
          const pauseAfter = this.pauseAfter;
          this.pauseAfter = false;
          this.events.onComplete();
          if (pauseAfter && this.generation === generation && this.state !== S_DEAD) this.isPaused = true;
          continue;
        }
        case S_CLOSED: {
          while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++;
          this.at = pos;
          if (pos < len) this.fail('DATA_AFTER_CLOSE');
          return;
        }
        case S_UPGRADED:
          this.at = pos;
          if (pos < len) this.fail('PARSER_UPGRADED');
          return;
        default:
          return;
      }
    }
  }

  private emitHead(buf: Buffer, start: number, end: number, resumeAt = end): boolean {
    const head = this.head;
    head.buf = buf;
    head.count = this.fieldCount;
    head.headBytes = end - start;
    if (!this.analyze(buf)) return false;
    this.at = resumeAt;
    this.events.onHead(head);
    return true;
  }

  private emitTrailers(buf: Buffer, resumeAt: number): boolean {
    const list = this.trailerList();
    const f = list.fields;
    const count = this.fieldCount;
    for (let i = 0; i < count; i++) {
      if ((FORBIDDEN_TRAILERS & (1 << (f[i * FIELD_STRIDE + 4] as number))) !== 0) {
        this.fail('FORBIDDEN_TRAILER');
        return false;
      }
    }
    this.state = S_DONE;
    if (count > 0 && this.events.onTrailers !== undefined) {
      list.buf = buf;
      list.count = count;
      this.at = resumeAt;
      this.events.onTrailers(list);
    }
    return true;
  }

  private trailerList(): TrailerList {
    if (this.trailers === null) this.trailers = new TrailerList(this.maxHeaders);
    return this.trailers;
  }

  /** Sets up the body state for a chunked message. */
  protected startChunked(): void {
    this.extBytes = 0;
    this.startChunk();
  }

  private startChunk(): void {
    this.state = S_CHUNK_SIZE;
    this.remaining = 0;
    this.chunkDigits = 0;
  }

  protected startLength(length: number): void {
    this.remaining = length;
    this.state = S_BODY_LENGTH;
  }

  protected startUntilClose(): void {
    this.state = S_BODY_EOF;
  }

  protected startNoBody(): void {
    this.state = S_DONE;
  }

  /**
   * Chunk extensions after the ";" (RFC 9112 §7.1.1), no whitespace anywhere (as llhttp: BWS there is how
   * parsers have been told apart). Returns the position after the CR that ends them, NEED_MORE or FAILED.
   */
  private extensions(buf: Buffer, start: number, len: number): number {
    let pos = start;
    let state = this.extState;
    let bytes = this.extBytes;
    const max = this.maxExtensionBytes;
    for (; pos < len; pos++) {
      const c = buf[pos] as number;
      switch (state) {
        case X_NAME_START:
          if (TOKEN[c] !== 1) return this.badExtension(c);
          state = X_NAME;
          bytes++;
          break;
        case X_NAME:
          if (TOKEN[c] === 1) bytes++;
          else if (c === EQUALS) state = X_VALUE_START;
          else if (c === SEMI) state = X_NAME_START;
          else if (c === CR) {
            this.extBytes = bytes;
            return pos + 1;
          } else return this.badExtension(c);
          break;
        case X_VALUE_START:
          if (c === DQUOTE) state = X_QUOTED;
          else if (TOKEN[c] === 1) state = X_VALUE;
          else return this.badExtension(c);
          bytes++;
          break;
        case X_VALUE:
          if (TOKEN[c] === 1) bytes++;
          else if (c === SEMI) state = X_NAME_START;
          else if (c === CR) {
            this.extBytes = bytes;
            return pos + 1;
          } else return this.badExtension(c);
          break;
        case X_QUOTED:
          if (c === DQUOTE) state = X_QUOTED_DONE;
          else if (c === BACKSLASH) state = X_QUOTED_PAIR;
          else if (QDTEXT[c] !== 1) return this.badExtension(c);
          bytes++;
          break;
        case X_QUOTED_PAIR:
          if (QUOTED_PAIR[c] !== 1) return this.badExtension(c);
          state = X_QUOTED;
          bytes++;
          break;
        default:
          if (c === SEMI) state = X_NAME_START;
          else if (c === CR) {
            this.extBytes = bytes;
            return pos + 1;
          } else return this.badExtension(c);
      }
      if (bytes > max) return this.fail('CHUNK_EXTENSIONS_TOO_LARGE');
    }
    this.extState = state;
    this.extBytes = bytes;
    return NEED_MORE;
  }

  private badExtension(c: number): number {
    return this.fail(c === LF ? 'BARE_LF' : 'INVALID_CHUNK_EXTENSION');
  }

  /**
   * Field lines from buf[p, limit) up to and including the empty line, into `list.fields` (grown as needed);
   * sets `fieldCount`. `start` is where the section began, for the size limit.
   */
  protected parseFields(
    buf: Buffer,
    from: number,
    limit: number,
    list: Head | TrailerList,
    start: number,
  ): number {
    const max = this.maxHeaders;
    let fields = list.fields;
    let count = 0;
    let p = from;
    for (;;) {
      if (p >= limit) return NEED_MORE;
      let c = buf[p] as number;
      if (c === CR) {
        if (p + 1 >= limit) return NEED_MORE;
        if (buf[p + 1] !== LF) return this.fail('BARE_CR');
        p += 2;
        if (p - start > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
        this.fieldCount = count;
        return p;
      }
      if (c === SP || c === HTAB) return this.fail('OBS_FOLD');
      if (count === max) return this.fail('TOO_MANY_HEADERS');
      const ns = p;
      while (p < limit && TOKEN[buf[p] as number] === 1) p++;
      if (p >= limit) return NEED_MORE;
      if (buf[p] !== COLON || p === ns) return this.fail(buf[p] === LF ? 'BARE_LF' : 'INVALID_HEADER_NAME');
      const ne = p++;
      while (p < limit && (buf[p] === SP || buf[p] === HTAB)) p++;
      const vs = p;
      while (p < limit && FIELD_VALUE[buf[p] as number] === 1) p++;
      if (p >= limit) return NEED_MORE;
      c = buf[p] as number;
      if (c !== CR) return this.fail(c === LF ? 'BARE_LF' : 'INVALID_HEADER_VALUE');
      if (p + 1 >= limit) return NEED_MORE;
      if (buf[p + 1] !== LF) return this.fail('BARE_CR');
      let ve = p;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      const at = count * FIELD_STRIDE;
      if (at === fields.length) {
        const grown = new Uint32Array(Math.min(max, count * 2) * FIELD_STRIDE);
        grown.set(fields);
        fields = grown;
        list.fields = grown;
      }
      fields[at] = ns;
      fields[at + 1] = ne;
      fields[at + 2] = vs;
      fields[at + 3] = ve;
      fields[at + 4] = classifyName(buf, ns, ne);
      count++;
      p += 2;
    }
  }

  /**
   * Starts gathering a head or trailer section that did not end in this chunk: scans what is there (limits,
   * bare LF) and copies it into a new scratch buffer. False after onError.
   */
  private gather(buf: Buffer, start: number, len: number, kind: number): boolean {
    this.scanPos = 0;
    this.lineStart = 0;
    this.lines = 0;
    const n = len - start;
    const scanned = this.scan(buf, start, Math.min(n, this.maxHeadBytes + 1), kind);
    if (scanned === FAILED) return false;
    if (scanned !== NEED_MORE) {
      this.fail(kind === K_TRAILERS ? 'INVALID_HEADER_NAME' : 'INVALID_START_LINE');
      return false;
    }
    const scratch = Buffer.allocUnsafe(Math.min(this.maxHeadBytes + 1, Math.max(1024, n * 2)));
    buf.copy(scratch, 0, start, len);
    this.scratch = scratch;
    this.scratchLen = n;
    return true;
  }

  /**
   * Adds bytes of a new chunk to the section being gathered and scans them. Returns how many bytes of this chunk
   * the section took when it is now complete (its end in `scanEnd`), NEED_MORE, or FAILED.
   */
  private feed(buf: Buffer, pos: number, len: number, kind: number): number {
    let scratch = this.scratch as Buffer;
    const before = this.scratchLen;
    const n = Math.min(len - pos, this.maxHeadBytes + 1 - before);
    if (before + n > scratch.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.maxHeadBytes + 1, Math.max(before + n, scratch.length * 2)),
      );
      scratch.copy(grown, 0, 0, before);
      scratch = grown;
      this.scratch = grown;
    }
    buf.copy(scratch, before, pos, pos + n);
    this.scratchLen = before + n;
    const end = this.scan(scratch, 0, this.scratchLen, kind);
    if (end < 0) return end;
    this.scanEnd = end;
    return end - before;
  }

  /**
   * Looks for the empty line ending a section in buf[base + scanPos, base + end), line by line, checking what
   * can be checked before the section is whole: bare LF, the request line's length, the line count, the size.
   */
  private scan(buf: Buffer, base: number, end: number, kind: number): number {
    let i = this.scanPos;
    const maxLines = kind === K_TRAILERS ? this.maxHeaders : this.maxHeaders + 1;
    for (; i < end; i++) {
      if (buf[base + i] !== LF) continue;
      if (i === 0 || buf[base + i - 1] !== CR) return this.fail('BARE_LF');
      const lineLength = i - 1 - this.lineStart;
      if (lineLength === 0) {
        if (i + 1 > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
        return i + 1;
      }
      this.lines++;
      if (kind === K_REQUEST && this.lines === 1 && lineLength > this.maxStartLineBytes) {
        return this.fail('URI_TOO_LONG');
      }
      if (this.lines > maxLines) return this.fail('TOO_MANY_HEADERS');
      this.lineStart = i + 1;
    }
    this.scanPos = end;
    if (kind === K_REQUEST && this.lines === 0) {
      const pending = end - this.lineStart - (buf[base + end - 1] === CR ? 1 : 0);
      if (pending > this.maxStartLineBytes) return this.fail('URI_TOO_LONG');
    }
    if (end > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
    return NEED_MORE;
  }

  /**
   * Reads "HTTP/d.d" at buf[p, limit) followed by `after` (CRLF for requests, SP for responses). Returns the minor
   * version, NEED_MORE or FAILED. Digits other than 1.0 and 1.1 are VERSION_NOT_SUPPORTED, anything else
   * INVALID_VERSION (HTTP/0.9 has no version at all and never reaches here).
   */
  protected version(buf: Buffer, p: number, limit: number, crlf: boolean): number {
    const need = crlf ? 10 : 9;
    const n = Math.min(limit - p, need);
    for (let i = 0; i < n; i++) {
      const c = buf[p + i] as number;
      let ok: boolean;
      if (i < 5) ok = c === HTTP_SLASH[i];
      else if (i === 5 || i === 7) ok = c >= 0x30 && c <= 0x39;
      else if (i === 6) ok = c === 0x2e;
      else if (i === 8) {
        if (!crlf) ok = c === SP;
        else if (c === LF) return this.fail('BARE_LF');
        else ok = c === CR;
      } else {
        if (c !== LF) return this.fail('BARE_CR');
        ok = true;
      }
      if (!ok) return this.fail('INVALID_VERSION');
    }
    if (n < need) return NEED_MORE;
    if (buf[p + 5] !== 0x31 || (buf[p + 7] !== 0x30 && buf[p + 7] !== 0x31)) {
      return this.fail('VERSION_NOT_SUPPORTED');
    }
    return (buf[p + 7] as number) - 0x30;
  }

  /**
   * The framing and connection facts every head shares, from its known fields; sets them on the head. Returns
   * the error code to refuse with, or null.
   */
  protected framing(buf: Buffer, request: boolean): Http1ErrorCode | null {
    const head = this.head;
    const f = head.fields;
    const count = head.count;
    let present = 0;
    let contentLength = -1;
    let lengths = 0;
    let codings = 0;
    let hosts = 0;
    let close = false;
    let keepAlive = false;
    let connectionUpgrade = false;
    let expectContinue = false;
    for (let i = 0; i < count; i++) {
      const at = i * FIELD_STRIDE;
      const id = f[at + 4] as number;
      if (id === 0) continue;
      present |= 1 << id;
      const vs = f[at + 2] as number;
      const ve = f[at + 3] as number;
      switch (id) {
        case F_CONTENT_LENGTH:
          if (++lengths > 1) return 'DUPLICATE_CONTENT_LENGTH';
          contentLength = parseLength(buf, vs, ve);
          if (contentLength === -2) return 'DUPLICATE_CONTENT_LENGTH';
          if (contentLength < 0) return 'INVALID_CONTENT_LENGTH';
          break;
        case F_TRANSFER_ENCODING:
          codings++;
          break;
        case F_HOST:
          hosts++;
          break;
        case F_CONNECTION:
          if (listHasToken(buf, vs, ve, T_CLOSE)) close = true;
          if (listHasToken(buf, vs, ve, T_KEEP_ALIVE)) keepAlive = true;
          if (listHasToken(buf, vs, ve, T_UPGRADE)) connectionUpgrade = true;
          break;
        case F_EXPECT:
          if (ve - vs === T_100_CONTINUE.length && equalsLower(buf, vs, T_100_CONTINUE))
            expectContinue = true;
          break;
      }
    }
    let chunked = false;
    if (codings > 0) {
      if (lengths > 0) return 'CONTENT_LENGTH_WITH_TRANSFER_ENCODING';
      if (head.versionMinor === 0) return 'TRANSFER_ENCODING_IN_HTTP10';
      const refusal = this.transferCodings(buf);
      if (refusal !== null) return refusal;
      chunked = true;
    }
    if (request) {
      if (hosts > 1) return 'DUPLICATE_HOST';
      // An absolute-form target names its authority itself (RFC 9112 §3.2.2), which then stands for the Host, as
      // Envoy takes it: a client of an egress proxy may send none.
      if (hosts === 0 && head.versionMinor === 1 && !absoluteTarget(head.target)) return 'MISSING_HOST';
    }
    head.present = present;
    head.contentLength = contentLength;
    head.chunked = chunked;
    head.keepAlive = !close && (head.versionMinor === 1 || keepAlive);
    head.upgrade = connectionUpgrade && (present & bit(F_UPGRADE)) !== 0;
    head.expectContinue = expectContinue;
    return null;
  }

  /**
   * Transfer-Encoding, all its fields read as one list (RFC 9110 §5.3): exactly one `chunked`, last, and nothing
   * else. Another coding before it is 501 (RFC 9112 §6.1: the proxy decodes none), chunked twice or not last,
   * an empty element or a malformed one 400.
   */
  private transferCodings(buf: Buffer): Http1ErrorCode | null {
    const head = this.head;
    const f = head.fields;
    let chunkedCount = 0;
    let lastChunked = false;
    let others = false;
    for (let i = 0; i < head.count; i++) {
      const at = i * FIELD_STRIDE;
      if (f[at + 4] !== F_TRANSFER_ENCODING) continue;
      const ve = f[at + 3] as number;
      let p = f[at + 2] as number;
      for (;;) {
        while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
        const ts = p;
        while (p < ve && TOKEN[buf[p] as number] === 1) p++;
        const te = p;
        while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
        if (te === ts) return 'INVALID_TRANSFER_ENCODING';
        let parameters = false;
        if (p < ve && buf[p] === SEMI) {
          parameters = true;
          while (p < ve && buf[p] !== COMMA) p++;
        }
        if (p < ve && buf[p] !== COMMA) return 'INVALID_TRANSFER_ENCODING';
        if (te - ts === T_CHUNKED.length && equalsLower(buf, ts, T_CHUNKED)) {
          if (parameters) return 'INVALID_TRANSFER_ENCODING';
          chunkedCount++;
          lastChunked = true;
        } else {
          others = true;
          lastChunked = false;
        }
        if (p >= ve) break;
        p++;
      }
    }
    if (chunkedCount !== 1 || !lastChunked) return 'INVALID_TRANSFER_ENCODING';
    return others ? 'UNSUPPORTED_TRANSFER_CODING' : null;
  }

  /** The field section after a start line ending at `p`; the end of the head or NEED_MORE/FAILED. */
  protected fieldsFrom(buf: Buffer, p: number, limit: number, start: number): number {
    const end = this.parseFields(buf, p, limit, this.head, start);
    if (end === NEED_MORE && limit - start > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
    return end;
  }
}

/** Whether an accepted request-target is in absolute form: the start line let only http(s) schemes through. */
function absoluteTarget(target: string): boolean {
  const c = target.charCodeAt(0);
  return c === 0x68 || c === 0x48; // h, H
}

/**
 * Parses the requests a client sends on one connection, pipelined ones included. Checks what the proxy needs
 * before routing: method, target form, version, framing, Host presence and uniqueness (whether an absolute-form
 * target and Host agree is the caller's check).
 */
export class RequestParser extends Http1Parser {
  constructor(limits: ParserLimits, events: ParserEvents) {
    super(limits, events, REQUEST_ERRORS, K_REQUEST);
  }

  protected parseHead(buf: Buffer, start: number, limit: number): number {
    let p = start;
    while (p < limit && TOKEN[buf[p] as number] === 1) p++;
    if (p >= limit) return this.startLineMore(start, limit);
    if (buf[p] !== SP || p === start) return this.fail(buf[p] === LF ? 'BARE_LF' : 'INVALID_METHOD');
    const methodEnd = p++;
    const ts = p;
    while (p < limit && TARGET[buf[p] as number] === 1) p++;
    if (p >= limit) return this.startLineMore(start, limit);
    const c = buf[p];
    if (c !== SP) return this.fail(c === CR || c === LF ? 'INVALID_VERSION' : 'INVALID_TARGET');
    if (p === ts) return this.fail('INVALID_START_LINE');
    const te = p++;
    const minor = this.version(buf, p, limit, true);
    if (minor === FAILED) return FAILED;
    if (minor === NEED_MORE) return this.startLineMore(start, limit);
    p += 10;
    if (p - 2 - start > this.maxStartLineBytes) return this.fail('URI_TOO_LONG');
    const method = internMethod(buf, start, methodEnd);
    if (method === undefined) return this.fail('UNKNOWN_METHOD');
    const c0 = buf[ts];
    if (method === 'CONNECT') {
      if (!isAuthorityForm(buf, ts, te)) return this.fail('TARGET_FORM');
    } else if (c0 === 0x2a) {
      if (te - ts !== 1 || method !== 'OPTIONS') return this.fail('TARGET_FORM');
    } else if (c0 !== 0x2f && !isAbsoluteForm(buf, ts, te)) {
      return this.fail('TARGET_FORM');
    }
    const end = this.fieldsFrom(buf, p, limit, start);
    if (end < 0) return end;
    const head = this.head;
    head.method = method;
    head.target = te - ts === 1 && c0 === 0x2f ? '/' : latin1(buf, ts, te);
    head.versionMinor = minor;
    return end;
  }

  /** The start line is not complete in the bytes there are: too long already, or wait for more. */
  private startLineMore(start: number, limit: number): number {
    if (limit - start > this.maxStartLineBytes + 1) return this.fail('URI_TOO_LONG');
    return NEED_MORE;
  }

  protected analyze(buf: Buffer): boolean {
    const refusal = this.framing(buf, true);
    if (refusal !== null) {
      this.fail(refusal);
      return false;
    }
    const head = this.head;
    head.status = 0;
    head.reason = '';
    if (head.chunked) this.startChunked();
    else if (head.contentLength > 0) this.startLength(head.contentLength);
    else this.startNoBody();
    this.next = head.keepAlive ? S_START : S_CLOSED;
    this.pauseAfter = head.upgrade || head.method === 'CONNECT';
    return true;
  }
}

/**
 * Parses the responses an upstream sends on one connection. `expect(method)` before each request's response
 * says what was asked (HEAD has no body, a 2xx to CONNECT is a tunnel); bytes when nothing is expected are
 * UNEXPECTED_RESPONSE (an upstream talking out of turn, e.g. a 408 on an idle pooled connection).
 */
export class ResponseParser extends Http1Parser {
  private expected: string[] = [];
  private expectedHead = 0;
  private interim = false;

  constructor(limits: ParserLimits, events: ParserEvents) {
    super(limits, events, RESPONSE_ERRORS, K_RESPONSE);
  }

  /** The method of the request whose response comes next; queued, one per request (1xx responses take none). */
  expect(method: string): void {
    this.expected.push(method);
  }

  override reset(): void {
    super.reset();
    this.expected = [];
    this.expectedHead = 0;
    this.interim = false;
  }

  protected override beginMessage(): boolean {
    if (this.expectedHead < this.expected.length) return true;
    this.fail('UNEXPECTED_RESPONSE');
    return false;
  }

  protected override messageDone(): void {
    if (this.interim) return;
    this.expectedHead++;
    if (this.expectedHead === this.expected.length) {
      this.expected.length = 0;
      this.expectedHead = 0;
    }
  }

  protected parseHead(buf: Buffer, start: number, limit: number): number {
    const minor = this.version(buf, start, limit, false);
    if (minor < 0) return minor;
    let p = start + 9;
    if (limit - p < 4) {
      for (let i = p; i < limit && i < p + 3; i++) {
        const c = buf[i] as number;
        if (c < 0x30 || c > 0x39) return this.fail('INVALID_STATUS');
      }
      return limit - start > this.maxHeadBytes ? this.fail('HEAD_TOO_LARGE') : NEED_MORE;
    }
    let status = 0;
    for (let i = 0; i < 3; i++) {
      const d = (buf[p + i] as number) - 0x30;
      if (d < 0 || d > 9) return this.fail('INVALID_STATUS');
      status = status * 10 + d;
    }
    if (status < 100) return this.fail('INVALID_STATUS');
    p += 3;
    let rs = p;
    let re = p;
    if (buf[p] === SP) {
      rs = ++p;
      while (p < limit && FIELD_VALUE[buf[p] as number] === 1) p++;
      re = p;
      if (p >= limit) return limit - start > this.maxHeadBytes ? this.fail('HEAD_TOO_LARGE') : NEED_MORE;
      if (buf[p] !== CR) return this.fail(buf[p] === LF ? 'BARE_LF' : 'INVALID_START_LINE');
    } else if (buf[p] !== CR) {
      return this.fail(buf[p] === LF ? 'BARE_LF' : 'INVALID_STATUS');
    }
    if (p + 1 >= limit) return NEED_MORE;
    if (buf[p + 1] !== LF) return this.fail('BARE_CR');
    const end = this.fieldsFrom(buf, p + 2, limit, start);
    if (end < 0) return end;
    const head = this.head;
    head.status = status;
    head.versionMinor = minor;
    head.reason =
      re === rs ? '' : re - rs === 2 && buf[rs] === 0x4f && buf[rs + 1] === 0x4b ? 'OK' : latin1(buf, rs, re);
    return end;
  }

  protected analyze(buf: Buffer): boolean {
    const refusal = this.framing(buf, false);
    if (refusal !== null) {
      this.fail(refusal);
      return false;
    }
    const head = this.head;
    const status = head.status;
    const method = this.expected[this.expectedHead] as string;
    head.method = method;
    head.target = '';
    head.expectContinue = false;
    head.upgrade = status === 101;
    this.interim = status < 200 && status !== 101;
    this.pauseAfter = false;
    if (this.interim) {
      this.next = S_START;
      this.startNoBody();
      return true;
    }
    if (status === 101 || (method === 'CONNECT' && status < 300 && status >= 200)) {
      this.next = S_UPGRADED;
      this.pauseAfter = true;
      this.startNoBody();
      return true;
    }
    if (method === 'HEAD' || status === 204 || status === 304) this.startNoBody();
    else if (head.chunked) this.startChunked();
    else if (head.contentLength >= 0) {
      if (head.contentLength > 0) this.startLength(head.contentLength);
      else this.startNoBody();
    } else {
      head.keepAlive = false;
      this.startUntilClose();
    }
    this.next = head.keepAlive ? S_START : S_CLOSED;
    return true;
  }
}
