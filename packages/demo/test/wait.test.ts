/**
 * The last start-up wait of the demo mesh: the ingress must answer 200 several times in a row before the banner
 * says "try curl". A cold chain under load can fail its first request (a per-try timeout on the way), and that first
 * request must not be the operator's.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForAnswers } from '../src/launcher.ts';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** Answers with the statuses in turn, then 200 for ever; counts the requests. */
async function serve(statuses: number[]): Promise<{ url: string; requests: () => number }> {
  let n = 0;
  server = http.createServer((_req, res) => {
    const status = statuses[n] ?? 200;
    n += 1;
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, requests: () => n };
}

describe('waitForAnswers', () => {
  it('resolves only after three 200s in a row: a failure in between starts the count again', async () => {
    const target = await serve([502, 200, 200, 502, 200]);
    await waitForAnswers(target.url, 10_000);
    // 502, 200, 200, 502, then 200 ×3.
    expect(target.requests()).toBe(7);
  });

  it('rejects, naming the URL, when the answers never come', async () => {
    const target = await serve(Array.from({ length: 10_000 }, () => 502));
    await expect(waitForAnswers(target.url, 300)).rejects.toThrow(`${target.url} did not answer 200`);
  });
});
