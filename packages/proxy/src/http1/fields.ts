/**
 * The header view every stage of the proxy works on instead of a per-request header object. It wraps the raw
 * fields of a parsed head (offsets into the head's bytes) and records edits as an overlay: which raw fields are
 * deleted, which fields were added. Nothing is decoded until asked for, so a request whose headers pass through
 * untouched costs one offsets copy here and one byte copy per run of fields in the serializer, and no string per
 * field. Look-ups by name are linear scans: a head has tens of fields, fewer than a map would pay for.
 *
 * `get` follows Node's `IncomingMessage.headers`, which the stages were written against: repeated fields are
 * joined with ", " ("; " for cookie), set-cookie gives its first value, and for the fields Node keeps once
 * (host, content-type, user-agent, …) the first one wins.
 */
import { FIELD_VALUE, TOKEN } from './chars.ts';
import { REQUEST_ERRORS } from './errors.ts';
import {
  bit,
  CONNECTION_REMOVABLE_MASK,
  classifyName,
  F_CONNECTION,
  F_OTHER,
  F_X_TRELLIS,
  FIELD_STRIDE,
  type FieldList,
  KNOWN_NAMES,
  knownId,
  LOWER,
  latin1,
} from './lookup.ts';

/** Thrown when a name is not a token or a value holds a byte a header may not (CR, LF, NUL, other controls). */
export class InvalidFieldError extends Error {
  readonly code = 'INVALID_FIELD';
  readonly error = REQUEST_ERRORS.INVALID_FIELD;

  constructor(what: string) {
    super(`invalid header field: ${what}`);
    this.name = 'InvalidFieldError';
  }
}

/** Node's "first one wins" fields (lib/_http_incoming.js matchKnownFields). */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** The known names among SINGLE, by id: `get` decides by a bit for them, without hashing the name. */
const SINGLE_KNOWN_MASK = [...SINGLE].reduce((mask, name) => {
  const id = knownId(name);
  return id === F_OTHER ? mask : mask | bit(id);
}, 0);

/**
 * A field name the proxy looks up or writes on every request, resolved once where it is declared: its lowercase
 * form and its known-name id, so that a look-up by it hashes no string.
 */
export interface FieldName {
  readonly lower: string;
  readonly id: number;
}

/** Checked here, once: setOwn and appendOwn write the name as it is. */
export function headerName(lowerName: string): FieldName {
  checkName(lowerName);
  if (asciiLower(lowerName) !== lowerName)
    throw new InvalidFieldError(`name ${JSON.stringify(lowerName)} not lowercase`);
  return { lower: lowerName, id: knownId(lowerName) };
}

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

const EMPTY_BUF = Buffer.alloc(0);
const NO_OFFSETS: readonly number[] = [];

function checkName(name: string): void {
  if (name.length === 0) throw new InvalidFieldError('empty name');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) throw new InvalidFieldError(`name ${JSON.stringify(name)}`);
  }
}

function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) throw new InvalidFieldError(`value of ${name}`);
  }
}

function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

/** Room for this many added fields before `Added.slots` grows: the proxy adds about six to every request. */
const ADDED_ROOM = 8;

/**
 * Fields added through set/append, in order: the name as given, its lowercase form, the value and the known-name
 * id of each, one after another in one array made with room for ADDED_ROOM fields. (Four arrays grown by push cost
 * a request about 780 bytes; this, about 300.)
 */
class Added {
  slots: (string | number)[] = new Array(ADDED_ROOM * 4);
  count = 0;

  name(j: number): string {
    return this.slots[j * 4] as string;
  }
  lower(j: number): string {
    return this.slots[j * 4 + 1] as string;
  }
  value(j: number): string {
    return this.slots[j * 4 + 2] as string;
  }
  id(j: number): number {
    return this.slots[j * 4 + 3] as number;
  }

  push(name: string, lower: string, value: string, id: number): void {
    const at = this.count * 4;
    const slots = this.slots;
    slots[at] = name;
    slots[at + 1] = lower;
    slots[at + 2] = value;
    slots[at + 3] = id;
    this.count++;
  }

