/**
 * Where Trellis's HTTP/1.1 parser and llhttp (node:http, strict mode) are allowed to disagree, each with the
 * reason and a check that the case at hand really is that divergence and not something else wearing its code.
 *
 * Nearly all go one way: Trellis refuses what llhttp accepts, because llhttp keeps a few lenient spots by
 * design (it also parses RTSP and Icecast, takes several spaces between request-line parts, leading bare CR or
 * LF, any transfer coding before chunked, …) and because a proxy must refuse what it cannot forward unambiguously.
 * The one the other way is an llhttp quirk the RFC is clear about, listed with its own check.
 *
 * `classify` returns the id of the divergence that explains a disagreement, or null: an unexplained disagreement
 * fails the differential test.
 */
import type { ParserLimits } from '../../../src/http1/parser.ts';
import type { Seen } from './harness.ts';

export interface DivergenceContext {
  /** Our refusal code, null when we accepted. */
  ours: string | null;
  /** llhttp's error code (err.code of node:http's clientError), null when it accepted. */
  llhttp: string | null;
  /** The message one side accepted and the other did not (undefined when neither has a message there). */
  message: Seen | undefined;
  /** The message before it, both sides agreeing on it. */
  previous: Seen | undefined;
  /** The stream from where that message starts (leading CR/LF included). */
  raw: Buffer;
  /** The bytes of the message before it. */
  previousRaw: Buffer;
  limits: ParserLimits;
}

export interface Divergence {
  id: string;
  /** ours-upgrades: Trellis reads a request as an upgrade (and pauses) where llhttp reads on as HTTP. */
  direction: 'ours-refuses' | 'ours-accepts' | 'ours-upgrades';
  /** Our codes (ours-refuses) or llhttp's (ours-accepts) this divergence may show as; '*' for any or none. */
  codes: readonly string[];
  /** Why, with the RFC text that decides it. */
  reason: string;
  applies(c: DivergenceContext): boolean;
}

const text = (b: Buffer): string => b.toString('latin1');

/** The bytes before the request line: llhttp skips any run of CR and LF there. */
function leading(raw: Buffer): string {
  let i = 0;
  while (i < raw.length && (raw[i] === 0x0d || raw[i] === 0x0a)) i++;
  return text(raw.subarray(0, i));
}

function requestLine(raw: Buffer): string {
  const s = text(raw).slice(leading(raw).length);
  const end = s.indexOf('\n');
  return (end < 0 ? s : s.slice(0, end)).replace(/\r$/, '');
}

function head(raw: Buffer): string {
  const s = text(raw).slice(leading(raw).length);
  const end = s.indexOf('\r\n\r\n');
  return end < 0 ? s : s.slice(0, end + 4);
}

function fieldValues(message: Seen, lowerName: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < message.headers.length; i += 2) {
    if ((message.headers[i] as string).toLowerCase() === lowerName)
      out.push(message.headers[i + 1] as string);
  }
  return out;
}

/** The chunk-size lines of a chunked body after the head, read leniently (as llhttp would get past them). */
function chunkLines(raw: Buffer): { size: string; extensions: string }[] {
  const s = text(raw);
  let p = s.indexOf('\r\n\r\n', leading(raw).length);
  if (p < 0) return [];
  p += 4;
  const out: { size: string; extensions: string }[] = [];
  while (p < s.length) {
    const eol = s.indexOf('\n', p);
    if (eol < 0) break;
    const lineText = s.slice(p, eol).replace(/\r$/, '');
    const semi = lineText.indexOf(';');
    const size = semi < 0 ? lineText : lineText.slice(0, semi);
    out.push({ size, extensions: semi < 0 ? '' : lineText.slice(semi) });
    const n = Number.parseInt(size, 16);
    if (!Number.isFinite(n) || n === 0) break;
    p = eol + 1 + n + 2;
  }
  return out;
}

/** Chunk-extension bytes of a message as counted against the limit: all but the `;` and `=` separators. */
function extensionBytes(raw: Buffer): number {
  return chunkLines(raw).reduce((n, l) => n + l.extensions.replace(/[;=]/g, '').length, 0);
}

