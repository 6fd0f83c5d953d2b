/** The serializer: exact heads, framing it alone decides, hop-by-hop removal, and no response splitting. */
import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Fields, headerName, InvalidFieldError } from '../../src/http1/fields.ts';
import { RequestParser, ResponseParser } from '../../src/http1/parser.ts';
import {
  CHUNK_END,
  chunkHeader,
  LAST_CHUNK,
  lastChunkWithTrailers,
  requestHead,
  responseHead,
} from '../../src/http1/serializer.ts';
import { REASON_PHRASES } from '../../src/http1/status.ts';
import { LIMITS, parsedFields, recorder } from './support/events.ts';

const text = (b: Buffer): string => b.toString('latin1');

describe('requestHead', () => {
  it('writes the raw fields as they arrived (lines in one copy), then added ones, then the framing', () => {
    const f = parsedFields(
      'Host: svc\r\nUser-Agent:curl/8\r\nX-Spaced:   v  \r\nAccept: */*\r\nX-Last: z \t',
    );
    f.append('x-forwarded-for', '10.0.0.1');
    expect(text(requestHead('GET', '/a?b', f, { kind: 'none' }))).toBe(
      'GET /a?b HTTP/1.1\r\nHost: svc\r\nUser-Agent:curl/8\r\nX-Spaced:   v  \r\nAccept: */*\r\nX-Last: z\r\n' +
        'x-forwarded-for: 10.0.0.1\r\n\r\n',
    );
  });

  it("writes only the framing it is given, never the fields' own Content-Length or Transfer-Encoding", () => {
    const f = parsedFields('Host: svc\r\nContent-Length: 99\r\nX: 1');
    expect(text(requestHead('POST', '/', f, { kind: 'length', length: 5 }))).toBe(
      'POST / HTTP/1.1\r\nHost: svc\r\nX: 1\r\ncontent-length: 5\r\n\r\n',
    );
    expect(text(requestHead('POST', '/', f, { kind: 'chunked' }))).toBe(
      'POST / HTTP/1.1\r\nHost: svc\r\nX: 1\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    f.set('Content-Length', '7');
    expect(text(requestHead('POST', '/', f, { kind: 'chunked' }))).toBe(
      'POST / HTTP/1.1\r\nHost: svc\r\nX: 1\r\ntransfer-encoding: chunked\r\n\r\n',
    );
  });

  it('drops hop-by-hop fields and those Connection names, but never a known field Connection names', () => {
    const f = parsedFields(
      'Host: svc\r\nConnection: keep-alive, X-Hop, host, Content-Type\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
        'Proxy-Authorization: secret\r\nX-Hop: 1\r\nContent-Type: a\r\nExpect: 100-continue\r\nX-Kept: yes',
    );
    expect(text(requestHead('GET', '/', f, { kind: 'none' }))).toBe(
      'GET / HTTP/1.1\r\nHost: svc\r\nX-Kept: yes\r\n\r\n',
    );
  });

  it('reads Connection names however they are spaced, cased, split over fields or left empty', () => {
    const f = parsedFields(
      'Host: svc\r\nConnection: ,\tX-One ,, x-TWO\t\r\nX-One: 1\r\nX-Two: 2\r\nConnection: X-Three, X-Forwarded-Proto\r\n' +
        'X-Three: 3\r\nX-Four: 4\r\nX-On: 5\r\nX-Forwarded-Proto: https',
    );
    expect(text(requestHead('GET', '/', f, { kind: 'none' }))).toBe(
      'GET / HTTP/1.1\r\nHost: svc\r\nX-Four: 4\r\nX-On: 5\r\n\r\n',
    );
  });

  it('writes a head larger than its scratch buffer the same way, measured first (fields over 16 KiB)', () => {
    const big = 'v'.repeat(20 * 1024);
    const f = Fields.of({ host: 'svc', 'x-big': big });
    f.append('x-after', 'a');
    const body = Buffer.from('tail');
    const head = text(requestHead('POST', '/', f, { kind: 'length', length: 4 }, body));
    expect(head).toBe(
      `POST / HTTP/1.1\r\nhost: svc\r\nx-big: ${big}\r\nx-after: a\r\ncontent-length: 4\r\n\r\ntail`,
    );
  });

  it('writes a hop-by-hop field the caller sets itself (a WebSocket handshake)', () => {
    const f = parsedFields('Host: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k');
    f.set('connection', 'Upgrade');
    f.set('upgrade', 'websocket');
    expect(text(requestHead('GET', '/ws', f, { kind: 'none' }))).toBe(
      'GET /ws HTTP/1.1\r\nHost: svc\r\nSec-WebSocket-Key: k\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n',
    );
  });

  it('skips deleted raw fields in the middle of a run', () => {
    const f = parsedFields('Host: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4');
    f.delete('b');
    f.delete('d');
    expect(text(requestHead('GET', '/', f, { kind: 'none' }))).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nC: 3\r\n\r\n',
    );
  });

  it('refuses to write a method, target or field that would split the message', () => {
    const f = Fields.of({});
    expect(() => requestHead('GET /x HTTP/1.1\r\nX: y\r\n\r\nGET', '/', f, { kind: 'none' })).toThrow(
      InvalidFieldError,
    );
    expect(() => requestHead('GET', '/a\r\nX: y', f, { kind: 'none' })).toThrow(InvalidFieldError);
    expect(() => requestHead('GET', '/a b', f, { kind: 'none' })).toThrow(InvalidFieldError);
    expect(() => requestHead('GET', '', f, { kind: 'none' })).toThrow(InvalidFieldError);
    expect(() => requestHead('GET', '/', f, { kind: 'close' })).toThrow(TypeError);
    expect(() => requestHead('GET', '/', f, { kind: 'length', length: -1 })).toThrow(RangeError);
  });

  it('round-trips through the parser', () => {
    const f = parsedFields('Host: svc\r\nX-A: 1\r\nx-a: 2\r\nCookie: c=1');
    f.append('X-New', 'n');
    const bytes = Buffer.concat([
      requestHead('PUT', '/p', f, { kind: 'length', length: 3 }),
      Buffer.from('abc'),
    ]);
    const { events, result } = recorder();
    new RequestParser(LIMITS, events).execute(bytes);
    expect(result.error).toBeNull();
    expect(result.messages[0]).toMatchObject({
      method: 'PUT',
      target: '/p',
      headers: ['Host', 'svc', 'X-A', '1', 'x-a', '2', 'Cookie', 'c=1', 'X-New', 'n', 'content-length', '3'],
      body: 'abc',
    });
  });
});