  remove(j: number): void {
    this.slots.splice(j * 4, 4);
    this.count--;
  }

  hasLower(lowerName: string): boolean {
    for (let j = 0; j < this.count; j++) if (this.slots[j * 4 + 1] === lowerName) return true;
    return false;
  }

  hasId(id: number): boolean {
    for (let j = 0; j < this.count; j++) if (this.slots[j * 4 + 3] === id) return true;
    return false;
  }

  copy(): Added {
    const copy = new Added();
    copy.slots = this.slots.slice();
    copy.count = this.count;
    return copy;
  }
}

export class Fields {
  private readonly buf: Buffer;
  private readonly raw: readonly number[];
  private readonly rawCount: number;
  private deleted: Uint8Array | null = null;
  private deletedCount = 0;
  private added: Added | null = null;
  /** Lowercase names the raw Connection fields list, computed on first need (undefined: not yet). */
  private listed: string[] | null | undefined = undefined;

  private constructor(buf: Buffer, raw: readonly number[], rawCount: number) {
    this.buf = buf;
    this.raw = raw;
    this.rawCount = rawCount;
  }

  /**
   * Wraps a parsed head's fields: copies their offsets (the parser reuses its array) and keeps `buf`. The copy is
   * a plain array, not a typed one: a typed array over 64 bytes gets its own malloc'd store, which V8 frees only by
   * sweeping, at about ten times the cost of the copy.
   */
  static from(list: FieldList): Fields {
    const n = list.count * FIELD_STRIDE;
    const src = list.fields;
    const raw = new Array<number>(n);
    for (let i = 0; i < n; i++) raw[i] = src[i] as number;
    return new Fields(list.buf, raw, list.count);
  }

  /** Fields made by the proxy: a Node-style object, or a flat [name, value, name, value, …] list. */
  static of(pairs: Record<string, string | string[]> | string[]): Fields {
    const fields = new Fields(EMPTY_BUF, NO_OFFSETS, 0);
    if (Array.isArray(pairs)) {
      for (let i = 0; i + 1 < pairs.length; i += 2) fields.append(pairs[i] as string, pairs[i + 1] as string);
    } else {
      for (const [name, value] of Object.entries(pairs)) {
        if (Array.isArray(value)) for (const v of value) fields.append(name, v);
        else fields.append(name, value);
      }
    }
    return fields;
  }

  get size(): number {
    return this.rawCount - this.deletedCount + (this.added === null ? 0 : this.added.count);
  }

  get(lowerName: string): string | undefined {
    return this.getBy(lowerName, knownId(lowerName));
  }

  /** `get` by a name resolved once (see FieldName). */
  getNamed(name: FieldName): string | undefined {
    return this.getBy(name.lower, name.id);
  }

  private getBy(lowerName: string, id: number): string | undefined {
    const single =
      id !== F_OTHER && id !== F_X_TRELLIS
        ? (SINGLE_KNOWN_MASK & bit(id)) !== 0
        : lowerName === 'set-cookie' || SINGLE.has(lowerName);
    if (single) {
      const i = this.nextRaw(lowerName, id, 0);
      if (i >= 0) return this.rawValue(i);
      const a = this.added;
      if (a !== null) {
        for (let j = 0; j < a.count; j++) if (a.lower(j) === lowerName) return a.value(j);
      }
      return undefined;
    }
    return this.joined(lowerName, id, lowerName === 'cookie' ? '; ' : ', ');
  }

  getAll(lowerName: string): string[] {
    const id = knownId(lowerName);
    const out: string[] = [];
    for (let i = this.nextRaw(lowerName, id, 0); i >= 0; i = this.nextRaw(lowerName, id, i + 1)) {
      out.push(this.rawValue(i));
    }
    const a = this.added;
    if (a !== null) {
      for (let j = 0; j < a.count; j++) if (a.lower(j) === lowerName) out.push(a.value(j));
    }
    return out;
  }

  has(lowerName: string): boolean {
    return this.hasBy(lowerName, knownId(lowerName));
  }

