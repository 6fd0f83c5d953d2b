/**
 * The request target as routing, authorization and the upstream all see it. A proxy that matches one spelling of a
 * path and forwards another lets `/%61dmin`, `/a/../admin` or `http://x/admin` past a rule for `/admin`; so the
 * target is checked and normalised once, as Envoy's `normalize_path` does, and only the result is used afterwards.
 *
 * - Origin-form ("/path?query") is the norm; absolute-form ("http://authority/path?query", RFC 9112 §3.2.2) is
 *   split into its authority, which becomes the Host, and an origin-form rest. Other forms are refused.
 * - Refused: a fragment ("#" has no business in a request), an invalid "%" escape, and any control, space or
 *   non-ASCII character (RFC 3986 allows none of them unencoded).
 * - The path (not the query, as in Envoy) is normalised per RFC 3986 §6.2.2: escapes of unreserved characters
 *   are decoded ("%61" → "a", "%2e" → "."), the others upper-cased ("%2f" → "%2F"); characters a path may not hold
 *   unencoded are encoded, except "\", which becomes "/" (as Envoy and browsers read it); then "." and ".."
 *   segments are removed (§5.2.4), and runs of "/" merged if the mesh asks (Envoy's `merge_slashes`, off by
 *   default). Encoded "/" and "\" ("%2F", "%5C") stay encoded, as in Envoy's default (KEEP_UNCHANGED): they are
 *   data inside a segment, not separators.
 *
 * Nothing here knows node:http, so that a raw-socket HTTP engine can use it too. A target that is already normal
 * (nearly every one) is returned as it is, after one scan and without allocating.
 */

/** Why a request target is refused (a 400); the text is the problem document's detail. */
export interface TargetRefusal {
  readonly refused: string;
}

/** An absolute-form target split up: `authority` is the Host the request is for, `target` is origin-form. */
export interface AbsoluteTarget {
  readonly authority: string;
  readonly target: string;
}

const FRAGMENT: TargetRefusal = { refused: 'the request target holds a fragment ("#")' };
const BAD_ESCAPE: TargetRefusal = { refused: 'the request target holds an invalid "%" escape' };
const BAD_CHARACTER: TargetRefusal = {
  refused: 'the request target holds a control, space or non-ASCII character',
};
const NOT_ORIGIN_FORM: TargetRefusal = {
  refused: 'the request target must be a path ("/…") or an absolute "http://" URL',
};
const BAD_AUTHORITY: TargetRefusal = {
  refused: 'the absolute-form target has an invalid authority (host[:port], no user info)',
};

export function isRefusal(value: string | AbsoluteTarget | TargetRefusal): value is TargetRefusal {
  return typeof value === 'object' && 'refused' in value;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const BACKSLASH = 0x5c;

/** What a character of a path is: refused, kept as it is, rewritten (encoded, or "\" → "/"). */
const REFUSE = 0;
const KEEP = 1;
const REWRITE = 2;

const PATH_CLASS = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) PATH_CLASS[c] = KEEP;
for (const c of '"<>[\\]^`{|}') PATH_CLASS[c.charCodeAt(0)] = REWRITE;
PATH_CLASS[HASH] = REFUSE;

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~]/.test(ch)) UNRESERVED[c] = 1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const HEX = '0123456789ABCDEF';

function encoded(c: number): string {
  return `%${HEX[c >> 4]}${HEX[c & 15]}`;
}

/**
 * An origin-form target ("/path?query") normalised, or why it is refused. `target` itself when it is already
 * normal.
 */
