/**
 * The request-target normaliser (src/http-path.ts): a table of targets and what each becomes or why it is refused,
 * the bypasses of security issue M8 among them, and a randomised comparison against RFC 3986 §5.2.4's own
 * algorithm that also shows the scan returns a target unchanged only when it is already normal.
 */
import { describe, expect, it } from 'vitest';
import { absoluteTarget, isRefusal, normaliseTarget, sameAuthority } from '../src/http-path.ts';

const norm = (target: string, mergeSlashes = false) => {
  const result = normaliseTarget(target, mergeSlashes);
  return isRefusal(result) ? `400: ${result.refused}` : result;
};

describe('normaliseTarget', () => {
  it.each([
    // Already normal: the very string comes back.
    ['/', '/'],
    ['/admin', '/admin'],
    ['/a/b/c?x=1&y=%zz#', '400: the request target holds a fragment ("#")'],
    ['/a/b/c?x=1&y=%zz', '/a/b/c?x=1&y=%zz'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%20b', '/a%20b'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a..b/..c', '/a..b/..c'],
    ["/a:b@c!$&'()*+,;=~_-", "/a:b@c!$&'()*+,;=~_-"],
    // The attacker's bypasses of a rule for /admin.
    ['/admin#frag', '400: the request target holds a fragment ("#")'],
    ['/%61dmin/x%zz', '400: the request target holds an invalid "%" escape'],
    ['/%61dmin/x', '/admin/x'],
    // Unreserved escapes decode; others stay, upper-cased.
    ['/%7euser/%41%2d%2E%5F', '/~user/A-._'],
    ['/a%2fb%5cc', '/a%2Fb%5Cc'],
    ['/%c3%a9', '/%C3%A9'],
    ['/%', '400: the request target holds an invalid "%" escape'],
    ['/%4', '400: the request target holds an invalid "%" escape'],
    ['/%4?x', '400: the request target holds an invalid "%" escape'],
    ['/%g0', '400: the request target holds an invalid "%" escape'],
    // Dot segments (RFC 3986 §5.2.4), also encoded ones; never above the root; encoded slashes are not separators.
    ['/a/../admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', '/'],
    ['/../../x', '/x'],
    ['/a/b/c/./../../g', '/a/g'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/.%2E/admin?q=1', '/admin?q=1'],
    ['/public/..%2Fadmin', '/public/..%2Fadmin'],
    ['/a//../b', '/a/b'],
    // Backslash is a slash (as Envoy and browsers read it); characters a path may not hold are encoded.
    ['/public\\..\\admin', '/admin'],
    ['/a{b}|c"<>^`[]', '/a%7Bb%7D%7Cc%22%3C%3E%5E%60%5B%5D'],
    // Refused characters, in the path and in the query.
    ['/a b', '400: the request target holds a control, space or non-ASCII character'],
    ['/a\tb', '400: the request target holds a control, space or non-ASCII character'],
    ['/a\u0000', '400: the request target holds a control, space or non-ASCII character'],
    ['/a\u007f', '400: the request target holds a control, space or non-ASCII character'],
    ['/é', '400: the request target holds a control, space or non-ASCII character'],
    ['/a?q=é', '400: the request target holds a control, space or non-ASCII character'],
    ['/a?q=\r', '400: the request target holds a control, space or non-ASCII character'],
    ['/a?q#', '400: the request target holds a fragment ("#")'],
    // Not origin-form.
    ['*', '400: the request target must be a path ("/…") or an absolute "http://" URL'],
    ['admin', '400: the request target must be a path ("/…") or an absolute "http://" URL'],
    ['', '400: the request target must be a path ("/…") or an absolute "http://" URL'],
  ])('%j → %j', (target, expected) => {
    expect(norm(target)).toBe(expected);
  });

  it('merges runs of slashes only when asked, after resolving dots (as Envoy)', () => {
    expect(norm('//admin')).toBe('//admin');
    expect(norm('//admin', true)).toBe('/admin');
    expect(norm('/a///b//?x=//', true)).toBe('/a/b/?x=//');
    expect(norm('/a//..', true)).toBe('/a/');
    expect(norm('/a//b/..', true)).toBe('/a/');
    expect(norm('//', true)).toBe('/');
    expect(norm('/a/b', true)).toBe('/a/b');
  });

  it('returns the very string it was given when the target is already normal', () => {
    const target = `/api/v1/items/${'x'.repeat(20)}?page=2`;
    expect(normaliseTarget(target, true)).toBe(target);
  });
});

describe('absoluteTarget', () => {
  it.each([
    ['http://x/admin', { authority: 'x', target: '/admin' }],
    ['HTTP://Svc:8080/a?b', { authority: 'Svc:8080', target: '/a?b' }],
    ['http://x', { authority: 'x', target: '/' }],
    ['http://x?q=1', { authority: 'x', target: '/?q=1' }],
    ['http://[::1]:80/p', { authority: '[::1]:80', target: '/p' }],
    ['http://x#frag', { refused: 'the request target holds a fragment ("#")' }],
    ['https://x/admin', { refused: 'the request target must be a path ("/…") or an absolute "http://" URL' }],
    ['ftp://x/', { refused: 'the request target must be a path ("/…") or an absolute "http://" URL' }],
    [
      'http:///admin',
      { refused: 'the absolute-form target has an invalid authority (host[:port], no user info)' },
    ],
    [
      'http://user:pw@x/admin',
      { refused: 'the absolute-form target has an invalid authority (host[:port], no user info)' },
    ],
    [
      'http://x:y/',
      { refused: 'the absolute-form target has an invalid authority (host[:port], no user info)' },
    ],
  ])('%j → %j', (target, expected) => {
    expect(absoluteTarget(target)).toEqual(expected);
  });

  it('the rest is then normalised like any origin-form target', () => {
    const abs = absoluteTarget('http://x/a/../%61dmin');
    expect(isRefusal(abs) ? abs : normaliseTarget(abs.target, false)).toBe('/admin');
  });

  it('sameAuthority ignores case and the default port', () => {
    expect(sameAuthority('Svc', 'svc:80')).toBe(true);
    expect(sameAuthority('svc:', 'svc')).toBe(true);
    expect(sameAuthority('svc:8080', 'svc')).toBe(false);
    expect(sameAuthority('evil', 'svc')).toBe(false);
  });
});

/** RFC 3986 §6.2.2 and §5.2.4 written out literally, as the reference the normaliser is held to. */
function reference(path: string, mergeSlashes: boolean): string {
  let text = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i] as string;
    if (ch === '%') {
      const value = Number.parseInt(path.slice(i + 1, i + 3), 16);
      const decoded = String.fromCharCode(value);
      text += /[A-Za-z0-9\-._~]/.test(decoded)
        ? decoded
        : `%${value.toString(16).toUpperCase().padStart(2, '0')}`;
      i += 2;
    } else if (ch === '\\') text += '/';
    else if ('"<>[]^`{|}'.includes(ch)) text += `%${ch.charCodeAt(0).toString(16).toUpperCase()}`;
    else text += ch;
  }
  let input = text;
  let out = '';
  const dropLast = () => {
    out = out.slice(0, Math.max(0, out.lastIndexOf('/')));
  };
  while (input.length > 0) {
    if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      dropLast();
    } else if (input === '/..') {
      input = '/';
      dropLast();
    } else {
      const segment = /^\/?[^/]*/.exec(input)?.[0] ?? '';
      out += segment;
      input = input.slice(segment.length);
    }
  }
  return mergeSlashes ? out.replace(/\/{2,}/g, '/') : out;
}

describe('against RFC 3986, on random paths', () => {
  it('agrees with the reference, and returns a target unchanged only when the reference does not change it', () => {
    const pieces = [
      '/',
      '/',
      '.',
      '..',
      'a',
      'B',
      '%2e',
      '%2E',
      '%2f',
      '%2F',
      '%41',
      '%7e',
      '%c3',
      '\\',
      '{',
      '~',
    ];
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let n = 0; n < 5000; n++) {
      let path = '/';
      const count = 1 + Math.floor(random() * 10);
      for (let i = 0; i < count; i++) path += pieces[Math.floor(random() * pieces.length)];
      for (const merge of [false, true]) {
        const expected = reference(path, merge);
        const got = normaliseTarget(`${path}?q=/../`, merge);
        expect(got, `${path} (merge: ${merge})`).toBe(`${expected}?q=/../`);
        // Normal form is a fixed point.
        expect(normaliseTarget(expected, merge), expected).toBe(expected);
      }
    }
  });
});
