// Differential fuzzing of Trellis's HTTP/1.1 codec against llhttp, the long run (issue #15 §4). The same
// generators and checks as packages/proxy/test/http1/differential.test.ts, for as many cases as asked:
//   requests:  each byte stream (valid requests, pipelined ones, every smuggling mutation, cut into writes) goes
//              to RequestParser and to a real node:http server (llhttp, strict) over loopback;
//   responses: each raw response goes to ResponseParser and to undici (llhttp in wasm) from a net server.
// Both must refuse, or both accept the same messages (method, target, version, raw headers, body, trailers);
// any other outcome must be one of the documented divergences (test/http1/support/divergences.ts), else it is a
// finding. Prints cases, agreements, our refusals by code, divergences by class, findings with their seeds.
//
// Run: node --import tsx bench/proxy/http1-fuzz.mjs [--cases 1000000] [--responses 100000] [--seed 1]
//      [--concurrency 16]        (exit code 1 when there are findings)
// Reproduce one case: --seed S --cases 1 (requests) or --seed S --cases 0 --responses 1.
import { parseArgs } from 'node:util';
import { requestCase, responseCase } from '../../packages/proxy/test/http1/support/generate.ts';
import { compare, LlhttpServer, runOurs } from '../../packages/proxy/test/http1/support/harness.ts';
import {
  compareResponses,
  runOursResponse,
  UndiciHarness,
} from '../../packages/proxy/test/http1/support/responses.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    responses: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    'show-findings': { type: 'string', default: '20' },
  },
});
const CASES = Number(values.cases);
const RESPONSES = Number(values.responses);
const SEED = Number(values.seed);
const CONCURRENCY = Number(values.concurrency);
const LIMITS = { maxHeadBytes: 16384, maxHeaders: 100, maxStartLineBytes: 8192 };

function tally(map, key) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function sorted(map) {
  return [...map.entries()].sort((a, b) => b[1] - a[1]);
}

async function pool(count, work) {
  let next = 0;
  let done = 0;
  const started = Date.now();
  let lastReport = started;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await work(i);
      done++;
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        const rate = done / ((lastReport - started) / 1000);
        process.stderr.write(`  ${done}/${count} (${rate.toFixed(0)}/s)\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (Date.now() - started) / 1000;
}

function report(title, count, seconds, verdicts, refusals, divergences, findings) {
  console.log(`\n${title}: ${count} cases in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)}/s)`);
  console.log(`  both accept:  ${verdicts.get('accepted') ?? 0}`);
  console.log(`  both refuse:  ${verdicts.get('refused') ?? 0}`);
  console.log(`  divergences:  ${verdicts.get('divergence') ?? 0} (documented)`);
  console.log(`  findings:     ${findings.length}`);
  console.log('  our refusals by code (both refusing, or a documented divergence):');
  for (const [code, n] of sorted(refusals)) console.log(`    ${code.padEnd(40)} ${n}`);
  console.log('  divergences by class:');
  for (const [id, n] of sorted(divergences)) console.log(`    ${id.padEnd(40)} ${n}`);
  for (const f of findings.slice(0, Number(values['show-findings']))) console.log(`  FINDING ${f}`);
}

console.log(`http1 differential fuzz: seed ${SEED}, ${CASES} request cases, ${RESPONSES} response cases`);
console.log(`node ${process.version}, llhttp ${process.versions.llhttp}, limits ${JSON.stringify(LIMITS)}`);
let findingsTotal = 0;

if (CASES > 0) {
  const server = new LlhttpServer({ maxHeaderSize: LIMITS.maxHeadBytes });
  await server.listen();
  const verdicts = new Map();
  const refusals = new Map();
  const divergences = new Map();
  const findings = [];
  const seconds = await pool(CASES, async (i) => {
    const seed = SEED + i;
    const c = requestCase(seed, LIMITS);
    const ours = runOurs(c.bytes, c.cuts, LIMITS);
    const reference = await server.run(c.bytes, c.cuts);
    const v = compare(c.bytes, ours, reference, LIMITS);
    tally(verdicts, v.kind);
    if (ours.error !== null && v.kind !== 'failure') tally(refusals, ours.error);
    if (v.kind === 'divergence') tally(divergences, v.id);
    if (v.kind === 'failure') findings.push(`request seed ${seed} [${c.tags.join(',')}]: ${v.reason}`);
  });
  await server.close();
  report('requests (vs node:http)', CASES, seconds, verdicts, refusals, divergences, findings);
  findingsTotal += findings.length;
}

if (RESPONSES > 0) {
  const harness = new UndiciHarness();
  await harness.listen();
  const verdicts = new Map();
  const refusals = new Map();
  const divergences = new Map();
  const findings = [];
  const seconds = await pool(RESPONSES, async (i) => {
    const seed = SEED + i;
    const c = responseCase(seed, LIMITS);
    const ours = runOursResponse(c.bytes, c.cuts, c.method, LIMITS);
    const reference = await harness.run(c.bytes, c.cuts, c.method, LIMITS.maxHeadBytes);
    const v = compareResponses(c.bytes, ours, reference, c.method);
    tally(verdicts, v.kind);
    if (ours.error !== null && v.kind !== 'failure') tally(refusals, ours.error);
    if (v.kind === 'divergence') tally(divergences, v.id);
    if (v.kind === 'failure')
      findings.push(`response seed ${seed} ${c.method} [${c.tags.join(',')}]: ${v.reason}`);
  });
  await harness.close();
  report('responses (vs undici)', RESPONSES, seconds, verdicts, refusals, divergences, findings);
  findingsTotal += findings.length;
}

console.log(`\nseed ${SEED}; findings ${findingsTotal}`);
process.exitCode = findingsTotal > 0 ? 1 : 0;