  hasNamed(name: FieldName): boolean {
    return this.hasBy(name.lower, name.id);
  }

  private hasBy(lowerName: string, id: number): boolean {
    if (this.nextRaw(lowerName, id, 0) >= 0) return true;
    return this.added?.hasLower(lowerName) === true;
  }

  /** By known-name id (not F_OTHER or F_X_TRELLIS, which name no single field). */
  hasKnown(id: number): boolean {
    const f = this.raw;
    for (let i = 0; i < this.rawCount; i++) {
      if (f[i * FIELD_STRIDE + 4] === id && !this.isDeleted(i)) return true;
    }
    return this.added?.hasId(id) === true;
  }

  getKnown(id: number): string | undefined {
    return this.getBy(KNOWN_NAMES[id] as string, id);
  }

  /** Replaces every field of that name. */
  set(name: string, value: string): void {
    checkName(name);
    checkValue(name, value);
    const lower = asciiLower(name);
    const id = knownId(lower);
    this.deleteBy(lower, id);
    this.push(name, lower, value, id);
  }

  append(name: string, value: string): void {
    checkName(name);
    checkValue(name, value);
    const lower = asciiLower(name);
    this.push(name, lower, value, knownId(lower));
  }

  /**
   * `set` and `append` without their checks, for the fields the proxy writes on every request (forwarding, request
   * id, trace context): a lowercase token name, and a value made of what the parser already accepted (a field
   * value, the Host) or of what the proxy made itself (addresses, hex ids). Anything else goes through `set`.
   */
  setOwn(name: FieldName, value: string): void {
    this.deleteBy(name.lower, name.id);
    this.push(name.lower, name.lower, value, name.id);
  }

  appendOwn(name: FieldName, value: string): void {
    this.push(name.lower, name.lower, value, name.id);
  }

  delete(lowerName: string): void {
    this.deleteBy(lowerName, knownId(lowerName));
  }

  deleteNamed(name: FieldName): void {
    this.deleteBy(name.lower, name.id);
  }

  private deleteBy(lowerName: string, id: number): void {
    for (let i = this.nextRaw(lowerName, id, 0); i >= 0; i = this.nextRaw(lowerName, id, i + 1))
      this.markDeleted(i);
    const a = this.added;
    if (a === null) return;
    for (let j = a.count - 1; j >= 0; j--) if (a.lower(j) === lowerName) a.remove(j);
  }

  /** Deletes every field whose known-name id is in the mask (bits of F_ ids; F_OTHER's bit is ignored). */
  deleteKnown(mask: number): void {
    const m = mask & ~bit(F_OTHER);
    const f = this.raw;
    for (let i = 0; i < this.rawCount; i++) {
      if ((m & (1 << (f[i * FIELD_STRIDE + 4] as number))) !== 0) this.markDeleted(i);
    }
    const a = this.added;
    if (a === null) return;
    for (let j = a.count - 1; j >= 0; j--) if ((m & (1 << a.id(j))) !== 0) a.remove(j);
  }

  /** Every field in order, raw ones first, names lowercase. Allocates strings: not for the request path. */
  forEach(fn: (lowerName: string, value: string) => void): void {
    for (let i = 0; i < this.rawCount; i++) {
      if (!this.isDeleted(i)) fn(this.rawName(i).toLowerCase(), this.rawValue(i));
    }
    const a = this.added;
    if (a !== null) for (let j = 0; j < a.count; j++) fn(a.lower(j), a.value(j));
  }

  clone(): Fields {
    const copy = new Fields(this.buf, this.raw, this.rawCount);
    copy.deleted = this.deleted === null ? null : this.deleted.slice();
    copy.deletedCount = this.deletedCount;
    copy.listed = this.listed;
    copy.added = this.added === null ? null : this.added.copy();
    return copy;
  }