describe('responseHead', () => {
  it('writes the reason phrases node:http writes, from a table of its own (a sidecar need not load node:http)', () => {
    expect(REASON_PHRASES).toEqual(STATUS_CODES);
    const head = responseHead(418, undefined, Fields.of({}), { kind: 'length', length: 0 }, true).toString(
      'latin1',
    );
    expect(head.startsWith("HTTP/1.1 418 I'm a Teapot\r\n")).toBe(true);
  });

  it('writes a small body in the same buffer, after the head and the own fields', () => {
    const f = parsedFields('Host: svc\r\nX-Up: 1');
    f.setOwn(headerName('x-request-id'), 'abc');
    f.appendOwn(headerName('x-forwarded-proto'), 'http');
    const framing = { kind: 'length', length: 5 } as const;
    const body = Buffer.from('hello');
    expect(text(responseHead(201, undefined, f, framing, true, body))).toBe(
      `${text(responseHead(201, undefined, f, framing, true))}hello`,
    );
    expect(text(responseHead(201, undefined, f, framing, true, body))).toBe(
      'HTTP/1.1 201 Created\r\nHost: svc\r\nX-Up: 1\r\nx-request-id: abc\r\nx-forwarded-proto: http\r\n' +
        'content-length: 5\r\n\r\nhello',
    );
    expect(text(requestHead('PUT', '/k', f, framing, body))).toMatch(
      /^PUT \/k HTTP\/1\.1\r\n[\s\S]*\r\n\r\nhello$/,
    );
  });

  it('writes the status line with the standard reason unless given one', () => {
    expect(text(responseHead(200, undefined, Fields.of({}), { kind: 'length', length: 2 }, true))).toBe(
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n',
    );
    expect(text(responseHead(404, 'Nope', Fields.of({ 'x-a': '1' }), { kind: 'none' }, true))).toBe(
      'HTTP/1.1 404 Nope\r\nx-a: 1\r\n\r\n',
    );
    expect(text(responseHead(299, undefined, Fields.of({}), { kind: 'none' }, true))).toBe(
      'HTTP/1.1 299 \r\n\r\n',
    );
  });

  it('writes connection: close when the connection ends, and always with close framing', () => {
    expect(text(responseHead(200, undefined, Fields.of({}), { kind: 'chunked' }, false))).toBe(
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n',
    );
    expect(text(responseHead(200, undefined, Fields.of({}), { kind: 'close' }, true))).toBe(
      'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n',
    );
  });

  it("drops the upstream's hop-by-hop and framing fields, keeps an explicitly set Content-Length with no framing", () => {
    let fields: Fields | undefined;
    const { events } = recorder();
    const parser = new ResponseParser(LIMITS, { ...events, onHead: (h) => (fields = Fields.from(h)) });
    parser.expect('HEAD');
    parser.execute(
      Buffer.from(
        'HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nETag: "e"\r\n\r\n',
      ),
    );
    const f = fields as Fields;
    expect(text(responseHead(200, 'OK', f, { kind: 'none' }, true))).toBe(
      'HTTP/1.1 200 OK\r\nETag: "e"\r\n\r\n',
    );
    f.set('content-length', '42');
    expect(text(responseHead(200, 'OK', f, { kind: 'none' }, true))).toBe(
      'HTTP/1.1 200 OK\r\nETag: "e"\r\ncontent-length: 42\r\n\r\n',
    );
  });

  it('refuses a reason or a status that would split the response', () => {
    expect(() => responseHead(200, 'OK\r\nSet-Cookie: x', Fields.of({}), { kind: 'none' }, true)).toThrow(
      InvalidFieldError,
    );
    expect(() => responseHead(20, undefined, Fields.of({}), { kind: 'none' }, true)).toThrow(RangeError);
  });
});

