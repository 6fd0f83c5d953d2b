/**
 * Request bodies: small ones (up to the retry buffer) are read into memory so that retries and mirrors can
 * resend them; larger or length-less ones stream through untouched, and are then never retried.
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';

export interface BodyInfo {
  body: Buffer | import('node:stream').Readable | null;
  /** Bytes received so far; for a streamed body it grows as the stream is consumed. */
  bytes(): number;
}

export async function readBody(req: IncomingMessage, bufferLimit: number): Promise<BodyInfo> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) {
    if (length === '0') req.resume();
    return { body: length === '0' ? Buffer.alloc(0) : null, bytes: () => 0 };
  }
  const declared = length === undefined ? Number.NaN : Number(length);
  if (!chunked && declared <= bufferLimit) {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
    }
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    return { body, bytes: () => total };
  }
  let count = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      count += chunk.length;
      done(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  req.pipe(counter);
  return { body: counter, bytes: () => count };
}
