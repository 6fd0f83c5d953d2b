// Micro benchmark of Trellis's HTTP/1.1 codec (packages/proxy/src/http1), beside llhttp as node:http drives it.
//   parse:     a typical proxied request head (12 fields, ~500 bytes) in one chunk; the same head cut in three;
//              a 16 KiB chunked body in 1 KiB chunks; four pipelined GETs in one chunk.
//              llhttp: node's HTTPParser binding with the callbacks node:http installs (headers as strings).
//   serialize: the head the proxy forwards (Fields.from the parsed head, two fields added, hop-by-hop dropped),
//              written three ways: the serializer (one exact-size buffer, raw lines copied byte ranges, runs of
//              adjacent lines in one copy), per-field Buffer#copy of each name and value, and per-field strings
//              joined and encoded (what a Node-style header object costs).
// Run: node --import tsx bench/proxy/http1-codec.mjs [--ms 1500]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Fields } from '../../packages/proxy/src/http1/fields.ts';
import { FIELD_STRIDE, HOP_BY_HOP_MASK } from '../../packages/proxy/src/http1/lookup.ts';
import { RequestParser } from '../../packages/proxy/src/http1/parser.ts';
import { requestHead } from '../../packages/proxy/src/http1/serializer.ts';

const { values } = parseArgs({ options: { ms: { type: 'string', default: '1500' } } });
const MS = Number(values.ms);
const require = createRequire(import.meta.url);
const { HTTPParser } = require('node:_http_common');

const HEAD = Buffer.from(
  'POST /api/v1/orders/12345?expand=items&trace=1 HTTP/1.1\r\n' +
    'Host: orders.default.svc.cluster.local:8080\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n' +
    'Accept: application/json, text/plain, */*\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Content-Type: application/json\r\n' +
    'Content-Length: 0\r\n' +
    'Connection: keep-alive\r\n' +
    'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n' +
    'x-request-id: 7f2c1a9e-5b3d-4c8e-9f0a-1b2c3d4e5f60\r\n' +
    'Cookie: session=abcdef0123456789; theme=dark\r\n' +
    'x-trellis-source: frontend\r\n\r\n',
  'latin1',
);
const LIMITS = { maxHeadBytes: 16384, maxHeaders: 100, maxStartLineBytes: 8192 };

function bench(name, fn) {
  for (let i = 0; i < 20_000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  const ns = Number(now - start) / n;
  console.log(
    `  ${name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/op  ${(1e9 / ns / 1000).toFixed(0).padStart(6)}k op/s`,
  );
  return ns;
}

let sink = 0;
const events = {
  onHead(h) {
    sink += h.count;
  },
  onBody(b) {
    sink += b.length;
  },
  onComplete() {
    sink++;
  },
  onError(e) {
    throw new Error(e.code);
  },
};

function llhttp() {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 16384, 0);
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = (_maj, _min, headers) => {
    sink += headers.length;
    return 0;
  };
  p[HTTPParser.kOnBody] = (b) => {
    sink += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    sink++;
  };
  p[HTTPParser.kOnExecute] = () => {};
  return p;
}

console.log(`node ${process.version}, llhttp ${process.versions.llhttp}; ${MS} ms per row`);
console.log(`\nparse (head of ${HEAD.length} bytes, 12 fields)`);
const ours = new RequestParser(LIMITS, events);
const ref = llhttp();
const oursHead = bench('Trellis RequestParser, head in one chunk', () => ours.execute(HEAD));
const refHead = bench('llhttp (node:http binding), head in one chunk', () => ref.execute(HEAD));
const thirds = [HEAD.subarray(0, 150), HEAD.subarray(150, 400), HEAD.subarray(400)];
bench('Trellis RequestParser, head in three chunks', () => {
  ours.execute(thirds[0]);
  ours.execute(thirds[1]);
  ours.execute(thirds[2]);
});
bench('llhttp, head in three chunks', () => {
  ref.execute(thirds[0]);
  ref.execute(thirds[1]);
  ref.execute(thirds[2]);
});

