/** Fields: the overlay header view over a parsed head (look-ups, edits, Node-style joins, validation). */
import { describe, expect, it } from 'vitest';
import { Fields, headerName, InvalidFieldError } from '../../src/http1/fields.ts';
import {
  bit,
  F_CONNECTION,
  F_HOST,
  F_TE,
  F_X_REQUEST_ID,
  F_X_TRELLIS,
  HOP_BY_HOP_MASK,
} from '../../src/http1/lookup.ts';
import { RequestParser } from '../../src/http1/parser.ts';
import { LIMITS, parsedFields as parsed, recorder } from './support/events.ts';

describe('Fields', () => {
  it('looks fields up by name, case-insensitively, joined as node:http joins them', () => {
    const f = parsed(
      'Host: a\r\nAccept: x\r\naccept: y\r\nCookie: a=1\r\nCOOKIE: b=2\r\nSet-Cookie: s=1\r\nSet-Cookie: s=2\r\n' +
        'Content-Type: text/a\r\nContent-Type: text/b\r\nX-Trellis-Source: svc\r\nX-Trellis-Other: o',
    );
    expect(f.get('host')).toBe('a');
    expect(f.get('accept')).toBe('x, y');
    expect(f.get('cookie')).toBe('a=1; b=2');
    expect(f.get('set-cookie')).toBe('s=1');
    expect(f.get('content-type')).toBe('text/a');
    expect(f.get('x-trellis-source')).toBe('svc');
    expect(f.get('x-trellis-other')).toBe('o');
    expect(f.get('missing')).toBeUndefined();
    expect(f.getAll('set-cookie')).toEqual(['s=1', 's=2']);
    expect(f.getAll('accept')).toEqual(['x', 'y']);
    expect(f.has('ACCEPT'.toLowerCase())).toBe(true);
    expect(f.has('nope')).toBe(false);
    expect(f.hasKnown(F_HOST)).toBe(true);
    expect(f.getKnown(F_HOST)).toBe('a');
    expect(f.hasKnown(F_X_REQUEST_ID)).toBe(false);
    expect(f.size).toBe(11);
  });

  it('records edits as an overlay: set replaces every field of the name, append adds, delete removes', () => {
    const f = parsed('Host: a\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3');
    f.set('X-A', 'new');
    expect(f.getAll('x-a')).toEqual(['new']);
    f.append('x-b', '4');
    expect(f.get('x-b')).toBe('3, 4');
    f.delete('x-b');
    expect(f.has('x-b')).toBe(false);
    f.append('X-Request-Id', 'r1');
    expect(f.getKnown(F_X_REQUEST_ID)).toBe('r1');
    expect(f.size).toBe(3);
    expect(f.toObject()).toEqual({ host: 'a', 'x-a': 'new', 'x-request-id': 'r1' });
  });

  it('keeps added fields in order past the room made for them, through removals and clones', () => {
    const f = parsed('Host: a');
    for (let i = 0; i < 12; i++) f.append(`X-F${i}`, String(i));
    f.delete('x-f3');
    f.setOwn(headerName('x-f7'), 'seven');
    f.appendOwn(headerName('x-request-id'), 'r');
    const copy = f.clone();
    f.delete('x-f0');
    expect(f.size).toBe(12);
    expect(copy.size).toBe(13);
    expect(copy.get('x-f0')).toBe('0');
    expect(f.has('x-f0')).toBe(false);
    expect(f.hasKnown(F_X_REQUEST_ID)).toBe(true);
    const names: string[] = [];
    f.forEach((name, value) => {
      names.push(`${name}=${value}`);
    });
    expect(names).toEqual([
      'host=a',
      ...[1, 2, 4, 5, 6, 8, 9, 10, 11].map((i) => `x-f${i}=${i}`),
      'x-f7=seven',
      'x-request-id=r',
    ]);
  });

  it('deletes by known-name mask, raw and added fields alike, never the unknown ones', () => {
    const f = parsed('Host: a\r\nConnection: close\r\nTE: trailers\r\nX-Trellis-Source: s\r\nX-Other: o');
    f.append('x-trellis-peer-identity', 'p');
    f.deleteKnown(HOP_BY_HOP_MASK | bit(F_X_TRELLIS) | 1);
    expect(f.toObject()).toEqual({ host: 'a', 'x-other': 'o' });
    expect(f.hasKnown(F_CONNECTION)).toBe(false);
    expect(f.hasKnown(F_TE)).toBe(false);
  });

  it('visits every field in order with lowercase names', () => {
    const f = parsed('Host: a\r\nX-A: 1');
    f.append('X-Added', '2');
    const seen: string[] = [];
    f.forEach((name, value) => {
      seen.push(`${name}=${value}`);
    });
    expect(seen).toEqual(['host=a', 'x-a=1', 'x-added=2']);
  });

  it('clones independently', () => {
    const f = parsed('Host: a\r\nX-A: 1');
    const c = f.clone();
    c.delete('x-a');
    c.set('host', 'b');
    expect(f.toObject()).toEqual({ host: 'a', 'x-a': '1' });
    expect(c.toObject()).toEqual({ host: 'b' });
  });

  it('builds local messages from objects and flat lists; set-cookie stays an array in toObject', () => {
    expect(Fields.of({ 'Content-Type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }).toObject()).toEqual({
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(Fields.of(['X-A', '1', 'x-a', '2']).get('x-a')).toBe('1, 2');
  });

  it('refuses values with CR, LF, NUL or other controls, and names that are not tokens', () => {
    const f = Fields.of({});
    for (const value of ['a\r\nInjected: 1', 'a\nb', 'a\rb', 'a\x00b', 'a\x7f', 'a\x01', 'snowman ☃']) {
      expect(() => f.set('x', value), JSON.stringify(value)).toThrow(InvalidFieldError);
      expect(() => f.append('x', value)).toThrow(InvalidFieldError);
    }
    for (const name of ['', 'a b', 'a:b', 'a\r\nb', 'é'])
      expect(() => f.set(name, 'v')).toThrow(InvalidFieldError);
    try {
      f.set('x', '\r\n');
    } catch (e) {
      expect((e as InvalidFieldError).error.code).toBe('INVALID_FIELD');
    }
    f.set('x', 'tab\tand obs-text \xe9 ok');
    expect(f.get('x')).toBe('tab\tand obs-text \xe9 ok');
  });

  it('copies the offsets, so the parser reusing its head does not change a kept Fields', () => {
    const kept: Fields[] = [];
    const { events } = recorder();
    const parser = new RequestParser(LIMITS, { ...events, onHead: (h) => kept.push(Fields.from(h)) });
    parser.execute(
      Buffer.from('GET / HTTP/1.1\r\nHost: one\r\nX: 1\r\n\r\nGET / HTTP/1.1\r\nHost: two\r\n\r\n'),
    );
    expect(kept.map((f) => f.toObject())).toEqual([{ host: 'one', x: '1' }, { host: 'two' }]);
  });
  it('looks up, sets and deletes by a name resolved once as it does by the name itself', () => {
    const f = Fields.of(['Host', 'svc', 'X-Trellis-Source', 'a', 'X-Other', '1', 'x-other', '2']);
    for (const name of ['host', 'x-trellis-source', 'x-other', 'x-missing']) {
      expect(f.getNamed(headerName(name))).toBe(f.get(name));
      expect(f.hasNamed(headerName(name))).toBe(f.has(name));
    }
    f.setOwn(headerName('x-trellis-source'), 'b');
    f.deleteNamed(headerName('x-other'));
    expect(f.toObject()).toEqual({ host: 'svc', 'x-trellis-source': 'b' });
    expect(() => headerName('X-Upper')).toThrow(InvalidFieldError);
    expect(() => headerName('bad name')).toThrow(InvalidFieldError);
  });
});