export function normaliseTarget(target: string, mergeSlashes: boolean): string | TargetRefusal {
  if (target.charCodeAt(0) !== SLASH) return NOT_ORIGIN_FORM;
  const length = target.length;
  let rewrite = false;
  let segmentStart = 1;
  let i = 1;
  for (; i < length; i++) {
    const c = target.charCodeAt(i);
    if (c === SLASH) {
      if (dotSegment(target, segmentStart, i) || (mergeSlashes && i === segmentStart)) rewrite = true;
      segmentStart = i + 1;
      continue;
    }
    if (c === QUESTION) break;
    if (c === PERCENT) {
      const high = hexValue(target.charCodeAt(i + 1));
      const low = hexValue(target.charCodeAt(i + 2));
      if (high < 0 || low < 0) return BAD_ESCAPE;
      const value = high * 16 + low;
      // A lower-case hex digit, or an escape of an unreserved character: not in normal form.
      if (UNRESERVED[value] === 1 || target.charCodeAt(i + 1) > 0x46 || target.charCodeAt(i + 2) > 0x46) {
        rewrite = true;
      }
      i += 2;
      continue;
    }
    const kind = c < 128 ? PATH_CLASS[c] : REFUSE;
    if (kind === REFUSE) return c === HASH ? FRAGMENT : BAD_CHARACTER;
    if (kind === REWRITE) rewrite = true;
  }
  const pathEnd = i;
  if (dotSegment(target, segmentStart, pathEnd)) rewrite = true;
  for (i = pathEnd + 1; i < length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return BAD_CHARACTER;
    if (c === HASH) return FRAGMENT;
  }
  if (!rewrite) return target;
  const path = rewritePath(target.slice(0, pathEnd), mergeSlashes);
  return pathEnd === length ? path : path + target.slice(pathEnd);
}

function dotSegment(s: string, start: number, end: number): boolean {
  const n = end - start;
  return (
    (n === 1 && s.charCodeAt(start) === DOT) ||
    (n === 2 && s.charCodeAt(start) === DOT && s.charCodeAt(start + 1) === DOT)
  );
}

/** The slow path, for a path the scan found not normal (its escapes are known to be valid). */
function rewritePath(path: string, mergeSlashes: boolean): string {
  let text = '';
  let from = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    let replacement: string;
    if (c === PERCENT) {
      const value = hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2));
      replacement = UNRESERVED[value] === 1 ? String.fromCharCode(value) : encoded(value);
      text += path.slice(from, i) + replacement;
      i += 2;
      from = i + 1;
      continue;
    }
    if (c === BACKSLASH) replacement = '/';
    else if (PATH_CLASS[c] === REWRITE) replacement = encoded(c);
    else continue;
    text += path.slice(from, i) + replacement;
    from = i + 1;
  }
  text += path.slice(from);
  // RFC 3986 §5.2.4 on segments: "." goes, ".." takes the segment before it (never above the root), and either
  // one at the end leaves a trailing "/".
  const parts = text.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const segment = parts[i] as string;
    const last = i === parts.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
    } else out.push(segment);
  }
  // Merged after the dots are resolved, as Envoy does: "/a//.." is "/a/" either way.
  const kept = mergeSlashes ? out.filter((s, i) => s !== '' || i === out.length - 1) : out;
  return `/${kept.join('/')}`;
}

const SCHEME = 'http://';
/** host (reg-name or IP literal), then an optional port. Percent-encoded host names are refused. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]+)(?::[0-9]{0,5})?$/;

/**
 * An absolute-form target ("http://authority/path?query") split into its authority and an origin-form rest ("/"
 * when it has no path), or why it is refused: another scheme, user info, an empty or malformed authority.
 */
export function absoluteTarget(target: string): AbsoluteTarget | TargetRefusal {
  if (target.length < SCHEME.length || target.slice(0, SCHEME.length).toLowerCase() !== SCHEME) {
    return NOT_ORIGIN_FORM;
  }
  let end = SCHEME.length;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === SLASH || c === QUESTION || c === HASH) break;
    end++;
  }
  const authority = target.slice(SCHEME.length, end);
  if (!AUTHORITY.test(authority)) return BAD_AUTHORITY;
  const rest = target.slice(end);
  if (rest.charCodeAt(0) === HASH) return FRAGMENT;
  return { authority, target: rest === '' ? '/' : rest.charCodeAt(0) === QUESTION ? `/${rest}` : rest };
}

/** Whether two authorities (or Host values) name the same http origin: case aside, and ":80" the same as none. */
export function sameAuthority(a: string, b: string): boolean {
  return withoutDefaultPort(a.trim().toLowerCase()) === withoutDefaultPort(b.trim().toLowerCase());
}

function withoutDefaultPort(authority: string): string {
  if (authority.endsWith(':80')) return authority.slice(0, -3);
  return authority.endsWith(':') ? authority.slice(0, -1) : authority;
}
