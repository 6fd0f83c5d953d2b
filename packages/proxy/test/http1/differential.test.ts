/**
 * Differential test of the HTTP/1.1 codec against llhttp, Node's own parser: seeded byte streams (valid
 * requests, pipelined ones, every smuggling mutation, each cut into several TCP writes) go to RequestParser and
 * to a real node:http server over loopback; raw responses go to ResponseParser and to undici. Both must refuse,
 * or both accept the same messages; every other outcome must be a documented divergence
 * (support/divergences.ts). bench/proxy/http1-fuzz.mjs runs the same for a million cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIVERGENCES, RESPONSE_DIVERGENCES } from './support/divergences.ts';
import { requestCase, responseCase } from './support/generate.ts';
import { compare, LlhttpServer, runOurs, type Verdict } from './support/harness.ts';
import { compareResponses, runOursResponse, UndiciHarness } from './support/responses.ts';

const LIMITS = { maxHeadBytes: 16384, maxHeaders: 100, maxStartLineBytes: 8192 };
const REQUEST_CASES = 4000;
const RESPONSE_CASES = 600;
const CONCURRENCY = 8;

interface Tally {
  verdicts: Map<string, number>;
  failures: string[];
}

async function run(
  count: number,
  check: (seed: number) => Promise<{ verdict: Verdict; tags: string[] }>,
): Promise<Tally> {
  const tally: Tally = { verdicts: new Map(), failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const seed = 1 + next++;
      const { verdict, tags } = await check(seed);
      const key = verdict.kind === 'divergence' ? `divergence:${verdict.id}` : verdict.kind;
      tally.verdicts.set(key, (tally.verdicts.get(key) ?? 0) + 1);
      if (verdict.kind === 'failure')
        tally.failures.push(`seed ${seed} [${tags.join(',')}]: ${verdict.reason}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return tally;
}

describe('RequestParser against node:http (llhttp)', () => {
  const server = new LlhttpServer({ maxHeaderSize: LIMITS.maxHeadBytes });
  beforeAll(() => server.listen());
  afterAll(() => server.close());

  it(`agrees on ${REQUEST_CASES} seeded request streams cut into writes, or differs only as documented`, async () => {
    const tally = await run(REQUEST_CASES, async (seed) => {
      const c = requestCase(seed, LIMITS);
      const ours = runOurs(c.bytes, c.cuts, LIMITS);
      const reference = await server.run(c.bytes, c.cuts);
      return { verdict: compare(c.bytes, ours, reference, LIMITS), tags: c.tags };
    });
    expect(tally.failures).toEqual([]);
    // The generator must keep exercising both outcomes, not only mutations.
    expect(tally.verdicts.get('accepted') ?? 0).toBeGreaterThan(REQUEST_CASES * 0.3);
    expect(tally.verdicts.get('refused') ?? 0).toBeGreaterThan(REQUEST_CASES * 0.2);
  });
});

describe('ResponseParser against undici (llhttp in wasm)', () => {
  const harness = new UndiciHarness();
  beforeAll(() => harness.listen());
  afterAll(() => harness.close());

  it(`agrees on ${RESPONSE_CASES} seeded response streams, or differs only as documented`, async () => {
    const tally = await run(RESPONSE_CASES, async (seed) => {
      const c = responseCase(seed, LIMITS);
      const ours = runOursResponse(c.bytes, c.cuts, c.method, LIMITS);
      const reference = await harness.run(c.bytes, c.cuts, c.method, LIMITS.maxHeadBytes);
      return { verdict: compareResponses(c.bytes, ours, reference, c.method), tags: c.tags };
    });
    expect(tally.failures).toEqual([]);
    expect(tally.verdicts.get('accepted') ?? 0).toBeGreaterThan(RESPONSE_CASES * 0.4);
  });
});

describe('the documented divergences', () => {
  it('each says which way it goes and why', () => {
    for (const d of [...DIVERGENCES, ...RESPONSE_DIVERGENCES]) {
      expect(d.id).toMatch(/^[a-z0-9-]+$/);
      expect(d.codes.length).toBeGreaterThan(0);
      expect(d.reason.length).toBeGreaterThan(10);
    }
    // Trellis accepting what llhttp refuses is allowed only for the HTAB-after-token cases the RFC decides.
    const accepting = [...DIVERGENCES, ...RESPONSE_DIVERGENCES].filter((d) => d.direction !== 'ours-refuses');
    expect(new Set(accepting.map((d) => d.id))).toEqual(
      new Set([
        'htab-after-framing-token',
        'htab-after-connection-token',
        'interim-100',
        'bodiless-content-length',
      ]),
    );
  });
});