  /** Node-style: lowercase names, `get` semantics, set-cookie always an array. */
  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    this.forEach((name, _value) => {
      if (name in out) return;
      out[name] = name === 'set-cookie' ? this.getAll(name) : (this.get(name) as string);
    });
    return out;
  }

  /**
   * For the serializer: the bytes `writeTo` writes for the same masks, without its `tail`. Raw fields whose id is
   * in `rawMask`, or whose name the message's Connection field lists, are left out; added fields are left out only
   * by `addedMask`.
   */
  encodedLength(rawMask: number, addedMask: number): number {
    return this.encode(null, 0, rawMask, addedMask, '');
  }

  /**
   * Writes the fields as "name: value\r\n" lines at `offset`, then `tail`; returns the offset after them. A raw
   * field is copied as it arrived, from its name to the end of its value (spelling and the spacing after the colon
   * kept), and consecutive raw lines go in one copy.
   */
  writeTo(target: Buffer, offset: number, rawMask: number, addedMask: number, tail = ''): number {
    return this.encode(target, offset, rawMask, addedMask, tail);
  }

  /** writeTo, or with no target only the count of what it would write. */
  private encode(
    target: Buffer | null,
    offset: number,
    rawMask: number,
    addedMask: number,
    tail: string,
  ): number {
    let o = offset;
    const f = this.raw;
    const buf = this.buf;
    let runStart = -1;
    let runEnd = -1;
    for (let i = 0; i < this.rawCount; i++) {
      if (this.skipRaw(i, rawMask)) continue;
      const at = i * FIELD_STRIDE;
      const ns = f[at] as number;
      const ve = f[at + 3] as number;
      if (runStart >= 0 && adjacent(buf, runEnd, ns)) {
        runEnd = ve;
        continue;
      }
      if (runStart >= 0)
        o = target === null ? o + runEnd - runStart + 2 : copyLine(buf, runStart, runEnd, target, o);
      runStart = ns;
      runEnd = ve;
    }
    if (runStart >= 0)
      o = target === null ? o + runEnd - runStart + 2 : copyLine(buf, runStart, runEnd, target, o);
    const a = this.added;
    if (a !== null) {
      for (let j = 0; j < a.count; j++) {
        if ((addedMask & (1 << a.id(j))) !== 0) continue;
        const name = a.name(j);
        const value = a.value(j);
        if (target === null) {
          o += name.length + value.length + 4;
          continue;
        }
        o = writeLatin1(target, o, name);
        target[o++] = 0x3a;
        target[o++] = 0x20;
        o = writeLatin1(target, o, value);
        target[o++] = 0x0d;
        target[o++] = 0x0a;
      }
    }
    return target === null || tail.length === 0 ? o : writeLatin1(target, o, tail);
  }

  private push(name: string, lower: string, value: string, id: number): void {
    this.added ??= new Added();
    this.added.push(name, lower, value, id);
  }

  private isDeleted(i: number): boolean {
    return this.deleted !== null && this.deleted[i] === 1;
  }

  private markDeleted(i: number): void {
    if (this.deleted === null) this.deleted = new Uint8Array(this.rawCount);
    if (this.deleted[i] === 1) return;
    this.deleted[i] = 1;
    this.deletedCount++;
  }

  private skipRaw(i: number, mask: number): boolean {
    if (this.isDeleted(i)) return true;
    const id = this.raw[i * FIELD_STRIDE + 4] as number;
    if ((mask & (1 << id)) !== 0) return true;
    if ((CONNECTION_REMOVABLE_MASK & (1 << id)) === 0) return false;
    const listed = this.listed === undefined ? this.connectionListed() : this.listed;
    if (listed === null) return false;
    for (const name of listed) if (this.rawNameIs(i, name)) return true;
    return false;
  }

  /**
   * Names the raw Connection fields list as hop-by-hop (RFC 9110 §7.6.1), other than known names: those are
   * handled by id, and a Connection field naming Host or Content-Length must not make the proxy drop them.
   */
  private connectionListed(): string[] | null {
    let listed: string[] | null = null;
    const f = this.raw;
    const buf = this.buf;
    for (let i = 0; i < this.rawCount; i++) {
      const at = i * FIELD_STRIDE;
      if (f[at + 4] !== F_CONNECTION) continue;
      // Tokens are read off the bytes: only a name the proxy does not know already (rare) becomes a string.
      const end = f[at + 3] as number;
      let p = f[at + 2] as number;
      while (p < end) {
        let e = p;
        while (e < end && buf[e] !== 0x2c) e++;
        let s = p;
        let t = e;
        while (s < t && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
        while (t > s && (buf[t - 1] === 0x20 || buf[t - 1] === 0x09)) t--;
        p = e + 1;
        if (s === t) continue;
        if ((CONNECTION_REMOVABLE_MASK & (1 << classifyName(buf, s, t))) === 0) continue;
        if (listed === null) listed = [];
        listed.push(latin1(buf, s, t).toLowerCase());
      }
    }
    this.listed = listed;
    return listed;
  }

  /** The index of the first live raw field at or after `from` with that name, or -1. */
  private nextRaw(lowerName: string, id: number, from: number): number {
    const f = this.raw;
    if (id !== F_OTHER && id !== F_X_TRELLIS) {
      for (let i = from; i < this.rawCount; i++) {
        if (f[i * FIELD_STRIDE + 4] === id && !this.isDeleted(i)) return i;
      }
      return -1;
    }
    for (let i = from; i < this.rawCount; i++) {
      if (f[i * FIELD_STRIDE + 4] === id && !this.isDeleted(i) && this.rawNameIs(i, lowerName)) return i;
    }
    return -1;
  }

  private rawNameIs(i: number, lowerName: string): boolean {
    const f = this.raw;
    const s = f[i * FIELD_STRIDE] as number;
    if ((f[i * FIELD_STRIDE + 1] as number) - s !== lowerName.length) return false;
    const buf = this.buf;
    for (let j = 0; j < lowerName.length; j++) {
      if (LOWER[buf[s + j] as number] !== lowerName.charCodeAt(j)) return false;
    }
    return true;
  }

  private rawName(i: number): string {
    const at = i * FIELD_STRIDE;
    return latin1(this.buf, this.raw[at] as number, this.raw[at + 1] as number);
  }

  private rawValue(i: number): string {
    const at = i * FIELD_STRIDE;
    return latin1(this.buf, this.raw[at + 2] as number, this.raw[at + 3] as number);
  }

  private joined(lowerName: string, id: number, separator: string): string | undefined {
    let out: string | undefined;
    for (let i = this.nextRaw(lowerName, id, 0); i >= 0; i = this.nextRaw(lowerName, id, i + 1)) {
      const v = this.rawValue(i);
      out = out === undefined ? v : out + separator + v;
    }
    const a = this.added;
    if (a !== null) {
      for (let j = 0; j < a.count; j++) {
        if (a.lower(j) !== lowerName) continue;
        const v = a.value(j);
        out = out === undefined ? v : out + separator + v;
      }
    }
    return out;
  }
}