describe('chunk framing', () => {
  it('writes chunk headers, cached for common sizes, and the last chunk', () => {
    expect(text(chunkHeader(0))).toBe('0\r\n');
    expect(text(chunkHeader(255))).toBe('ff\r\n');
    expect(chunkHeader(255)).toBe(chunkHeader(255));
    expect(text(chunkHeader(65536))).toBe('10000\r\n');
    expect(chunkHeader(65536)).toBe(chunkHeader(65536));
    expect(text(chunkHeader(70001))).toBe('11171\r\n');
    expect(text(CHUNK_END)).toBe('\r\n');
    expect(text(LAST_CHUNK)).toBe('0\r\n\r\n');
  });

  it('writes trailers without framing, routing or connection fields, raw or added', () => {
    const t = Fields.of({
      'grpc-status': '0',
      'content-length': '5',
      host: 'x',
      connection: 'close',
      'x-sum': 'abc',
    });
    expect(text(lastChunkWithTrailers(t))).toBe('0\r\ngrpc-status: 0\r\nx-sum: abc\r\n\r\n');
  });

  it('round-trips a chunked message with trailers through the parser', () => {
    const head = requestHead('POST', '/', Fields.of({ host: 'a' }), { kind: 'chunked' });
    const bytes = Buffer.concat([
      head,
      chunkHeader(3),
      Buffer.from('abc'),
      CHUNK_END,
      lastChunkWithTrailers(Fields.of({ 'x-t': '1' })),
    ]);
    const { events, result } = recorder();
    new RequestParser(LIMITS, events).execute(bytes);
    expect(result.error).toBeNull();
    expect(result.messages[0]).toMatchObject({ body: 'abc', trailers: ['x-t', '1'], complete: true });
  });
});
