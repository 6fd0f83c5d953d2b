/**
 * The response side of the differential test: a raw response byte stream, served by a `net` server in the
 * case's writes, read by undici (llhttp in wasm, the client the proxy used before its own codec) and by
 * Trellis's ResponseParser. Both are reduced to the responses they accepted (interim ones included) and
 * whether they refused; `compareResponses` allows only the documented divergences.
 */
import net from 'node:net';
import { Client } from 'undici';
import { rawFields } from '../../../src/http1/lookup.ts';
import { type ParserLimits, ResponseParser } from '../../../src/http1/parser.ts';
import { classifyResponse, type ResponseContext } from './divergences.ts';
import { pieces, type Verdict } from './harness.ts';

export interface SeenResponse {
  status: number;
  headers: string[];
  body: Buffer;
  trailers: string[];
}

export interface ResponseOutcome {
  responses: SeenResponse[];
  error: string | null;
}

export function runOursResponse(
  bytes: Buffer,
  cuts: readonly number[],
  method: string,
  limits: ParserLimits,
): ResponseOutcome {
  const responses: SeenResponse[] = [];
  let current: SeenResponse | null = null;
  let parts: Buffer[] = [];
  let error: string | null = null;
  const parser = new ResponseParser(limits, {
    onHead(head) {
      current = { status: head.status, headers: rawFields(head), body: Buffer.alloc(0), trailers: [] };
      parts = [];
    },
    onBody(chunk) {
      parts.push(Buffer.from(chunk));
    },
    onTrailers(fields) {
      if (current !== null) current.trailers = rawFields(fields);
    },
    onComplete() {
      const r = current as SeenResponse;
      r.body = Buffer.concat(parts);
      responses.push(r);
      // One exchange per case: what follows the final response is not this response's business (undici
      // closes the connection there too).
      if (r.status >= 200) parser.pause();
    },
    onError(e) {
      error = e.code;
    },
  });
  parser.expect(method);
  for (const piece of pieces(bytes, cuts)) parser.execute(piece);
  parser.finish();
  return { responses, error };
}

const trimEnd = (s: string): string => s.replace(/[ \t]+$/, '');

/** Serves each case's bytes to the connection whose request names it, then closes. */
export class UndiciHarness {
  private readonly server: net.Server;
  private readonly cases = new Map<string, { bytes: Buffer; cuts: readonly number[] }>();
  private port = 0;
  private nextId = 0;

  constructor() {
    this.server = net.createServer((socket) => {
      socket.on('error', () => {});
      let head = '';
      const onData = async (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        const id = /^[A-Z]+ \/c\/(\d+) /.exec(head)?.[1] ?? '';
        const c = this.cases.get(id);
        if (c === undefined) {
          socket.destroy();
          return;
        }
        for (const piece of pieces(c.bytes, c.cuts)) {
          if (socket.destroyed) return;
          socket.write(piece);
          await new Promise((resolve) => setImmediate(resolve));
        }
        socket.end();
      };
      socket.on('data', onData);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async run(
    bytes: Buffer,
    cuts: readonly number[],
    method: string,
    maxHeaderSize: number,
  ): Promise<ResponseOutcome> {
    const id = String(this.nextId++);
    this.cases.set(id, { bytes, cuts });
    const client = new Client(`http://127.0.0.1:${this.port}`, {
      pipelining: 1,
      maxHeaderSize,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const responses: SeenResponse[] = [];
    let parts: Buffer[] = [];
    const strings = (raw: Buffer[] | string[] | null | undefined): string[] =>
      (raw ?? []).map((b, i) => (i % 2 === 1 ? trimEnd(b.toString('latin1')) : b.toString('latin1')));
    const error = await new Promise<string | null>((resolve) => {
      client.dispatch({ method, path: `/c/${id}`, headers: { host: 'x' } }, {
        onConnect() {},
        onHeaders(statusCode: number, raw: Buffer[]) {
          responses.push({ status: statusCode, headers: strings(raw), body: Buffer.alloc(0), trailers: [] });
          parts = [];
          return true;
        },
        onData(chunk: Buffer) {
          parts.push(Buffer.from(chunk));
          return true;
        },
        onComplete(trailers: Buffer[] | null) {
          const last = responses[responses.length - 1] as SeenResponse;
          last.body = Buffer.concat(parts);
          last.trailers = strings(trailers);
          resolve(null);
        },
        onError(err: Error & { code?: string }) {
          resolve(err.code ?? err.name);
        },
      } as never);
    });
    await client.destroy().catch(() => {});
    this.cases.delete(id);
    // undici reports 1xx through onHeaders too but never completes them; keep what it completed.
    const completed = error === null ? responses : responses.filter((r) => r.status < 200);
    return { responses: completed, error };
  }
}

function sameResponse(a: SeenResponse, b: SeenResponse): string | null {
  if (a.status !== b.status) return `status ${a.status} vs ${b.status}`;
  if (JSON.stringify(a.headers) !== JSON.stringify(b.headers)) {
    return `headers ${JSON.stringify(a.headers)} vs ${JSON.stringify(b.headers)}`;
  }
  if (!a.body.equals(b.body)) return `body of ${a.body.length} vs ${b.body.length} bytes`;
  if (JSON.stringify(a.trailers) !== JSON.stringify(b.trailers)) {
    return `trailers ${JSON.stringify(a.trailers)} vs ${JSON.stringify(b.trailers)}`;
  }
  return null;
}

export function compareResponses(
  bytes: Buffer,
  ours: ResponseOutcome,
  undici: ResponseOutcome,
  method: string,
): Verdict {
  const common = Math.min(ours.responses.length, undici.responses.length);
  for (let k = 0; k < common; k++) {
    const diff = sameResponse(ours.responses[k] as SeenResponse, undici.responses[k] as SeenResponse);
    if (diff === null) continue;
    const id = classifyResponse('reads-differently', {
      ours: ours.error,
      undici: undici.error,
      response: ours.responses[k],
      raw: bytes.subarray(responseStart(bytes, k)),
      method,
    });
    if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: undici.error };
    return { kind: 'failure', reason: `response ${k} differs: ${diff}` };
  }
  const k = common;
  const at = responseStart(bytes, k);
  const context = (response: SeenResponse | undefined): ResponseContext => ({
    ours: ours.error,
    undici: undici.error,
    response,
    raw: bytes.subarray(at),
    method,
  });
  if (ours.responses.length === undici.responses.length) {
    if ((ours.error === null) === (undici.error === null)) {
      if (ours.error === null) return { kind: 'accepted', messages: k };
      return { kind: 'refused', ours: ours.error, llhttp: undici.error as string };
    }
  }
  const direction =
    ours.responses.length > undici.responses.length || ours.error === null ? 'ours-accepts' : 'ours-refuses';
  const response = direction === 'ours-accepts' ? ours.responses[k] : undici.responses[k];
  const id = classifyResponse(direction, context(response));
  if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: undici.error };
  return {
    kind: 'failure',
    reason: `response ${k}: ours ${ours.error ?? 'accepts'}, undici ${undici.error ?? 'accepts'}`,
  };
}

/** Where the k-th response starts: the generator puts interim (bodiless) responses first. */
function responseStart(bytes: Buffer, k: number): number {
  let at = 0;
  for (let i = 0; i < k; i++) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) return at;
    at = end + 4;
  }
  return at;
}