const chunkedHead = Buffer.from('POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
const chunk = Buffer.concat([Buffer.from('400\r\n'), Buffer.alloc(1024, 0x61), Buffer.from('\r\n')]);
const chunkedMessage = Buffer.concat([chunkedHead, ...Array(16).fill(chunk), Buffer.from('0\r\n\r\n')]);
const chunkedPieces = [];
for (let i = 0; i < chunkedMessage.length; i += 1024)
  chunkedPieces.push(chunkedMessage.subarray(i, i + 1024));
bench('Trellis, 16 KiB chunked body in 1 KiB reads', () => {
  for (const p of chunkedPieces) ours.execute(p);
});
bench('llhttp, 16 KiB chunked body in 1 KiB reads', () => {
  for (const p of chunkedPieces) ref.execute(p);
});
const pipelined = Buffer.from('GET /a HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n'.repeat(4));
bench('Trellis, four pipelined GETs in one chunk', () => ours.execute(pipelined));
bench('llhttp, four pipelined GETs in one chunk', () => ref.execute(pipelined));

console.log('\nserialize (the forwarded head: parsed fields, 2 added, hop-by-hop dropped)');
let head;
new RequestParser(LIMITS, { ...events, onHead: (h) => (head = h) }).execute(HEAD);
const base = Fields.from(head);
const framing = { kind: 'length', length: 0 };
const serializer = bench('serializer: Fields.from + set ×2 + requestHead', () => {
  const f = Fields.from(head);
  f.set('x-forwarded-for', '10.0.0.7');
  f.set('x-trellis-source', 'frontend');
  sink += requestHead('POST', head.target, f, framing).length;
});
bench('serializer: requestHead only (fields prepared once)', () => {
  sink += requestHead('POST', head.target, base, framing).length;
});

// The alternatives, written out here only to compare.
const offsets = head.fields;
const buf = head.buf;
const skip = (id) => ((HOP_BY_HOP_MASK | 4 | 8) & (1 << id)) !== 0;
bench('per-field Buffer#copy of name and value', () => {
  let total = 'POST '.length + head.target.length + 11 + 2 + 'content-length: 0\r\n'.length;
  for (let i = 0; i < head.count; i++) {
    const at = i * FIELD_STRIDE;
    if (skip(offsets[at + 4])) continue;
    total += offsets[at + 1] - offsets[at] + offsets[at + 3] - offsets[at + 2] + 4;
  }
  total += 'x-forwarded-for: 10.0.0.7\r\n'.length + 'x-trellis-source: frontend\r\n'.length;
  const out = Buffer.allocUnsafe(total);
  let o = out.latin1Write(`POST ${head.target} HTTP/1.1\r\n`, 0);
  for (let i = 0; i < head.count; i++) {
    const at = i * FIELD_STRIDE;
    if (skip(offsets[at + 4])) continue;
    o += buf.copy(out, o, offsets[at], offsets[at + 1]);
    out[o++] = 0x3a;
    out[o++] = 0x20;
    o += buf.copy(out, o, offsets[at + 2], offsets[at + 3]);
    out[o++] = 0x0d;
    out[o++] = 0x0a;
  }
  o += out.latin1Write(
    'x-forwarded-for: 10.0.0.7\r\nx-trellis-source: frontend\r\ncontent-length: 0\r\n\r\n',
    o,
  );
  sink += o;
});
bench('per-field strings, joined and encoded', () => {
  let s = `POST ${head.target} HTTP/1.1\r\n`;
  for (let i = 0; i < head.count; i++) {
    const at = i * FIELD_STRIDE;
    if (skip(offsets[at + 4])) continue;
    s += `${buf.latin1Slice(offsets[at], offsets[at + 1])}: ${buf.latin1Slice(offsets[at + 2], offsets[at + 3])}\r\n`;
  }
  s += 'x-forwarded-for: 10.0.0.7\r\nx-trellis-source: frontend\r\ncontent-length: 0\r\n\r\n';
  sink += Buffer.from(s, 'latin1').length;
});

console.log(
  `\nhead parse: Trellis ${(refHead / oursHead).toFixed(2)}× llhttp's speed; serializer ${serializer.toFixed(0)} ns per forwarded head`,
);
if (sink === 42) console.log('');