/** Whether the raw line starting at `next` directly follows the line whose value ends at `end` (OWS, CRLF). */
function adjacent(buf: Buffer, end: number, next: number): boolean {
  if (next < end + 2 || buf[next - 2] !== 0x0d || buf[next - 1] !== 0x0a) return false;
  for (let p = end; p < next - 2; p++) if (buf[p] !== 0x20 && buf[p] !== 0x09) return false;
  return true;
}

/**
 * Writes a Latin-1 string at `o`; returns the offset after it. Short ones (names and values the proxy adds, framing
 * lines) are copied in JS: no call into C++, and no string built to join them.
 */
function writeLatin1(target: Buffer, o: number, s: string): number {
  const n = s.length;
  if (n > 64) return o + (target as Latin1Buffer).latin1Write(s, o);
  for (let k = 0; k < n; k++) target[o + k] = s.charCodeAt(k);
  return o + n;
}

function copyLine(src: Buffer, start: number, end: number, target: Buffer, o: number): number {
  const n = end - start;
  if (n < 64) {
    for (let k = 0; k < n; k++) target[o + k] = src[start + k] as number;
  } else {
    src.copy(target, o, start, end);
  }
  target[o + n] = 0x0d;
  target[o + n + 1] = 0x0a;
  return o + n + 2;
}