/** RFC 9112 §7.1.1 chunk-ext, strictly: `;` token [ `=` ( token / quoted-string ) ], repeated, no whitespace. */
const STRICT_EXTENSIONS =
  /^(;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(=([!#$%&'*+\-.^_`|~0-9A-Za-z]+|"([\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*$/;

/** The request-target forms Trellis accepts (RFC 9112 §3.2), written independently of the parser. */
function allowedForm(method: string, target: string): boolean {
  if (method === 'CONNECT')
    return /^([A-Za-z0-9\-._~%!$&'()*+,;=]+|\[[A-Za-z0-9\-._~%!$&'()*+,;=:]+\]):[0-9]+$/.test(target);
  if (target.startsWith('/')) return true;
  if (target === '*') return method === 'OPTIONS';
  return /^https?:\/\/[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]+([/?].*)?$/i.test(target);
}

const FORBIDDEN_TRAILERS = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

/**
 * "Connection: close<HTAB>" lists `close` (RFC 9110 §5.6.3 OWS, §7.6.1), and likewise keep-alive and upgrade.
 * llhttp 9.3 skips only SP after a Connection token, so it misses the token followed by HTAB and reads the
 * connection differently: it reads on after a close (Trellis: data after close), closes an HTTP/1.0
 * connection that asked to be kept (Trellis reads the next request), or reads on as HTTP after an upgrade
 * request (Trellis pauses, as after any upgrade request, and a non-101 answer resumes HTTP).
 */
function connectionTokenHtab(): Divergence[] {
  const reason =
    'RFC 9110 §5.6.3: OWS is SP or HTAB, so "Connection: close<HTAB>" lists close (likewise keep-alive, ' +
    'upgrade); llhttp 9.3 skips only SP after a Connection token and misses it.';
  const listed = (token: string, raw: Buffer): boolean =>
    new RegExp(`\\r\\nconnection:([^\\r]*,)?[ \\t]*${token}[ \\t]*\\t[ \\t]*(,[^\\r]*)?\\r\\n`, 'i').test(
      head(raw),
    );
  return [
    {
      id: 'htab-after-connection-token',
      direction: 'ours-refuses',
      codes: ['DATA_AFTER_CLOSE'],
      reason,
      applies: (c) => listed('close', c.previousRaw),
    },
    {
      id: 'htab-after-connection-token',
      direction: 'ours-accepts',
      codes: ['HPE_CLOSED_CONNECTION'],
      reason,
      applies: (c) => c.previous?.version === '1.0' && listed('keep-alive', c.previousRaw),
    },
    {
      id: 'htab-after-connection-token',
      direction: 'ours-upgrades',
      codes: ['*'],
      reason,
      applies: (c) => listed('upgrade', c.raw),
    },
  ];
}

export const DIVERGENCES: readonly Divergence[] = [
  {
    id: 'leading-bare-cr-or-lf',
    direction: 'ours-refuses',
    codes: ['BARE_LF', 'BARE_CR'],
    reason:
      'RFC 9112 §2.2 lets a server ignore empty lines (CRLF) before a request line; llhttp also skips a lone CR or ' +
      'LF there. Trellis takes CRLF only, everywhere (§2.2: a bare CR must be refused or replaced; bare LF is a ' +
      'MAY that parsers have been told apart by).',
    applies: (c) => !/^(\r\n)*$/.test(leading(c.raw)),
  },
  {
    id: 'request-line-whitespace',
    direction: 'ours-refuses',
    codes: ['INVALID_START_LINE', 'INVALID_VERSION'],
    reason:
      'RFC 9112 §3: request-line = method SP request-target SP HTTP-version, one SP each; llhttp takes runs of ' +
      'spaces. Lenient whitespace parsing is a MAY (§3) that Trellis does not take.',
    applies: (c) => /^\S+ {2,}|^\S+ \S+ {2,}/.test(requestLine(c.raw)),
  },
  {
    id: 'http-version',
    direction: 'ours-refuses',
    // BARE_LF: an HTTP/0.9 line ended by LF alone, seen before the line is whole.
    codes: ['VERSION_NOT_SUPPORTED', 'INVALID_VERSION', 'BARE_LF'],
    reason:
      'Only HTTP/1.0 and HTTP/1.1 are HTTP/1.x (RFC 9112 §2.3); llhttp also takes HTTP/0.9 (with or without the ' +
      'version, the line ended by CRLF or a bare LF), HTTP/2.0 in a request line, RTSP/1.0 and ICE/1.0. Trellis ' +
      'answers 505 to a well-formed other version (RFC 9110 §15.6.6) and 400 to other protocols and to HTTP/0.9.',
    applies: (c) =>
      c.message !== undefined &&
      (c.message.version === '0.9' ||
        c.message.version === '2.0' ||
        !/ HTTP\/\d\.\d$/.test(requestLine(c.raw))),
  },
  {
    id: 'request-target-form',
    direction: 'ours-refuses',
    codes: ['TARGET_FORM'],
    reason:
      'RFC 9112 §3.2: origin-form, absolute-form, authority-form only for CONNECT (§3.2.3, "uri-host:port"), ' +
      'asterisk-form only for OPTIONS (§3.2.4). llhttp takes any scheme, "*x", "*" with any method, any CONNECT ' +
      'target; Trellis forwards http(s) only and refuses user info (RFC 9110 §4.2.4) and an empty authority ' +
      '(RFC 9110 §4.2.1: a recipient MUST reject an http URI with an empty host).',
    applies: (c) => c.message !== undefined && !allowedForm(c.message.method, c.message.target),
  },
  {
    id: 'transfer-coding',
    direction: 'ours-refuses',
    codes: ['UNSUPPORTED_TRANSFER_CODING', 'INVALID_TRANSFER_ENCODING', 'TRANSFER_ENCODING_IN_HTTP10'],
    reason:
      'Trellis takes a Transfer-Encoding that is exactly one `chunked` and nothing else: another coding is 501 ' +
      '(RFC 9112 §6.1: a server SHOULD answer 501 to a coding it does not understand, and the proxy decodes ' +
      'none), empty list elements are refused, and so is Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: ' +
      'MUST treat its framing as faulty). llhttp takes `gzip, chunked`, `, chunked`, an empty value, and chunked ' +
      'in HTTP/1.0.',
    applies: (c) => {
      if (c.message === undefined) return false;
      const values = fieldValues(c.message, 'transfer-encoding');
      if (values.length === 0) return false;
      if (c.message.version === '1.0') return true;
      const elements = values
        .join(',')
        .split(',')
        .map((e) => e.trim().toLowerCase());
      return elements.length !== 1 || elements[0] !== 'chunked';
    },
  },
  {
    id: 'host',
    direction: 'ours-refuses',
    codes: ['MISSING_HOST', 'DUPLICATE_HOST'],
    reason:
      'RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host and to one with more than one ' +
      'Host. llhttp leaves Host to its user (node:http checks presence only with requireHostHeader, which this ' +
      'harness turns off to see the parser itself).',
    applies: (c) => {
      if (c.message === undefined) return false;
      const hosts = fieldValues(c.message, 'host').length;
      return c.ours === 'DUPLICATE_HOST' ? hosts > 1 : hosts === 0 && c.message.version === '1.1';
    },
  },
  {
    id: 'limits',
    direction: 'ours-refuses',
    codes: ['HEAD_TOO_LARGE', 'TOO_MANY_HEADERS', 'URI_TOO_LONG'],
    reason:
      'Trellis counts the whole head against maxHeadBytes (node:http counts only the target, names and values), ' +
      'caps the field count (Envoy: 100; llhttp has no cap) and the request line (nginx-style 414).',
    applies: (c) => {
      if (c.message === undefined) return false;
      if (c.ours === 'TOO_MANY_HEADERS') return c.message.headers.length / 2 > c.limits.maxHeaders;
      if (c.ours === 'URI_TOO_LONG') return requestLine(c.raw).length > c.limits.maxStartLineBytes;
      return head(c.raw).length > c.limits.maxHeadBytes;
    },
  },
  {
    id: 'chunk-size-digits',
    direction: 'ours-refuses',
    codes: ['CHUNK_SIZE_TOO_LARGE'],
    reason:
      'More than 16 hex digits can only be padding: Trellis bounds the chunk-size line (an endless one would ' +
      'never end the chunk) and sizes above 2^53. llhttp takes any number of leading zeros.',
    applies: (c) => chunkLines(c.raw).some((l) => l.size.length > 16),
  },
  {
    id: 'chunk-extension-syntax',
    direction: 'ours-refuses',
    codes: ['INVALID_CHUNK_EXTENSION'],
    reason:
      'RFC 9112 §7.1.1: chunk-ext-name is a token (non-empty) and its value a token (non-empty) or a whole ' +
      'quoted-string. llhttp takes an empty name (";=x"), an empty value (";a="), and a quoted-string that starts ' +
      'inside a token (";a=b\\"c\\"").',
    applies: (c) => chunkLines(c.raw).some((l) => !STRICT_EXTENSIONS.test(l.extensions)),
  },
  {
    id: 'chunk-extension-limit',
    direction: 'ours-refuses',
    codes: ['CHUNK_EXTENSIONS_TOO_LARGE'],
    reason:
      'Trellis bounds chunk-extension bytes per message (16 KiB, names and values counted as node:http counts ' +
      'them); node:http (CVE-2024-22019) bounds them per chunk, its counter reset at each chunk header, so ' +
      'several chunks each under 16 KiB pass there. Extensions carry nothing the proxy forwards.',
    applies: (c) => extensionBytes(c.raw) > (c.limits.maxChunkExtensionBytes ?? 16 * 1024),
  },
  {
    id: 'forbidden-trailer',
    direction: 'ours-refuses',
    codes: ['FORBIDDEN_TRAILER'],
    reason:
      'RFC 9110 §6.5.1: framing (Content-Length, Transfer-Encoding), routing (Host) and connection fields must not ' +
      'be in trailers; a recipient that merged them would learn a length or a host after the fact. llhttp ' +
      'refuses Content-Length and Transfer-Encoding there (as a side effect of its framing checks) and takes the rest.',
    applies: (c) =>
      c.message?.trailers.some((t, i) => i % 2 === 0 && FORBIDDEN_TRAILERS.has(t.toLowerCase())) === true,
  },
  {
    id: 'keep-alive-and-close',
    direction: 'ours-refuses',
    codes: ['DATA_AFTER_CLOSE'],
    reason:
      'RFC 9112 §9.3: with the "close" connection option the connection does not persist, whatever else the ' +
      'Connection field lists. llhttp keeps an HTTP/1.0 connection open when it also says keep-alive, and reads ' +
      'the next request; Trellis treats that request as data after close.',
    applies: (c) => {
      const p = c.previous;
      if (p === undefined || p.version !== '1.0') return false;
      const tokens = fieldValues(p, 'connection')
        .join(',')
        .split(',')
        .map((t) => t.trim().toLowerCase());
      return tokens.includes('close') && tokens.includes('keep-alive');
    },
  },
  {
    id: 'htab-after-framing-token',
    direction: 'ours-accepts',
    codes: ['HPE_INVALID_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING'],
    reason:
      'RFC 9110 §5.6.3: OWS is SP or HTAB, and a field value does not include the OWS around it (§5.5), so ' +
      '"Content-Length: 5<HTAB>" is 5 and "Transfer-Encoding: chunked<HTAB>" is chunked. llhttp 9.3 (Node 20) ' +
      'skips only SP after the number or the `chunked` token and refuses the HTAB. Trellis re-frames every body ' +
      'it forwards, so nothing downstream ever sees the HTAB.',
    applies: (c) =>
      /\r\n(content-length|transfer-encoding):[ \t]*[0-9A-Za-z]+[ \t]*\t[ \t]*\r\n/i.test(head(c.raw)),
  },
  ...connectionTokenHtab(),
];

export function classify(direction: Divergence['direction'], c: DivergenceContext): string | null {
  const code = direction === 'ours-refuses' ? c.ours : direction === 'ours-accepts' ? c.llhttp : '*';
  if (code === null) return null;
  for (const d of DIVERGENCES) {
    if (d.direction === direction && (d.codes.includes(code) || d.codes.includes('*')) && d.applies(c))
      return d.id;
  }
  return null;
}

export interface ResponseContext {
  ours: string | null;
  /** undici's err.code (or name) when it refused, null when it accepted. */
  undici: string | null;
  /** The response undici accepted and Trellis did not, or the other way round. */
  response: { status: number; headers: string[]; trailers: string[] } | undefined;
  /** The stream from where that response starts. */
  raw: Buffer;
  method: string;
}

export interface ResponseDivergence {
  id: string;
  /** reads-differently: both accept the response, with different bodies. */
  direction: 'ours-refuses' | 'ours-accepts' | 'reads-differently';
  codes: readonly string[];
  reason: string;
  applies(c: ResponseContext): boolean;
}

const statusLine = (raw: Buffer): string => requestLine(raw);

function responseFields(c: ResponseContext, lowerName: string): string[] {
  if (c.response === undefined) return [];
  const out: string[] = [];
  for (let i = 0; i + 1 < c.response.headers.length; i += 2) {
    if ((c.response.headers[i] as string).toLowerCase() === lowerName)
      out.push(c.response.headers[i + 1] as string);
  }
  return out;
}

/** As for requests, where llhttp in undici is the reference; and two policies of undici's client itself. */
export const RESPONSE_DIVERGENCES: readonly ResponseDivergence[] = [
  {
    id: 'transfer-coding',
    direction: 'ours-refuses',
    codes: ['UNSUPPORTED_TRANSFER_CODING', 'INVALID_TRANSFER_ENCODING', 'TRANSFER_ENCODING_IN_HTTP10'],
    reason:
      'RFC 9112 §6.3 lets a response with a coding other than a final chunked be read until close, and llhttp ' +
      'does; Trellis does not pass on a body whose coding it cannot frame for its client, and refuses (502) ' +
      'chunked twice, a coding before chunked, and Transfer-Encoding in HTTP/1.0 (§6.1) as for requests.',
    applies: (c) => {
      const values = responseFields(c, 'transfer-encoding');
      if (values.length === 0) return false;
      if (/^HTTP\/1\.0 /.test(statusLine(c.raw))) return true;
      const elements = values
        .join(',')
        .split(',')
        .map((e) => e.trim().toLowerCase());
      return elements.length !== 1 || elements[0] !== 'chunked';
    },
  },
  {
    id: 'http-version',
    direction: 'ours-refuses',
    codes: ['VERSION_NOT_SUPPORTED', 'INVALID_VERSION'],
    reason:
      'Only HTTP/1.0 and HTTP/1.1 (RFC 9112 §2.3); llhttp also takes HTTP/0.9, HTTP/2.0, RTSP and ICE status lines.',
    applies: (c) => !/^HTTP\/1\.[01] /.test(statusLine(c.raw)),
  },
  {
    id: 'reason-phrase',
    direction: 'ours-refuses',
    codes: ['INVALID_START_LINE'],
    reason:
      'RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); llhttp takes any byte but CR and LF.',
    applies: (c) => {
      const line = statusLine(c.raw);
      if (!/^HTTP\/1\.[01] \d{3} /.test(line)) return false;
      for (let i = 13; i < line.length; i++) {
        const code = line.charCodeAt(i);
        if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
      }
      return false;
    },
  },
  {
    id: 'status-code',
    direction: 'ours-refuses',
    codes: ['INVALID_STATUS'],
    reason:
      'RFC 9110 §15: status codes are 100 to 599 (three digits, the first 1 to 5); llhttp takes 000 to 999.',
    applies: (c) => c.response !== undefined && c.response.status < 100,
  },
  {
    id: 'chunk-size-digits',
    direction: 'ours-refuses',
    codes: ['CHUNK_SIZE_TOO_LARGE'],
    reason: 'As for requests.',
    applies: (c) => chunkLines(c.raw).some((l) => l.size.length > 16),
  },
  {
    id: 'chunk-extension-syntax',
    direction: 'ours-refuses',
    codes: ['INVALID_CHUNK_EXTENSION'],
    reason: 'As for requests.',
    applies: (c) => chunkLines(c.raw).some((l) => !STRICT_EXTENSIONS.test(l.extensions)),
  },
  {
    id: 'chunk-extension-limit',
    direction: 'ours-refuses',
    codes: ['CHUNK_EXTENSIONS_TOO_LARGE'],
    reason: 'Trellis bounds chunk extensions per message (16 KiB) in responses too; undici has no bound.',
    applies: (c) => extensionBytes(c.raw) > 16 * 1024,
  },
  {
    id: 'forbidden-trailer',
    direction: 'ours-refuses',
    codes: ['FORBIDDEN_TRAILER'],
    reason: 'As for requests.',
    applies: (c) =>
      c.response?.trailers.some((t, i) => i % 2 === 0 && FORBIDDEN_TRAILERS.has(t.toLowerCase())) === true,
  },
  {
    id: 'htab-after-framing-token',
    direction: 'reads-differently',
    codes: ['*'],
    reason:
      'As for requests: "Transfer-Encoding: chunked<HTAB>" is chunked (RFC 9110 §5.6.3). llhttp 9.3 misses the ' +
      'chunked and, in a response, reads the body until close (RFC 9112 §6.3) instead of refusing it.',
    applies: (c) => /\r\ntransfer-encoding:[ \t]*chunked[ \t]*\t[ \t]*\r\n/i.test(head(c.raw)),
  },
  {
    id: 'htab-after-framing-token',
    direction: 'ours-refuses',
    codes: ['*'],
    reason:
      'The same, when the chunked body is then malformed or cut short: Trellis refuses it, llhttp has taken the ' +
      'bytes for a body read until close.',
    applies: (c) => /\r\ntransfer-encoding:[ \t]*chunked[ \t]*\t[ \t]*\r\n/i.test(head(c.raw)),
  },
  {
    id: 'htab-after-framing-token',
    direction: 'ours-accepts',
    // undici reports a parse error in a Content-Length it has seen as a length mismatch, and some parse errors
    // without llhttp's code.
    codes: [
      'HPE_INVALID_CONTENT_LENGTH',
      'HPE_INVALID_TRANSFER_ENCODING',
      'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
      'HTTPParserError',
    ],
    reason: 'As for requests.',
    applies: (c) =>
      /\r\n(content-length|transfer-encoding):[ \t]*[0-9A-Za-z]+[ \t]*\t[ \t]*\r\n/i.test(head(c.raw)),
  },
  {
    id: 'interim-100',
    direction: 'ours-accepts',
    codes: ['UND_ERR_SOCKET'],
    reason:
      'undici (the client, not its parser) refuses a 100 Continue to a request that did not send Expect; the ' +
      'parser passes every 1xx on as interim (RFC 9110 §15.2: a client MUST be able to parse one it did not ' +
      'expect) and leaves what to do with it to the connection.',
    applies: (c) => /^HTTP\/1\.[01] 100[ \r]/.test(statusLine(c.raw)),
  },
  {
    id: 'bodiless-content-length',
    direction: 'ours-accepts',
    codes: ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH'],
    reason:
      'A 204 or 304 has no body whatever its Content-Length (RFC 9110 §6.4.1; a 304 may send the length of the ' +
      'representation, §8.6); undici checks the length against the body it got and refuses.',
    applies: (c) => c.response !== undefined && (c.response.status === 204 || c.response.status === 304),
  },
];

export function classifyResponse(
  direction: ResponseDivergence['direction'],
  c: ResponseContext,
): string | null {
  const code = direction === 'ours-refuses' ? c.ours : direction === 'ours-accepts' ? c.undici : '*';
  if (code === null) return null;
  for (const d of RESPONSE_DIVERGENCES) {
    if (d.direction === direction && (d.codes.includes(code) || d.codes.includes('*')) && d.applies(c))
      return d.id;
  }
  return null;
}
