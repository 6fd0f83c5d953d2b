/**
 * The HTTP/1.1 parsers rule by rule: every refusal code, every request-smuggling shape, pipelining across any
 * cut of the stream, pause/resume/takeRest, upgrades and CONNECT, the response framings (1xx, HEAD, 204, 304,
 * read until close, trailers) and parser reuse.
 */
import { describe, expect, it } from 'vitest';
import { REQUEST_ERRORS, RESPONSE_ERRORS } from '../../src/http1/errors.ts';
import { Fields } from '../../src/http1/fields.ts';
import { rawFields } from '../../src/http1/lookup.ts';
import { type MessageHead, RequestParser, ResponseParser } from '../../src/http1/parser.ts';
import { LIMITS, parseRequests, parseResponses, recorder, refusal, split } from './support/events.ts';
import { gen } from './support/generate.ts';

const req = (head: string, body = ''): string => `${head}\r\n\r\n${body}`;
const get = (fields = 'Host: a'): string => req(`GET / HTTP/1.1\r\n${fields}`);
const post = (fields: string, body: string): string => req(`POST / HTTP/1.1\r\nHost: a\r\n${fields}`, body);

describe('RequestParser: accepted requests', () => {
  it('parses a request into method, target, version, raw fields and framing facts', () => {
    const r = parseRequests(
      req('GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Two:  v  \r\nEmpty:\r\nTab:\ta\tb\t'),
    );
    expect(r.error).toBeNull();
    expect(r.messages).toHaveLength(1);
    const m = r.messages[0];
    expect(m).toMatchObject({
      method: 'GET',
      target: '/a?b=c',
      version: '1.1',
      headers: ['Host', 'example.com', 'X-Two', 'v', 'Empty', '', 'Tab', 'a\tb'],
      contentLength: -1,
      chunked: false,
      keepAlive: true,
      upgrade: false,
      complete: true,
    });
    expect(m?.headBytes).toBe(
      Buffer.byteLength(
        req('GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Two:  v  \r\nEmpty:\r\nTab:\ta\tb\t'),
      ),
    );
  });

  it('keeps obs-text (bytes 0x80–0xFF) in values and names as sent', () => {
    const r = parseRequests(get('hOsT: a\r\nX-Latin: caf\xe9 \xff'));
    expect(r.messages[0]?.headers).toEqual(['hOsT', 'a', 'X-Latin', 'caf\xe9 \xff']);
  });

  it('reads Content-Length bodies, leading zeros included', () => {
    expect(parseRequests(post('Content-Length: 5', 'hello')).messages[0]).toMatchObject({
      body: 'hello',
      contentLength: 5,
    });
    expect(parseRequests(post('Content-Length: 0005', 'hello')).messages[0]?.body).toBe('hello');
    expect(parseRequests(post('Content-Length: 0', '')).messages[0]).toMatchObject({
      body: '',
      complete: true,
    });
  });

  it('reads chunked bodies with extensions and trailers, chunked spelled in any case, OWS around it', () => {
    for (const te of ['chunked', 'Chunked', 'CHUNKED', ' chunked ', 'chunked\t']) {
      const body =
        '5;a=b;c="d \\" e";f\r\nhello\r\nA\r\n0123456789\r\n0;last\r\nX-Check: 1\r\ngrpc-status: 0\r\n\r\n';
      const r = parseRequests(post(`Transfer-Encoding: ${te}`, body));
      expect(r.error, te).toBeNull();
      expect(r.messages[0]).toMatchObject({ body: 'hello0123456789', chunked: true, contentLength: -1 });
      expect(r.messages[0]?.trailers).toEqual(['X-Check', '1', 'grpc-status', '0']);
    }
  });

  it('parses and checks trailers even without onTrailers, then drops them', () => {
    const events = recorder().events;
    const { onTrailers: _, ...rest } = events;
    let completed = 0;
    const parser = new RequestParser(LIMITS, { ...rest, onComplete: () => completed++ });
    parser.execute(Buffer.from(post('Transfer-Encoding: chunked', '0\r\nX: 1\r\n\r\n'), 'latin1'));
    expect(completed).toBe(1);
    let error = '';
    const strict = new RequestParser(LIMITS, { ...rest, onError: (e) => (error = e.code) });
    strict.execute(Buffer.from(post('Transfer-Encoding: chunked', '0\r\nHost: x\r\n\r\n'), 'latin1'));
    expect(error).toBe('FORBIDDEN_TRAILER');
  });

  it('accepts the request-target forms RFC 9112 §3.2 allows', () => {
    expect(refusal(req('GET http://example.com/x HTTP/1.1\r\nHost: example.com'))).toBeNull();
    expect(refusal(req('GET HTTPS://example.com:8443?q HTTP/1.1\r\nHost: example.com'))).toBeNull();
    expect(refusal(req('GET http://[::1]:80/ HTTP/1.1\r\nHost: x'))).toBeNull();
    expect(refusal(req('OPTIONS * HTTP/1.1\r\nHost: a'))).toBeNull();
    expect(refusal(req('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443'))).toBeNull();
    expect(refusal(req('CONNECT [::1]:443 HTTP/1.1\r\nHost: x'))).toBeNull();
    expect(refusal(req('GET /a"<>\\^`{|}#frag?x HTTP/1.1\r\nHost: a'))).toBeNull();
  });

  it('interns the methods it knows, so callers compare them with ===', () => {
    for (const method of [
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'DELETE',
      'OPTIONS',
      'TRACE',
      'PATCH',
      'PROPFIND',
      'M-SEARCH',
    ]) {
      const { events, heads } = recorder();
      new RequestParser(LIMITS, events).execute(Buffer.from(req(`${method} / HTTP/1.1\r\nHost: a`)));
      expect(heads[0]?.method).toBe(method);
    }
  });

  it('decides keep-alive from the version and Connection (close wins)', () => {
    const ka = (version: string, connection?: string): boolean | undefined =>
      parseRequests(
        req(`GET / ${version}\r\nHost: a${connection === undefined ? '' : `\r\nConnection: ${connection}`}`),
      ).messages[0]?.keepAlive;
    expect(ka('HTTP/1.1')).toBe(true);
    expect(ka('HTTP/1.1', 'close')).toBe(false);
    expect(ka('HTTP/1.1', 'Keep-Alive, CLOSE')).toBe(false);
    expect(ka('HTTP/1.0')).toBe(false);
    expect(ka('HTTP/1.0', 'keep-alive')).toBe(true);
    expect(ka('HTTP/1.0', 'keep-alive, close')).toBe(false);
    expect(ka('HTTP/1.1', 'closed')).toBe(true);
  });

  it('sees Expect: 100-continue and upgrade requests', () => {
    expect(
      parseRequests(post('Expect: 100-Continue\r\nContent-Length: 1', 'x')).messages[0]?.expectContinue,
    ).toBe(true);
    expect(
      parseRequests(post('Expect: 100-continuex\r\nContent-Length: 1', 'x')).messages[0]?.expectContinue,
    ).toBe(false);
    expect(
      parseRequests(get('Host: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket')).messages[0]
        ?.upgrade,
    ).toBe(true);
    expect(parseRequests(get('Host: a\r\nUpgrade: websocket')).messages[0]?.upgrade).toBe(false);
    expect(parseRequests(get('Host: a\r\nConnection: upgrade')).messages[0]?.upgrade).toBe(false);
  });

  it('skips empty lines (CRLF) before a request and between pipelined ones', () => {
    const r = parseRequests(`\r\n\r\n${get()}\r\n${get('Host: b')}\r\n\r\n`);
    expect(r.error).toBeNull();
    expect(r.messages.map((m) => m.headers[1])).toEqual(['a', 'b']);
  });

  it('HTTP/1.0 requests need no Host', () => {
    expect(refusal(req('GET / HTTP/1.0'))).toBeNull();
  });

  it('an absolute-form target stands for the Host (as Envoy takes it); origin form without one is refused', () => {
    expect(refusal(req('GET http://x/admin HTTP/1.1'))).toBeNull();
    expect(refusal(req('GET HTTPS://x/ HTTP/1.1'))).toBeNull();
    expect(refusal(req('GET / HTTP/1.1'))).toBe('MISSING_HOST');
  });
});

