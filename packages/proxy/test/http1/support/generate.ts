/**
 * Byte streams for differential testing of the HTTP/1.1 codec: valid requests and responses of many shapes, and
 * mutations for every request-smuggling and response-splitting class the parser must refuse, each stream cut
 * at random points into the pieces a peer would write. Everything comes from one seeded generator, so a case is
 * reproduced from its seed alone.
 */
import { mulberry32 } from '../../../src/rng.ts';

export type Rng = () => number;

export interface Gen {
  rng: Rng;
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export function gen(seed: number): Gen {
  const rng = mulberry32(seed);
  return {
    rng,
    int: (lo, hi) => lo + Math.floor(rng() * (hi - lo + 1)),
    chance: (p) => rng() < p,
    pick: (items) => items[Math.floor(rng() * items.length)] as never,
  };
}

export interface StreamCase {
  /** The seed that regenerates this case. */
  seed: number;
  bytes: Buffer;
  /** Where the stream is cut into writes (increasing offsets strictly inside the stream). */
  cuts: number[];
  /** The mutations applied, for statistics. */
  tags: string[];
}

/** Splits at 0 to 5 random points, half the time one of them inside the first head. */
export function cutPoints(g: Gen, length: number): number[] {
  if (length < 2) return [];
  const n = g.int(0, 5);
  const cuts = new Set<number>();
  for (let i = 0; i < n; i++) cuts.add(g.int(1, length - 1));
  if (g.chance(0.5)) cuts.add(g.int(1, Math.min(length - 1, 60)));
  return [...cuts].sort((a, b) => a - b);
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PATH_CHARS = `${ALNUM}-._~!$&'()*+,;=:@%/`;
const ODD_TARGET_CHARS = '"<>\\^`{|}[]#?';
const TOKEN_CHARS = `${ALNUM}!#$%&'*+-.^_\`|~`;
const VALUE_CHARS = `${ALNUM} -_.,;:=/()[]{}"'!?@#$%^&*+<>|~\`\\`;

function str(g: Gen, chars: string, lo: number, hi: number): string {
  let s = '';
  const n = g.int(lo, hi);
  for (let i = 0; i < n; i++) s += chars[g.int(0, chars.length - 1)];
  return s;
}

function randomBytes(g: Gen, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(g.int(0, 255));
  return s;
}

const COMMON_METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'];
const RARE_METHODS = ['PROPFIND', 'M-SEARCH', 'QUERY', 'MKCOL', 'PURGE', 'REPORT', 'SOURCE', 'TRACE', 'LINK'];
const BAD_METHODS = ['get', 'FOO', 'G(T', 'GE T', 'DESCRIBE', 'PRI', '', 'GET\x00', 'G\x7fT', 'GÉT'];

const HEADER_NAMES = [
  'User-Agent',
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Cookie',
  'Content-Type',
  'X-Request-Id',
  'traceparent',
  'X-Forwarded-For',
  'Authorization',
  'Cache-Control',
  'x-custom',
  'X-Trellis-Source',
  'If-None-Match',
  'Referer',
  'Set-Cookie',
  'Via',
  'Forwarded',
  'TE',
  'Keep-Alive',
  'Trailer',
];

function headerValue(g: Gen): string {
  if (g.chance(0.05)) return '';
  let v = str(g, VALUE_CHARS, 1, 40).trim();
  if (g.chance(0.05)) v = `${v}\t${str(g, ALNUM, 1, 5)}`;
  if (g.chance(0.03)) v += String.fromCharCode(g.int(0x80, 0xff));
  return v;
}

/** A field line; `sep` is what goes between the colon and the value (OWS variants are all valid). */
function line(g: Gen, name: string, value: string): string {
  const sep = g.chance(0.85) ? ': ' : g.pick([':', ':  ', ':\t', ': \t']);
  const tail = g.chance(0.9) ? '' : g.pick([' ', '\t', '  ']);
  return `${name}${sep}${value}${tail}\r\n`;
}

function randomCase(g: Gen, name: string): string {
  const chars = name.split('');
  return chars.map((c) => (g.chance(0.3) ? c.toUpperCase() : g.chance(0.3) ? c.toLowerCase() : c)).join('');
}

function originTarget(g: Gen): string {
  let t = '/';
  if (g.chance(0.8)) t += str(g, PATH_CHARS, 0, 30);
  if (g.chance(0.3)) t += `?${str(g, PATH_CHARS, 0, 20)}`;
  if (g.chance(0.05)) t += str(g, ODD_TARGET_CHARS, 1, 3);
  if (g.chance(0.03)) t += `#${str(g, ALNUM, 0, 5)}`;
  return t;
}

function hostName(g: Gen): string {
  return g.pick(['example.com', 'svc', 'a.b.c', 'localhost', '127.0.0.1', '[::1]', 'xn--bcher-kva.example']);
}

function authority(g: Gen): string {
  return hostName(g) + (g.chance(0.5) ? `:${g.int(1, 65535)}` : '');
}

interface TargetChoice {
  target: string;
  tags: string[];
}

function target(g: Gen, method: string): TargetChoice {
  if (g.chance(0.06)) {
    const bad = g.pick([
      ['ftp://example.com/', 'target-scheme'],
      ['http://user@example.com/', 'target-userinfo'],
      ['http://', 'target-empty-authority'],
      ['http:/x', 'target-scheme'],
      ['example.com:80', 'target-authority-form'],
      ['x', 'target-form'],
      ['*', 'target-asterisk'],
      ['*x', 'target-asterisk'],
      [`/a${String.fromCharCode(g.pick([0, 1, 9, 0x0b, 0x7f, 0x80, 0xe9, 0xff]))}b`, 'target-bad-byte'],
      ['http://a#b', 'target-fragment-authority'],
      ['http://a|b/', 'target-bad-authority'],
      ['/', 'target-ok'],
    ] as const);
    return { target: bad[0], tags: [bad[1]] };
  }
  if (method === 'CONNECT') return { target: `${hostName(g)}:${g.int(1, 65535)}`, tags: [] };
  if (method === 'OPTIONS' && g.chance(0.4)) return { target: '*', tags: [] };
  if (g.chance(0.08)) {
    const scheme = g.pick(['http', 'https', 'HTTP', 'Https']);
    return {
      target: `${scheme}://${authority(g)}${g.chance(0.8) ? originTarget(g) : ''}`,
      tags: ['absolute-form'],
    };
  }
  return { target: originTarget(g), tags: [] };
}

interface Framing {
  lines: string[];
  body: string;
  tags: string[];
  /** Upgrade-like messages end the HTTP part of a stream. */
  last?: boolean;
}

function chunkSize(g: Gen, n: number, tags: string[]): string {
  let hex = n.toString(16);
  if (g.chance(0.3)) hex = hex.toUpperCase();
  if (g.chance(0.03)) {
    tags.push('chunk-size-zeros');
    hex = '0'.repeat(g.int(1, 20)) + hex;
  }
  return hex;
}

function extension(g: Gen, tags: string[]): string {
  if (g.chance(0.8)) return '';
  if (g.chance(0.7)) {
    let ext = '';
    for (let i = g.int(1, 3); i > 0; i--) {
      ext += `;${str(g, TOKEN_CHARS, 1, 8)}`;
      if (g.chance(0.5))
        ext += `=${g.chance(0.5) ? str(g, TOKEN_CHARS, 1, 8) : `"${str(g, 'ab c\\"', 0, 6).replace(/\\$/, '')}"`}`;
    }
    if (/\\"$|\\"[;"]|""/.test(ext) || /"[^"]*$/.test(ext)) tags.push('chunk-ext-quotes');
    return ext;
  }
  const bad = g.pick([
    '; a=b',
    ';a =b',
    ';a= b',
    ';=b',
    ';a=',
    ';a=b"c"',
    ';a="x',
    ';a="\x01"',
    ';a\x00',
    ';',
    ';;a',
    ';a=b;',
    ' ;a',
    `;a=${'x'.repeat(17_000)}`,
    `;a=${'x'.repeat(8000)};b=${'y'.repeat(8000)}`,
  ]);
  tags.push('chunk-ext-bad');
  return bad;
}

function chunkedBody(g: Gen, tags: string[]): string {
  let out = '';
  const chunks = g.int(0, 4);
  for (let i = 0; i < chunks; i++) {
    const n = g.int(1, g.chance(0.1) ? 5000 : 40);
    const data = randomBytes(g, n);
    out += `${chunkSize(g, n, tags)}${extension(g, tags)}\r\n${data}`;
    if (g.chance(0.02)) {
      tags.push('chunk-end-bad');
      out += g.pick(['\n', '\r', 'X\r\n', '', '\r\r\n']);
    } else out += '\r\n';
  }
  if (g.chance(0.02)) {
    tags.push('chunk-size-bad');
    out += `${g.pick(['0x5', '-1', ' 5', '5 ', '5\t', 'g', '', 'FFFFFFFFFFFFFFFFF', '20000000000000', '5\n'])}\r\nhello\r\n`;
  }
  out += `${g.chance(0.05) ? '000' : '0'}${extension(g, tags)}\r\n`;
  if (g.chance(0.15)) {
    for (let i = g.int(1, 3); i > 0; i--) {
      if (g.chance(0.15)) {
        tags.push('trailer-forbidden');
        out += line(
          g,
          g.pick([
            'Host',
            'Content-Length',
            'Transfer-Encoding',
            'Connection',
            'TE',
            'Trailer',
            'Upgrade',
            'Keep-Alive',
            'Expect',
          ]),
          g.pick(['5', 'chunked', 'x', 'close']),
        );
      } else if (g.chance(0.05)) {
        tags.push('trailer-bad');
        out += g.pick(['X: a\r\n b\r\n', 'X : a\r\n', 'X: a\x00\r\n', 'X: a\n']);
      } else out += line(g, g.pick(['X-Checksum', 'grpc-status', 'Server-Timing', 'x-t']), headerValue(g));
    }
  }
  if (g.chance(0.02)) {
    tags.push('trailer-end-bad');
    out += '\n';
  } else out += '\r\n';
  return out;
}

/** The framing fields and body of a request; most are valid, the rest one smuggling shape each. */
function requestFraming(g: Gen, method: string, v10: boolean): Framing {
  const tags: string[] = [];
  const roll = g.rng();
  if (roll < 0.45 || method === 'CONNECT') {
    if (g.chance(0.1)) return { lines: [line(g, 'Content-Length', '0')], body: '', tags };
    return { lines: [], body: '', tags };
  }
  if (roll < 0.72) {
    const n = g.int(0, g.chance(0.1) ? 20_000 : 50);
    return { lines: [line(g, randomCase(g, 'Content-Length'), String(n))], body: randomBytes(g, n), tags };
  }
  if (roll < 0.9) {
    const te = g.chance(0.9) ? 'chunked' : randomCase(g, 'chunked');
    const lines = [line(g, randomCase(g, 'Transfer-Encoding'), te)];
    if (v10) tags.push('te-http10');
    return { lines, body: chunkedBody(g, tags), tags };
  }
  const n = g.int(1, 10);
  const body = randomBytes(g, n);
  const shapes: [string, () => Framing][] = [
    [
      'cl-te',
      () => ({
        lines: [line(g, 'Content-Length', String(n)), line(g, 'Transfer-Encoding', 'chunked')],
        body,
        tags,
      }),
    ],
    [
      'te-cl',
      () => ({
        lines: [line(g, 'Transfer-Encoding', 'chunked'), line(g, 'Content-Length', String(n))],
        body,
        tags,
      }),
    ],
    [
      'cl-cl-same',
      () => ({
        lines: [line(g, 'Content-Length', String(n)), line(g, 'Content-Length', String(n))],
        body,
        tags,
      }),
    ],
    [
      'cl-cl-diff',
      () => ({
        lines: [line(g, 'Content-Length', String(n)), line(g, 'Content-Length', String(n + 1))],
        body: `${body}x`,
        tags,
      }),
    ],
    ['cl-list', () => ({ lines: [line(g, 'Content-Length', `${n},${n}`)], body, tags })],
    ['cl-list', () => ({ lines: [line(g, 'Content-Length', `${n}, ${n}`)], body, tags })],
    [
      'cl-bad',
      () => ({
        lines: [
          line(
            g,
            'Content-Length',
            g.pick([`+${n}`, `-${n}`, `${n} ${n}`, `0x${n}`, '', ` ${n}a`, '99999999999999999999', `${n}.0`]),
          ),
        ],
        body,
        tags,
      }),
    ],
    ['cl-leading-zeros', () => ({ lines: [line(g, 'Content-Length', `000${n}`)], body, tags })],
    ...(
      [
        'chunked,',
        ', chunked',
        'chunked, chunked',
        'gzip, chunked',
        'chunked, gzip',
        'xchunked',
        'chunkedx',
        'chunked;a=b',
        'identity',
        'gzip',
        'chunked\t',
        '\tchunked',
        ' chunked ',
        'chunked ,',
        'chunked\x0b',
        '"chunked"',
        'chunked\x00',
        'chu nked',
        '',
        'CHUNKED',
        'gzip ,chunked',
      ] as const
    ).map((te): [string, () => Framing] => [
      'te-value',
      () => ({ lines: [`Transfer-Encoding: ${te}\r\n`], body: chunkedBody(g, tags), tags }),
    ]),
    [
      'te-two-fields',
      () => ({
        lines: [line(g, 'Transfer-Encoding', 'chunked'), line(g, 'Transfer-Encoding', 'chunked')],
        body: chunkedBody(g, tags),
        tags,
      }),
    ],
    [
      'te-two-fields',
      () => ({
        lines: [line(g, 'Transfer-Encoding', 'gzip'), line(g, 'Transfer-Encoding', 'chunked')],
        body: chunkedBody(g, tags),
        tags,
      }),
    ],
    [
      'te-obs-fold',
      () => ({ lines: ['Transfer-Encoding:\r\n chunked\r\n'], body: chunkedBody(g, tags), tags }),
    ],
    [
      'te-obs-fold',
      () => ({ lines: ['Transfer-Encoding: gzip,\r\n chunked\r\n'], body: chunkedBody(g, tags), tags }),
    ],
    [
      'te-space-colon',
      () => ({ lines: ['Transfer-Encoding : chunked\r\n'], body: chunkedBody(g, tags), tags }),
    ],
    [
      'te-name',
      () => ({
        lines: [
          `${g.pick(['Transfer_Encoding', 'Transfer-Encodings', 'Transfer Encoding', 'Transfer-Encoding\x00'])}: chunked\r\n`,
        ],
        body: chunkedBody(g, tags),
        tags,
      }),
    ],
    ['te-bare-lf', () => ({ lines: ['Transfer-Encoding: chunked\n'], body: chunkedBody(g, tags), tags })],
    ['cl-bare-lf', () => ({ lines: [`Content-Length: ${n}\n`], body, tags })],
    ['cl-obs-fold', () => ({ lines: ['Content-Length:\r\n ', `${n}\r\n`], body, tags })],
  ];
  const [tag, make] = g.pick(shapes);
  const framing = make();
  framing.tags.push(tag);
  return framing;
}

function headerMutation(g: Gen, tags: string[]): string {
  const [tag, text] = g.pick([
    ['space-before-colon', 'X-A : b\r\n'],
    ['tab-before-colon', 'X-A\t: b\r\n'],
    ['obs-fold', 'X-A: b\r\n c\r\n'],
    ['obs-fold', 'X-A: b\r\n\tc\r\n'],
    ['bare-lf', 'X-A: b\n'],
    ['bare-cr', 'X-A: b\rc\r\n'],
    ['bare-cr', 'X-A: b\r\r\n'],
    ['nul-value', 'X-A: b\x00c\r\n'],
    ['ctl-value', `X-A: b${String.fromCharCode(g.pick([1, 8, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f]))}c\r\n`],
    [
      'bad-name',
      `X${g.pick(['(', ')', '/', '@', '[', ']', '{', '"', '\x01', '\x7f', 'é', ',', ';'])}A: b\r\n`,
    ],
    ['empty-name', ': b\r\n'],
    ['no-colon', 'X-A b\r\n'],
    ['space-in-name', 'X A: b\r\n'],
    ['leading-space-line', ' X-A: b\r\n'],
  ] as const);
  tags.push(tag);
  return text;
}

export interface RequestOptions {
  maxHeaders: number;
  maxHeadBytes: number;
}

/** One request message; `last` when what follows it is not HTTP (an upgrade or CONNECT tunnel). */
function request(g: Gen, opts: RequestOptions, tags: string[]): { text: string; last: boolean } {
  let method: string;
  const m = g.rng();
  if (m < 0.85) method = g.pick(COMMON_METHODS);
  else if (m < 0.93) method = g.pick(RARE_METHODS);
  else if (m < 0.96) method = 'CONNECT';
  else {
    method = g.pick(BAD_METHODS);
    tags.push('bad-method');
  }
  const t = target(g, method);
  tags.push(...t.tags);
  let version = 'HTTP/1.1';
  const v = g.rng();
  if (v < 0.12) version = 'HTTP/1.0';
  else if (v < 0.15) {
    version = g.pick([
      'HTTP/0.9',
      'HTTP/2.0',
      'HTTP/1.2',
      'HTTP/3.0',
      'RTSP/1.0',
      'ICE/1.0',
      'http/1.1',
      'HTTP/1.10',
      'HTTP/01.1',
      'HTTP/1.1 ',
      'HTTP/1',
      'HTTP/A.1',
      '',
    ]);
    tags.push('version-odd');
  }
  const v10 = version === 'HTTP/1.0';
  let sp1 = ' ';
  let sp2 = ' ';
  if (g.chance(0.02)) {
    tags.push('line-spacing');
    if (g.chance(0.5)) sp1 = g.pick(['  ', '\t', ' \t']);
    else sp2 = g.pick(['  ', '\t', '   ']);
  }
  let text =
    version === '' ? `${method}${sp1}${t.target}\r\n` : `${method}${sp1}${t.target}${sp2}${version}\r\n`;
  if (g.chance(0.01)) {
    tags.push('start-line-lf');
    text = text.replace(/\r\n$/, '\n');
  }
  const lines: string[] = [];
  const hostRoll = g.rng();
  if (hostRoll < (v10 ? 0.5 : 0.95)) lines.push(line(g, randomCase(g, 'Host'), authority(g)));
  else if (hostRoll < 0.97) {
    tags.push('two-hosts');
    lines.push(line(g, 'Host', authority(g)), line(g, 'host', authority(g)));
  } else if (!v10) tags.push('no-host');
  const plain = g.int(0, g.chance(0.05) ? 110 : 6);
  if (plain > opts.maxHeaders - 5) tags.push('many-fields');
  for (let i = 0; i < plain; i++) lines.push(line(g, g.pick(HEADER_NAMES), headerValue(g)));
  if (g.chance(0.02)) {
    tags.push('big-field');
    lines.push(line(g, 'X-Big', 'v'.repeat(g.int(opts.maxHeadBytes - 600, opts.maxHeadBytes + 200))));
  }
  if (g.chance(0.05)) lines.push(line(g, 'Expect', g.pick(['100-continue', '100-Continue', 'x'])));
  let last = false;
  let framing: Framing;
  if (method !== 'CONNECT' && g.chance(0.04)) {
    tags.push('upgrade');
    lines.push(
      line(g, 'Connection', g.pick(['Upgrade', 'upgrade', 'keep-alive, Upgrade'])),
      line(g, 'Upgrade', 'websocket'),
    );
    framing = { lines: g.chance(0.2) ? [line(g, 'Content-Length', '0')] : [], body: '', tags: [] };
    last = true;
  } else {
    framing = requestFraming(g, method, v10);
    if (g.chance(0.12)) {
      const conn = g.pick([
        'close',
        'keep-alive',
        'Keep-Alive',
        'keep-alive, close',
        'close, x-custom',
        'TE',
        'upgrade',
      ]);
      if (conn === 'keep-alive, close') tags.push('keep-alive-and-close');
      lines.push(line(g, 'Connection', conn));
    }
  }
  if (method === 'CONNECT') last = true;
  tags.push(...framing.tags);
  lines.push(...framing.lines);
  for (let i = lines.length - 1; i > 0; i--) {
    const j = g.int(0, i);
    [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
  }
  if (g.chance(0.08)) lines.splice(g.int(0, lines.length), 0, headerMutation(g, tags));
  text += lines.join('');
  if (g.chance(0.01)) {
    tags.push('head-end-lf');
    text += '\n';
  } else text += '\r\n';
  text += framing.body;
  return { text, last };
}

/** A stream of one to three pipelined requests with the odd mutation of the stream itself. */
export function requestCase(seed: number, opts: RequestOptions): StreamCase {
  const g = gen(seed);
  const tags: string[] = [];
  let text = '';
  const count = g.chance(0.7) ? 1 : g.int(2, 3);
  for (let i = 0; i < count; i++) {
    if (g.chance(0.05)) {
      const lead = g.pick(['\r\n', '\r\n\r\n', '\n', '\r', '\n\r\n']);
      if (lead !== '\r\n' && lead !== '\r\n\r\n') tags.push('leading-bare');
      text += lead;
    }
    const r = request(g, opts, tags);
    text += r.text;
    if (r.last) {
      if (g.chance(0.7)) text += randomBytes(g, g.int(1, 30));
      break;
    }
  }
  const mutation = g.rng();
  if (mutation < 0.09) {
    const at = g.int(0, text.length - 1);
    const byte = String.fromCharCode(
      g.chance(0.5) ? g.pick([0, 9, 10, 13, 32, 44, 58, 59, 127, 255]) : g.int(0, 255),
    );
    if (mutation < 0.03) {
      tags.push('byte-flip');
      text = text.slice(0, at) + byte + text.slice(at + 1);
    } else if (mutation < 0.06) {
      tags.push('byte-insert');
      text = text.slice(0, at) + byte + text.slice(at);
    } else {
      tags.push('byte-delete');
      text = text.slice(0, at) + text.slice(at + 1);
    }
  }
  if (g.chance(0.04)) {
    tags.push('truncated');
    text = text.slice(0, g.int(1, Math.max(1, text.length - 1)));
  }
  const bytes = Buffer.from(text, 'latin1');
  return { seed, bytes, cuts: cutPoints(g, bytes.length), tags };
}

export interface ResponseCase extends StreamCase {
  /** The request method the response answers. */
  method: string;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved',
  304: 'Not Modified',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Unavailable',
};

/** One response (after optional 1xx interim ones) to a request with `method`, served then the connection closed. */
export function responseCase(seed: number, _opts: RequestOptions): ResponseCase {
  const g = gen(seed);
  const tags: string[] = [];
  const method = g.pick(['GET', 'GET', 'GET', 'POST', 'HEAD', 'DELETE']);
  let text = '';
  if (g.chance(0.1)) {
    const status = g.pick([100, 102, 103, 103]);
    tags.push(`interim-${status}`);
    text += `HTTP/1.1 ${status} ${g.pick(['Continue', 'Processing', 'Early Hints'])}\r\n`;
    if (status === 103) text += 'Link: </a.css>; rel=preload\r\n';
    text += '\r\n';
  }
  const status = g.pick([200, 200, 200, 201, 204, 301, 304, 404, 500, 503]);
  let version = g.chance(0.9) ? 'HTTP/1.1' : 'HTTP/1.0';
  if (g.chance(0.03)) {
    version = g.pick(['HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.2', 'HTTP/1.1 ', 'ICE/1.0']);
    tags.push('version-odd');
  }
  let statusLine = `${version} ${status} ${REASONS[status] ?? 'X'}\r\n`;
  if (g.chance(0.04)) {
    const [tag, s] = g.pick([
      ['no-reason', `${version} ${status}\r\n`],
      ['empty-reason', `${version} ${status} \r\n`],
      ['reason-obs-text', `${version} ${status} Ok\xe9\r\n`],
      ['reason-ctl', `${version} ${status} O\x01K\r\n`],
      ['status-bad', `${version} ${g.pick(['2000', '20', 'abc', '099', '000'])} OK\r\n`],
      ['status-lf', `${version} ${status} OK\n`],
    ] as const);
    tags.push(tag);
    statusLine = s;
  }
  text += statusLine;
  const lines: string[] = [];
  for (let i = g.int(0, 6); i > 0; i--) lines.push(line(g, g.pick(HEADER_NAMES), headerValue(g)));
  const roll = g.rng();
  let body = '';
  if (roll < 0.45) {
    const n = g.int(0, g.chance(0.1) ? 20_000 : 60);
    lines.push(line(g, 'Content-Length', String(n)));
    body = randomBytes(g, n);
  } else if (roll < 0.75) {
    lines.push(line(g, 'Transfer-Encoding', 'chunked'));
    body = chunkedBody(g, tags);
  } else if (roll < 0.88) {
    tags.push('until-close');
    body = randomBytes(g, g.int(0, 100));
  } else {
    const n = g.int(1, 10);
    const [tag, framing, b] = g.pick([
      ['cl-te', [line(g, 'Content-Length', String(n)), line(g, 'Transfer-Encoding', 'chunked')], '0\r\n\r\n'],
      [
        'cl-cl-diff',
        [line(g, 'Content-Length', String(n)), line(g, 'Content-Length', String(n + 1))],
        randomBytes(g, n + 1),
      ],
      [
        'cl-cl-same',
        [line(g, 'Content-Length', String(n)), line(g, 'Content-Length', String(n))],
        randomBytes(g, n),
      ],
      ['cl-bad', [line(g, 'Content-Length', `${n},${n}`)], randomBytes(g, n)],
      ['te-gzip', [line(g, 'Transfer-Encoding', 'gzip')], randomBytes(g, n)],
      ['te-gzip-chunked', [line(g, 'Transfer-Encoding', 'gzip, chunked')], '0\r\n\r\n'],
      ['te-chunked-chunked', [line(g, 'Transfer-Encoding', 'chunked, chunked')], '0\r\n\r\n'],
      ['obs-fold', ['X-A: b\r\n c\r\n', line(g, 'Content-Length', '0')], ''],
      ['bare-lf', ['X-A: b\n', line(g, 'Content-Length', '0')], ''],
      ['nul-value', ['X-A: b\x00\r\n', line(g, 'Content-Length', '0')], ''],
      ['space-before-colon', ['Content-Length : 0\r\n'], ''],
    ] as const);
    tags.push(tag);
    lines.push(...framing);
    body = b;
  }
  if (g.chance(0.1)) lines.push(line(g, 'Connection', g.pick(['close', 'keep-alive'])));
  text += `${lines.join('')}\r\n${body}`;
  if (g.chance(0.04)) {
    tags.push('truncated');
    text = text.slice(0, g.int(1, Math.max(1, text.length - 1)));
  }
  const bytes = Buffer.from(text, 'latin1');
  return { seed, bytes, cuts: cutPoints(g, bytes.length), tags, method };
}
