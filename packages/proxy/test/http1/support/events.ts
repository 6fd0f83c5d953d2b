/** Runs the parsers over strings (latin1) cut into pieces and records their events as plain values. */
import { Fields } from '../../../src/http1/fields.ts';
import { rawFields } from '../../../src/http1/lookup.ts';
import {
  type MessageHead,
  type ParserEvents,
  type ParserLimits,
  RequestParser,
  ResponseParser,
} from '../../../src/http1/parser.ts';

export const LIMITS: ParserLimits = { maxHeadBytes: 16384, maxHeaders: 100, maxStartLineBytes: 8192 };

export interface Message {
  method: string;
  target: string;
  status: number;
  reason: string;
  version: string;
  headers: string[];
  body: string;
  trailers: string[] | null;
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  upgrade: boolean;
  expectContinue: boolean;
  headBytes: number;
  complete: boolean;
}

export interface Recorded {
  messages: Message[];
  /** The error code, if any. */
  error: string | null;
  status: number | null;
}

export function recorder(): { events: ParserEvents; result: Recorded; heads: MessageHead[] } {
  const result: Recorded = { messages: [], error: null, status: null };
  const heads: MessageHead[] = [];
  let current: Message | null = null;
  const events: ParserEvents = {
    onHead(h) {
      heads.push(h);
      current = {
        method: h.method,
        target: h.target,
        status: h.status,
        reason: h.reason,
        version: `1.${h.versionMinor}`,
        headers: rawFields(h),
        body: '',
        trailers: null,
        contentLength: h.contentLength,
        chunked: h.chunked,
        keepAlive: h.keepAlive,
        upgrade: h.upgrade,
        expectContinue: h.expectContinue,
        headBytes: h.headBytes,
        complete: false,
      };
      result.messages.push(current);
    },
    onBody(chunk) {
      if (current !== null) current.body += chunk.toString('latin1');
    },
    onTrailers(fields) {
      if (current !== null) current.trailers = rawFields(fields);
    },
    onComplete() {
      if (current !== null) current.complete = true;
    },
    onError(e) {
      result.error = e.code;
      result.status = e.status;
    },
  };
  return { events, result, heads };
}

/** Splits `text` at the given offsets. */
export function split(text: string, cuts: readonly number[] = []): Buffer[] {
  const bytes = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  let last = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(last, c));
    last = c;
  }
  out.push(bytes.subarray(last));
  return out;
}

export function parseRequests(text: string, cuts: readonly number[] = [], limits = LIMITS): Recorded {
  const { events, result } = recorder();
  const parser = new RequestParser(limits, events);
  for (const piece of split(text, cuts)) parser.execute(piece);
  parser.finish();
  return result;
}

export function parseResponses(
  text: string,
  methods: readonly string[],
  cuts: readonly number[] = [],
): Recorded {
  const { events, result } = recorder();
  const parser = new ResponseParser(LIMITS, events);
  for (const m of methods) parser.expect(m);
  for (const piece of split(text, cuts)) parser.execute(piece);
  parser.finish();
  return result;
}

/** The error code a request stream is refused with (null when accepted). */
export const refusal = (text: string, limits = LIMITS): string | null =>
  parseRequests(text, [], limits).error;

/** Parses one request head with these field lines and wraps its fields. */
export function parsedFields(fields: string): Fields {
  let out: Fields | undefined;
  const { events } = recorder();
  new RequestParser(LIMITS, { ...events, onHead: (h) => (out = Fields.from(h)) }).execute(
    Buffer.from(`GET / HTTP/1.1\r\n${fields}\r\n\r\n`, 'latin1'),
  );
  if (out === undefined) throw new Error('no head');
  return out;
}