describe('RequestParser: refusals', () => {
  const cases: [string, string, string][] = [
    ['a method that is not a token', req('G(T / HTTP/1.1\r\nHost: a'), 'INVALID_METHOD'],
    ['whitespace before the method', req(' GET / HTTP/1.1\r\nHost: a'), 'INVALID_METHOD'],
    ['an unknown method', req('FOO / HTTP/1.1\r\nHost: a'), 'UNKNOWN_METHOD'],
    ['a lowercase method', req('get / HTTP/1.1\r\nHost: a'), 'UNKNOWN_METHOD'],
    ['a control byte in the target', req('GET /a\x01b HTTP/1.1\r\nHost: a'), 'INVALID_TARGET'],
    ['HTAB in the target', req('GET /a\tb HTTP/1.1\r\nHost: a'), 'INVALID_TARGET'],
    ['DEL in the target', req('GET /a\x7f HTTP/1.1\r\nHost: a'), 'INVALID_TARGET'],
    ['non-ASCII in the target', req('GET /caf\xe9 HTTP/1.1\r\nHost: a'), 'INVALID_TARGET'],
    ['NUL in the target', req('GET /\x00 HTTP/1.1\r\nHost: a'), 'INVALID_TARGET'],
    ['a scheme other than http(s)', req('GET ftp://a/ HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['user info in absolute-form', req('GET http://u@a/ HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['an empty authority', req('GET http:///x HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['a fragment right after the authority', req('GET http://a#b HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['authority-form without CONNECT', req('GET example.com:80 HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['asterisk-form without OPTIONS', req('GET * HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['an asterisk with more after it', req('OPTIONS *x HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['CONNECT to a path', req('CONNECT /x HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['CONNECT without a port', req('CONNECT example.com HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['a relative target', req('GET x HTTP/1.1\r\nHost: a'), 'TARGET_FORM'],
    ['HTTP/0.9 (no version)', 'GET /\r\n\r\n', 'INVALID_VERSION'],
    ['a lowercase version', req('GET / http/1.1\r\nHost: a'), 'INVALID_VERSION'],
    ['a space after the version', req('GET / HTTP/1.1 \r\nHost: a'), 'INVALID_VERSION'],
    ['RTSP', req('GET / RTSP/1.0\r\nHost: a'), 'INVALID_VERSION'],
    ['a two-digit minor', req('GET / HTTP/1.10\r\nHost: a'), 'INVALID_VERSION'],
    ['HTTP/2.0 in a request line', req('GET / HTTP/2.0\r\nHost: a'), 'VERSION_NOT_SUPPORTED'],
    ['HTTP/0.9 spelled out', req('GET / HTTP/0.9\r\nHost: a'), 'VERSION_NOT_SUPPORTED'],
    ['HTTP/1.2', req('GET / HTTP/1.2\r\nHost: a'), 'VERSION_NOT_SUPPORTED'],
    ['two spaces before the target', req('GET  / HTTP/1.1\r\nHost: a'), 'INVALID_START_LINE'],
    ['two spaces before the version', req('GET /  HTTP/1.1\r\nHost: a'), 'INVALID_VERSION'],
    ['a bare CR in a value', get('Host: a\r\nX: a\rb'), 'BARE_CR'],
    ['CR CR LF after a value', get('Host: a\r\nX: a\r'), 'BARE_CR'],
    ['a bare CR before the request', `\r${get()}`, 'BARE_CR'],
    ['a bare LF after the request line', req('GET / HTTP/1.1\nHost: a'), 'BARE_LF'],
    ['a bare LF after a field', 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', 'BARE_LF'],
    ['a bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'BARE_LF'],
    ['a bare LF before the request', `\n${get()}`, 'BARE_LF'],
    ['a bare LF between requests', `${get()}\n${get()}`, 'BARE_LF'],
    ['obs-fold (SP)', get('Host: a\r\nX: a\r\n b'), 'OBS_FOLD'],
    ['obs-fold (HTAB)', get('Host: a\r\nX: a\r\n\tb'), 'OBS_FOLD'],
    ['whitespace before the first field', req('GET / HTTP/1.1\r\n Host: a'), 'OBS_FOLD'],
    ['a space between name and colon', get('Host : a'), 'INVALID_HEADER_NAME'],
    ['a HTAB between name and colon', get('Host\t: a'), 'INVALID_HEADER_NAME'],
    ['a space inside a name', get('Host: a\r\nX A: b'), 'INVALID_HEADER_NAME'],
    ['an empty name', get('Host: a\r\n: b'), 'INVALID_HEADER_NAME'],
    ['a separator in a name', get('Host: a\r\nX(: b'), 'INVALID_HEADER_NAME'],
    ['non-ASCII in a name', get('Host: a\r\nX\xe9: b'), 'INVALID_HEADER_NAME'],
    ['a line without a colon', get('Host: a\r\nX b'), 'INVALID_HEADER_NAME'],
    ['NUL in a value', get('Host: a\r\nX: a\x00b'), 'INVALID_HEADER_VALUE'],
    ['a control byte in a value', get('Host: a\r\nX: \x01'), 'INVALID_HEADER_VALUE'],
    ['DEL in a value', get('Host: a\r\nX: a\x7f'), 'INVALID_HEADER_VALUE'],
    ['Content-Length with a sign', post('Content-Length: +5', 'hello'), 'INVALID_CONTENT_LENGTH'],
    ['a negative Content-Length', post('Content-Length: -5', 'hello'), 'INVALID_CONTENT_LENGTH'],
    ['Content-Length in hex', post('Content-Length: 0x5', 'hello'), 'INVALID_CONTENT_LENGTH'],
    ['an empty Content-Length', post('Content-Length:', ''), 'INVALID_CONTENT_LENGTH'],
    ['two numbers in Content-Length', post('Content-Length: 5 5', 'hello'), 'INVALID_CONTENT_LENGTH'],
    [
      'a Content-Length beyond 2^53',
      post('Content-Length: 99999999999999999999', ''),
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'Content-Length twice, equal',
      post('Content-Length: 5\r\nContent-Length: 5', 'hello'),
      'DUPLICATE_CONTENT_LENGTH',
    ],
    [
      'Content-Length twice, different',
      post('Content-Length: 5\r\ncontent-length: 6', 'hello!'),
      'DUPLICATE_CONTENT_LENGTH',
    ],
    ['a Content-Length list', post('Content-Length: 5,5', 'hello'), 'DUPLICATE_CONTENT_LENGTH'],
    ['a Content-Length list with OWS', post('Content-Length: 5, 5', 'hello'), 'DUPLICATE_CONTENT_LENGTH'],
    [
      'CL then TE',
      post('Content-Length: 5\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
      'CONTENT_LENGTH_WITH_TRANSFER_ENCODING',
    ],
    [
      'TE then CL',
      post('Transfer-Encoding: chunked\r\nContent-Length: 5', '0\r\n\r\n'),
      'CONTENT_LENGTH_WITH_TRANSFER_ENCODING',
    ],
    ['chunked twice', post('Transfer-Encoding: chunked, chunked', '0\r\n\r\n'), 'INVALID_TRANSFER_ENCODING'],
    [
      'chunked twice in two fields',
      post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
      'INVALID_TRANSFER_ENCODING',
    ],
    ['chunked not last', post('Transfer-Encoding: chunked, gzip', '0\r\n\r\n'), 'INVALID_TRANSFER_ENCODING'],
    ['a coding without chunked', post('Transfer-Encoding: gzip', 'x'), 'INVALID_TRANSFER_ENCODING'],
    ['xchunked', post('Transfer-Encoding: xchunked', '0\r\n\r\n'), 'INVALID_TRANSFER_ENCODING'],
    [
      'chunked with a parameter',
      post('Transfer-Encoding: chunked;a=b', '0\r\n\r\n'),
      'INVALID_TRANSFER_ENCODING',
    ],
    [
      'a trailing empty element',
      post('Transfer-Encoding: chunked,', '0\r\n\r\n'),
      'INVALID_TRANSFER_ENCODING',
    ],
    [
      'a leading empty element',
      post('Transfer-Encoding: , chunked', '0\r\n\r\n'),
      'INVALID_TRANSFER_ENCODING',
    ],
    ['an empty Transfer-Encoding', post('Transfer-Encoding:', ''), 'INVALID_TRANSFER_ENCODING'],
    [
      'a space inside the coding',
      post('Transfer-Encoding: chu nked', '0\r\n\r\n'),
      'INVALID_TRANSFER_ENCODING',
    ],
    ['a quoted coding', post('Transfer-Encoding: "chunked"', '0\r\n\r\n'), 'INVALID_TRANSFER_ENCODING'],
    [
      'a vertical tab after chunked',
      post('Transfer-Encoding: chunked\x0b', '0\r\n\r\n'),
      'INVALID_HEADER_VALUE',
    ],
    ['TE with obs-fold', post('Transfer-Encoding:\r\n chunked', '0\r\n\r\n'), 'OBS_FOLD'],
    [
      'TE with a space before the colon',
      post('Transfer-Encoding : chunked', '0\r\n\r\n'),
      'INVALID_HEADER_NAME',
    ],
    [
      'another coding before chunked',
      post('Transfer-Encoding: gzip, chunked', '0\r\n\r\n'),
      'UNSUPPORTED_TRANSFER_CODING',
    ],
    [
      'codings split over fields',
      post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
      'UNSUPPORTED_TRANSFER_CODING',
    ],
    [
      'TE in HTTP/1.0',
      req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
      'TRANSFER_ENCODING_IN_HTTP10',
    ],
    ['HTTP/1.1 without Host', req('GET / HTTP/1.1'), 'MISSING_HOST'],
    ['two Host fields', get('Host: a\r\nhost: b'), 'DUPLICATE_HOST'],
    ['two Host fields in HTTP/1.0', req('GET / HTTP/1.0\r\nHost: a\r\nHost: a'), 'DUPLICATE_HOST'],
    ['a chunk size that is not hex', post('Transfer-Encoding: chunked', 'x\r\n'), 'INVALID_CHUNK_SIZE'],
    [
      'a chunk size in 0x notation',
      post('Transfer-Encoding: chunked', '0x5\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a negative chunk size',
      post('Transfer-Encoding: chunked', '-5\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'an empty chunk size',
      post('Transfer-Encoding: chunked', '\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a space after the chunk size',
      post('Transfer-Encoding: chunked', '5 \r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a space before the chunk size',
      post('Transfer-Encoding: chunked', ' 5\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a bare LF after the chunk size',
      post('Transfer-Encoding: chunked', '5\nhello\r\n0\r\n\r\n'),
      'BARE_LF',
    ],
    [
      'a bare CR after the chunk size',
      post('Transfer-Encoding: chunked', '5\rhello\r\n0\r\n\r\n'),
      'BARE_CR',
    ],
    [
      '17 hex digits',
      post('Transfer-Encoding: chunked', `${'0'.repeat(16)}5\r\nhello\r\n0\r\n\r\n`),
      'CHUNK_SIZE_TOO_LARGE',
    ],
    [
      'a chunk size beyond 2^53',
      post('Transfer-Encoding: chunked', '20000000000000\r\n'),
      'CHUNK_SIZE_TOO_LARGE',
    ],
    [
      'a chunk size beyond 2^64',
      post('Transfer-Encoding: chunked', 'FFFFFFFFFFFFFFFFF\r\n'),
      'CHUNK_SIZE_TOO_LARGE',
    ],
    [
      'whitespace before an extension',
      post('Transfer-Encoding: chunked', '5 ;a\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_SIZE',
    ],
    [
      'whitespace after ";"',
      post('Transfer-Encoding: chunked', '5; a=b\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'whitespace before "="',
      post('Transfer-Encoding: chunked', '5;a =b\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'an empty extension name',
      post('Transfer-Encoding: chunked', '5;=b\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'an empty extension value',
      post('Transfer-Encoding: chunked', '5;a=\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'a quote inside a token value',
      post('Transfer-Encoding: chunked', '5;a=b"c"\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'a control in a quoted value',
      post('Transfer-Encoding: chunked', '5;a="\x01"\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'an unterminated quoted value',
      post('Transfer-Encoding: chunked', '5;a="x\r\nhello\r\n0\r\n\r\n'),
      'INVALID_CHUNK_EXTENSION',
    ],
    ['a lone ";"', post('Transfer-Encoding: chunked', '5;\r\nhello\r\n0\r\n\r\n'), 'INVALID_CHUNK_EXTENSION'],
    [
      'a bare LF after an extension',
      post('Transfer-Encoding: chunked', '5;a\nhello\r\n0\r\n\r\n'),
      'BARE_LF',
    ],
    [
      'chunk data longer than its size',
      post('Transfer-Encoding: chunked', '5\r\nhelloX\r\n0\r\n\r\n'),
      'INVALID_CHUNK_END',
    ],
    ['a bare LF after chunk data', post('Transfer-Encoding: chunked', '5\r\nhello\n0\r\n\r\n'), 'BARE_LF'],
    [
      'CR without LF after chunk data',
      post('Transfer-Encoding: chunked', '5\r\nhello\rX0\r\n\r\n'),
      'BARE_CR',
    ],
    ['a bare LF ending the trailers', post('Transfer-Encoding: chunked', '0\r\n\n'), 'BARE_LF'],
    ['obs-fold in trailers', post('Transfer-Encoding: chunked', '0\r\nX: a\r\n b\r\n\r\n'), 'OBS_FOLD'],
    ['a bad trailer name', post('Transfer-Encoding: chunked', '0\r\nX : a\r\n\r\n'), 'INVALID_HEADER_NAME'],
    ['data after an HTTP/1.0 request', `${req('GET / HTTP/1.0')}${get()}`, 'DATA_AFTER_CLOSE'],
    ['data after Connection: close', `${get('Host: a\r\nConnection: close')}${get()}`, 'DATA_AFTER_CLOSE'],
    ['a head cut off', 'GET / HTTP/1.1\r\nHost: a\r\n', 'INCOMPLETE_MESSAGE'],
    ['a body cut off', post('Content-Length: 5', 'hel'), 'INCOMPLETE_MESSAGE'],
    ['a chunked body cut off', post('Transfer-Encoding: chunked', '5\r\nhello\r\n'), 'INCOMPLETE_MESSAGE'],
    ['trailers cut off', post('Transfer-Encoding: chunked', '0\r\nX: 1\r\n'), 'INCOMPLETE_MESSAGE'],
  ];
  for (const [what, text, code] of cases) {
    it(`${code}: ${what}`, () => {
      expect(refusal(text)).toBe(code);
      expect(
        parseRequests(text).messages.filter((m) => m.complete && m.method !== 'GET' && m.method !== 'POST'),
      ).toEqual([]);
    });
  }

  for (const name of [
    'Host',
    'Content-Length',
    'Transfer-Encoding',
    'Connection',
    'Keep-Alive',
    'TE',
    'Trailer',
    'Upgrade',
    'Expect',
    'Proxy-Authorization',
  ]) {
    it(`FORBIDDEN_TRAILER: ${name} in trailers`, () => {
      expect(refusal(post('Transfer-Encoding: chunked', `0\r\n${name}: x\r\n\r\n`))).toBe(
        'FORBIDDEN_TRAILER',
      );
    });
  }

  it('answers 414 to a long request line, 431 to a large head or too many fields, as bytes arrive', () => {
    const limits = { maxHeadBytes: 300, maxHeaders: 5, maxStartLineBytes: 100 };
    const longLine = `GET /${'a'.repeat(100)} HTTP/1.1\r\nHost: a\r\n\r\n`;
    expect(refusal(longLine, limits)).toBe('URI_TOO_LONG');
    expect(refusal(`GET /${'a'.repeat(100)}`, limits)).toBe('URI_TOO_LONG');
    expect(refusal(`GET /${'a'.repeat(86)} HTTP/1.1\r\nHost: a\r\n\r\n`, limits)).toBeNull();
    expect(refusal(`GET /${'a'.repeat(87)} HTTP/1.1\r\nHost: a\r\n\r\n`, limits)).toBe('URI_TOO_LONG');
    expect(refusal(get(`Host: a\r\nX: ${'v'.repeat(300)}`), limits)).toBe('HEAD_TOO_LARGE');
    expect(refusal(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(300)}`, limits)).toBe('HEAD_TOO_LARGE');
    expect(refusal(get('Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4'), limits)).toBeNull();
    expect(refusal(get('Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5'), limits)).toBe('TOO_MANY_HEADERS');
    const exact = `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(300 - 32)}\r\n\r\n`;
    expect(Buffer.byteLength(exact)).toBe(300);
    expect(refusal(exact, limits)).toBeNull();
    expect(refusal(exact.replace('X: v', 'X: vv'), limits)).toBe('HEAD_TOO_LARGE');
    // The same limits when the head comes a byte at a time.
    const byteAtATime = (text: string) =>
      parseRequests(
        text,
        Array.from({ length: text.length - 1 }, (_, i) => i + 1),
        limits,
      ).error;
    expect(byteAtATime(longLine)).toBe('URI_TOO_LONG');
    expect(byteAtATime(exact)).toBeNull();
    expect(byteAtATime(exact.replace('X: v', 'X: vv'))).toBe('HEAD_TOO_LARGE');
    expect(byteAtATime(get('Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5'))).toBe('TOO_MANY_HEADERS');
  });

  it('bounds chunk extensions per message (16 KiB by default, counted as Node counts them)', () => {
    const chunk = (ext: string) => `1;${ext}\r\nx\r\n`;
    const under = post(
      'Transfer-Encoding: chunked',
      `${chunk(`a=${'x'.repeat(8000)}`)}${chunk(`b=${'y'.repeat(8000)}`)}0\r\n\r\n`,
    );
    expect(refusal(under)).toBeNull();
    const over = post(
      'Transfer-Encoding: chunked',
      `${chunk(`a=${'x'.repeat(9000)}`)}${chunk(`b=${'y'.repeat(9000)}`)}0\r\n\r\n`,
    );
    expect(refusal(over)).toBe('CHUNK_EXTENSIONS_TOO_LARGE');
    expect(
      refusal(post('Transfer-Encoding: chunked', `${chunk('abcdef')}0\r\n\r\n`), {
        ...LIMITS,
        maxChunkExtensionBytes: 5,
      }),
    ).toBe('CHUNK_EXTENSIONS_TOO_LARGE');
  });

  it('maps codes to the statuses to answer with', () => {
    const status = (text: string, limits = LIMITS) => parseRequests(text, [], limits).status;
    expect(status(req('FOO / HTTP/1.1\r\nHost: a'))).toBe(501);
    expect(status(post('Transfer-Encoding: gzip, chunked', '0\r\n\r\n'))).toBe(501);
    expect(status(req('GET / HTTP/2.0\r\nHost: a'))).toBe(505);
    expect(status(`GET /${'a'.repeat(200)} HTTP/1.1\r\n\r\n`, { ...LIMITS, maxStartLineBytes: 100 })).toBe(
      414,
    );
    expect(status(get(`Host: a\r\nX: ${'v'.repeat(300)}`), { ...LIMITS, maxHeadBytes: 200 })).toBe(431);
    expect(status(post('Content-Length: 1\r\nTransfer-Encoding: chunked', ''))).toBe(400);
    expect(REQUEST_ERRORS.CHUNK_EXTENSIONS_TOO_LARGE.status).toBe(413);
    expect(
      Object.values(RESPONSE_ERRORS)
        .filter((e) => e.status !== 502)
        .map((e) => e.code),
    ).toEqual(['PARSER_UPGRADED', 'INVALID_FIELD']);
  });

  it('does nothing more after an error', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(Buffer.from('GET / HTTP/1.1\r\nX : a\r\n\r\n'));
    parser.execute(Buffer.from(get()));
    parser.finish();
    expect(result.error).toBe('INVALID_HEADER_NAME');
    expect(result.messages).toEqual([]);
  });
});

describe('RequestParser: pipelining and chunk boundaries', () => {
  const stream =
    `\r\n${post('Content-Length: 5\r\nX-A: 1', 'hello')}` +
    `${post('Transfer-Encoding: chunked', '3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: t\r\n\r\n')}` +
    `\r\n${req('GET /last HTTP/1.1\r\nHost: z\r\nConnection: close')}`;
  const whole = parseRequests(stream);

  it('parses pipelined requests in one chunk', () => {
    expect(whole.error).toBeNull();
    expect(whole.messages.map((m) => [m.method, m.target, m.body, m.trailers])).toEqual([
      ['POST', '/', 'hello', null],
      ['POST', '/', 'abcde', ['X-T', 't']],
      ['GET', '/last', '', null],
    ]);
  });

  it('gives the same messages for every single cut', () => {
    for (let i = 1; i < stream.length; i++) expect(parseRequests(stream, [i]), `cut at ${i}`).toEqual(whole);
  });

  it('gives the same messages byte by byte and for random multi-cuts (seeded)', () => {
    expect(
      parseRequests(
        stream,
        Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
      ),
    ).toEqual(whole);
    const g = gen(42);
    for (let n = 0; n < 300; n++) {
      const cuts = [...new Set(Array.from({ length: g.int(1, 8) }, () => g.int(1, stream.length - 1)))].sort(
        (a, b) => a - b,
      );
      expect(parseRequests(stream, cuts), `cuts ${cuts}`).toEqual(whole);
    }
  });

  it('hands a head in one chunk over as that chunk (no copy), and a head across chunks as one new buffer', () => {
    const text = get('Host: a\r\nX: 1');
    const input = Buffer.from(text + text);
    const { events, heads } = recorder();
    const seen: Buffer[] = [];
    const parser = new RequestParser(LIMITS, { ...events, onHead: (h) => seen.push(h.buf) });
    parser.execute(input);
    expect(seen[0]).toBe(input);
    expect(seen[1]).toBe(input);
    const spanning: { buf: Buffer; fields: string[] }[] = [];
    const p2 = new RequestParser(LIMITS, {
      ...events,
      onHead: (h) => spanning.push({ buf: h.buf, fields: rawFields(h) }),
    });
    const [a, b] = split(text, [20]);
    p2.execute(a as Buffer);
    p2.execute(b as Buffer);
    expect(spanning[0]?.buf).not.toBe(a);
    expect(spanning[0]?.buf).not.toBe(b);
    expect(spanning[0]?.fields).toEqual(['Host', 'a', 'X', '1']);
    expect(heads).toEqual([]);
  });

  it('keeps the buffer of a head that spanned chunks valid after later heads (Fields.from outlives the message)', () => {
    const kept: Fields[] = [];
    const { events } = recorder();
    const parser = new RequestParser(LIMITS, { ...events, onHead: (h) => kept.push(Fields.from(h)) });
    const text = get('Host: first\r\nX: 1') + get('Host: second\r\nX: 2') + get('Host: third\r\nX: 3');
    for (const piece of split(text, [10, 40, 55, 70])) parser.execute(piece);
    expect(kept.map((f) => f.get('host'))).toEqual(['first', 'second', 'third']);
  });

  it('grows its offsets array for heads with many fields, in one chunk or across many', () => {
    const many = Array.from({ length: 80 }, (_, i) => `X-${i}: v${i}`).join('\r\n');
    const text = get(`Host: a\r\n${many}`);
    const expected = ['Host', 'a', ...Array.from({ length: 80 }, (_, i) => [`X-${i}`, `v${i}`]).flat()];
    expect(parseRequests(text).messages[0]?.headers).toEqual(expected);
    expect(parseRequests(text, [100, 400, 700]).messages[0]?.headers).toEqual(expected);
    const trailers = post('Transfer-Encoding: chunked', `0\r\n${many}\r\n\r\n`);
    expect(parseRequests(trailers).messages[0]?.trailers).toHaveLength(160);
  });

  it('reuses one head object for every message (callers copy what they keep)', () => {
    const { events, heads } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(Buffer.from(get() + get('Host: b')));
    expect(heads).toHaveLength(2);
    expect(heads[0]).toBe(heads[1]);
  });

  it('reports the stream offset at each event', () => {
    const offsets: number[] = [];
    const { events } = recorder();
    const parser: RequestParser = new RequestParser(LIMITS, {
      ...events,
      onHead: () => offsets.push(parser.offset),
      onComplete: () => offsets.push(parser.offset),
    });
    const one = post('Content-Length: 3', 'abc');
    for (const piece of split(one + one, [7, 50])) parser.execute(piece);
    const head = one.length - 3;
    expect(offsets).toEqual([head, one.length, one.length + head, 2 * one.length]);
  });
});

describe('RequestParser: pause, resume, takeRest, upgrades', () => {
  it('stops at once when paused in onComplete, keeps the rest, and goes on with resume()', () => {
    const { events, result } = recorder();
    const parser: RequestParser = new RequestParser(LIMITS, {
      ...events,
      onComplete: () => {
        events.onComplete();
        parser.pause();
      },
    });
    parser.execute(Buffer.from(get('Host: a') + get('Host: b')));
    expect(result.messages).toHaveLength(1);
    expect(parser.paused).toBe(true);
    parser.execute(Buffer.from(get('Host: c')));
    expect(result.messages).toHaveLength(1);
    parser.resume();
    expect(result.messages.map((m) => m.headers[1])).toEqual(['a', 'b']);
    parser.resume();
    expect(result.messages.map((m) => m.headers[1])).toEqual(['a', 'b', 'c']);
    expect(result.messages.every((m) => m.complete)).toBe(true);
  });

  it('pauses inside a body and completes the message on resume', () => {
    const { events, result } = recorder();
    const parser: RequestParser = new RequestParser(LIMITS, {
      ...events,
      onBody: (c) => {
        events.onBody(c);
        parser.pause();
      },
    });
    parser.execute(Buffer.from(post('Content-Length: 5', 'hello') + get('Host: z')));
    expect(result.messages[0]).toMatchObject({ body: 'hello', complete: false });
    parser.resume();
    expect(result.messages[0]?.complete).toBe(true);
    expect(result.messages[1]?.complete).toBe(true);
  });

  it('keeps EOF that came while paused until resume', () => {
    const { events, result } = recorder();
    const parser: RequestParser = new RequestParser(LIMITS, {
      ...events,
      onComplete: () => {
        events.onComplete();
        parser.pause();
      },
    });
    parser.execute(Buffer.from(`${get()}GET / HT`));
    parser.finish();
    expect(result.error).toBeNull();
    parser.resume();
    expect(result.error).toBe('INCOMPLETE_MESSAGE');
  });

  it('pauses itself after an upgrade request; takeRest() gives the bytes after it', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    const head = get('Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket');
    parser.execute(Buffer.from(`${head}\x81\x05hel`, 'latin1'));
    parser.execute(Buffer.from('lo'));
    expect(result.messages[0]).toMatchObject({ upgrade: true, complete: true });
    expect(parser.paused).toBe(true);
    expect(parser.takeRest().toString('latin1')).toBe('\x81\x05hello');
    expect(parser.takeRest().length).toBe(0);
  });

  it('reads on as HTTP when the upgrade is refused (resume)', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(Buffer.from(get('Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket') + get('Host: b')));
    expect(result.messages).toHaveLength(1);
    parser.resume();
    expect(result.messages.map((m) => m.headers[1])).toEqual(['a', 'b']);
  });

  it('reads an upgrade request body by its framing before pausing', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(
      Buffer.from(`${get('Host: a\r\nConnection: upgrade\r\nUpgrade: x\r\nContent-Length: 3')}abcTUNNEL`),
    );
    expect(result.messages[0]).toMatchObject({ body: 'abc', complete: true });
    expect(parser.takeRest().toString()).toBe('TUNNEL');
  });

  it('pauses after CONNECT', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(Buffer.from(`${req('CONNECT db:5432 HTTP/1.1\r\nHost: db:5432')}\x00\x01binary`));
    expect(result.messages[0]).toMatchObject({ method: 'CONNECT', target: 'db:5432', complete: true });
    expect(parser.paused).toBe(true);
    expect(parser.takeRest()).toEqual(Buffer.from('\x00\x01binary', 'latin1'));
  });

  it('can be reset and reused after a message, an error or a pause', () => {
    const { events, result } = recorder();
    const parser = new RequestParser(LIMITS, events);
    parser.execute(Buffer.from('GET / HTTP/1.1\r\nX : 1\r\n\r\n'));
    expect(result.error).toBe('INVALID_HEADER_NAME');
    parser.reset();
    result.error = null;
    parser.execute(Buffer.from(get('Host: a\r\nConnection: upgrade\r\nUpgrade: x')));
    expect(parser.paused).toBe(true);
    parser.reset();
    expect(parser.paused).toBe(false);
    parser.execute(Buffer.from(get('Host: c')));
    expect(result.error).toBeNull();
    expect(result.messages.map((m) => m.headers[1])).toEqual(['a', 'c']);
    expect(parser.offset).toBe(get('Host: c').length);
  });
});

describe('ResponseParser', () => {
  const res = (head: string, body = ''): string => `${head}\r\n\r\n${body}`;

  it('parses status, reason, fields and a Content-Length body', () => {
    const r = parseResponses(res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y', 'hi'), ['GET']);
    expect(r.messages[0]).toMatchObject({
      status: 200,
      reason: 'OK',
      version: '1.1',
      headers: ['Content-Length', '2', 'X', 'y'],
      body: 'hi',
      keepAlive: true,
      complete: true,
    });
  });

  it('takes a status line without a reason, and obs-text in the reason', () => {
    expect(parseResponses(res('HTTP/1.1 204', ''), ['GET']).messages[0]).toMatchObject({
      status: 204,
      reason: '',
      complete: true,
    });
    expect(
      parseResponses(res('HTTP/1.1 200 \xc7a va\r\nContent-Length: 0'), ['GET']).messages[0]?.reason,
    ).toBe('\xc7a va');
  });

  it('gives HEAD, 204 and 304 responses no body whatever their framing fields', () => {
    expect(parseResponses(res('HTTP/1.1 200 OK\r\nContent-Length: 5'), ['HEAD']).messages[0]).toMatchObject({
      body: '',
      complete: true,
      contentLength: 5,
    });
    expect(
      parseResponses(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked'), ['HEAD']).messages[0]?.complete,
    ).toBe(true);
    expect(
      parseResponses(res('HTTP/1.1 204 No Content\r\nContent-Length: 5'), ['GET']).messages[0]?.complete,
    ).toBe(true);
    expect(
      parseResponses(res('HTTP/1.1 304 Not Modified\r\nContent-Length: 5'), ['GET']).messages[0]?.complete,
    ).toBe(true);
  });

  it('reads a body without framing until close, then completes at finish()', () => {
    const { events, result } = recorder();
    const parser = new ResponseParser(LIMITS, events);
    parser.expect('GET');
    parser.execute(Buffer.from(res('HTTP/1.1 200 OK', 'part one ')));
    parser.execute(Buffer.from('part two'));
    expect(result.messages[0]).toMatchObject({
      body: 'part one part two',
      complete: false,
      keepAlive: false,
    });
    parser.finish();
    expect(result.messages[0]?.complete).toBe(true);
    expect(result.error).toBeNull();
  });

  it('passes 1xx interim responses on and then the final one, for one expect()', () => {
    const text =
      res('HTTP/1.1 100 Continue') +
      res('HTTP/1.1 103 Early Hints\r\nLink: </a.css>') +
      res('HTTP/1.1 200 OK\r\nContent-Length: 1', 'x');
    for (let i = 1; i < text.length; i += 3) {
      const r = parseResponses(text, ['POST'], [i]);
      expect(r.error).toBeNull();
      expect(r.messages.map((m) => [m.status, m.complete, m.body])).toEqual([
        [100, true, ''],
        [103, true, ''],
        [200, true, 'x'],
      ]);
    }
  });

  it('pauses after 101 and after a 2xx to CONNECT, keeping the tunnel bytes; more HTTP there is an error', () => {
    const { events, result } = recorder();
    const parser = new ResponseParser(LIMITS, events);
    parser.expect('GET');
    parser.execute(
      Buffer.from(
        `${res('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket')}\x81\x00`,
        'latin1',
      ),
    );
    expect(result.messages[0]).toMatchObject({ status: 101, upgrade: true, complete: true });
    expect(parser.paused).toBe(true);
    expect(parser.takeRest()).toEqual(Buffer.from([0x81, 0]));
    parser.resume();
    parser.execute(Buffer.from('x'));
    expect(result.error).toBe('PARSER_UPGRADED');

    const connect = recorder();
    const p2 = new ResponseParser(LIMITS, connect.events);
    p2.expect('CONNECT');
    p2.execute(Buffer.from(`${res('HTTP/1.1 200 Connection Established\r\nContent-Length: 10')}tunnel`));
    expect(connect.result.messages[0]).toMatchObject({ status: 200, body: '', complete: true });
    expect(p2.takeRest().toString()).toBe('tunnel');
    const refused = parseResponses(res('HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2', 'no'), ['CONNECT']);
    expect(refused.messages[0]).toMatchObject({ status: 407, body: 'no', complete: true });
  });

  it('reads chunked responses with trailers, and queued expectations for pipelined requests', () => {
    const text =
      res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', '2\r\nab\r\n0\r\nX-T: 1\r\n\r\n') +
      res('HTTP/1.1 200 OK\r\nContent-Length: 9');
    const r = parseResponses(text, ['GET', 'HEAD']);
    expect(r.error).toBeNull();
    expect(r.messages.map((m) => [m.body, m.trailers, m.complete])).toEqual([
      ['ab', ['X-T', '1'], true],
      ['', null, true],
    ]);
  });

  const refusals: [string, string, string][] = [
    ['bytes when no response is expected', 'HTTP/1.1 408 Request Timeout\r\n\r\n', 'UNEXPECTED_RESPONSE'],
    ['a malformed status', res('HTTP/1.1 2x0 OK'), 'INVALID_STATUS'],
    ['a four-digit status', res('HTTP/1.1 2000 OK'), 'INVALID_STATUS'],
    ['a status below 100', res('HTTP/1.1 099 Odd'), 'INVALID_STATUS'],
    ['a control byte in the reason', res('HTTP/1.1 200 O\x01K'), 'INVALID_START_LINE'],
    ['HTTP/2.0', res('HTTP/2.0 200 OK'), 'VERSION_NOT_SUPPORTED'],
    ['ICE', res('ICE/1.0 200 OK'), 'INVALID_VERSION'],
    [
      'CL with TE',
      res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
      'CONTENT_LENGTH_WITH_TRANSFER_ENCODING',
    ],
    [
      'two Content-Lengths',
      res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2', 'ab'),
      'DUPLICATE_CONTENT_LENGTH',
    ],
    ['gzip', res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip', 'x'), 'INVALID_TRANSFER_ENCODING'],
    [
      'gzip, chunked',
      res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked', '0\r\n\r\n'),
      'UNSUPPORTED_TRANSFER_CODING',
    ],
    ['obs-fold', res('HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0'), 'OBS_FOLD'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'BARE_LF'],
    ['a framed body cut off', res('HTTP/1.1 200 OK\r\nContent-Length: 5', 'ab'), 'INCOMPLETE_MESSAGE'],
    [
      'data after a response that closes',
      `${res('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close')}HTTP/1.1`,
      'DATA_AFTER_CLOSE',
    ],
  ];
  for (const [what, text, code] of refusals) {
    it(`${code}: ${what}, answered 502`, () => {
      const r = parseResponses(text, code === 'UNEXPECTED_RESPONSE' ? [] : ['GET', 'GET']);
      expect(r.error).toBe(code);
      expect(r.status).toBe(502);
    });
  }

  it('can be reset and reused, expectations cleared', () => {
    const { events, result } = recorder();
    const parser = new ResponseParser(LIMITS, events);
    parser.expect('GET');
    parser.expect('GET');
    parser.execute(Buffer.from(res('HTTP/1.1 200 OK\r\nContent-Length: 0')));
    parser.reset();
    parser.execute(Buffer.from(res('HTTP/1.1 200 OK\r\nContent-Length: 0')));
    expect(result.error).toBe('UNEXPECTED_RESPONSE');
  });
});

describe('MessageHead', () => {
  it('sets present bits for the known fields', async () => {
    const { bit, F_HOST, F_CONTENT_LENGTH, F_X_TRELLIS, F_TRACEPARENT } = await import(
      '../../src/http1/lookup.ts'
    );
    let head: MessageHead | undefined;
    const { events } = recorder();
    new RequestParser(LIMITS, { ...events, onHead: (h) => (head = h) }).execute(
      Buffer.from(post('Content-Length: 0\r\nX-Trellis-Source: a\r\ntraceparent: t\r\nX-Other: 1', '')),
    );
    expect(head?.present).toBe(bit(F_HOST) | bit(F_CONTENT_LENGTH) | bit(F_X_TRELLIS) | bit(F_TRACEPARENT));
  });
});
