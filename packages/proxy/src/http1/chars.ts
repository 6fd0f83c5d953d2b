/**
 * Byte classes of RFC 9110/9112 as 256-entry tables, so that the parser and the serializer check a byte with one
 * indexed load instead of a chain of comparisons, and both sides agree on what a valid byte is.
 */

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const EQUALS = 0x3d;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}

const isAlnum = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** tchar (RFC 9110 §5.6.2): field names, methods, transfer codings, chunk extension names and values. */
export const TOKEN = table((c) => isAlnum(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)));

/** field-vchar / SP / HTAB (RFC 9110 §5.5): every byte but the controls and DEL; obs-text (0x80–0xFF) passes. */
export const FIELD_VALUE = table((c) => c === HTAB || (c >= 0x20 && c !== 0x7f));

/**
 * Bytes a request-target may hold: visible ASCII. Which of them make a valid URI is the caller's business
 * (http-path.ts); what the parser keeps out is whatever could end the target early or mean something else to
 * the next hop: controls, space, DEL and bytes above 0x7F.
 */
export const TARGET = table((c) => c > 0x20 && c < 0x7f);

/**
 * Bytes of an absolute-form authority, as llhttp takes them: unreserved, pct-encoded, sub-delims, ":" and the
 * brackets of an IP literal. "@" is left out: user info in an http(s) URI is refused (RFC 9110 §4.2.4).
 */
export const AUTHORITY = table((c) => isAlnum(c) || "-._~%!$&'()*+,;=:[]".includes(String.fromCharCode(c)));

/** qdtext (RFC 9110 §5.6.4) of a quoted chunk-extension value. */
export const QDTEXT = table(
  (c) =>
    c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80,
);

/** What may follow a backslash in a quoted-pair: HTAB / SP / VCHAR / obs-text. */
export const QUOTED_PAIR = table((c) => c === HTAB || (c >= 0x20 && c !== 0x7f));

/** Hex digit values, -1 for anything else. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}
