// The route regex "/(a+)+b" against a 30-character path of "a"s (security issue M8 §3 asks for an answer in under
// 5 ms). Prints the router's match time on RE2 (the first match of a fresh compile, then the median and worst of
// 2,000 more) and the latency of the whole request through a real proxy (first request, then p50 / p99 / max of
// 500), beside what JavaScript's backtracking RegExp, which the router used before, takes on shorter paths of "a"s.
// Run: node --import tsx bench/proxy/regex-redos.mjs
import http from 'node:http';
import { pino } from 'pino';
import { request } from 'undici';
import { createProxy } from '../../packages/proxy/src/proxy.ts';
import { Router } from '../../packages/proxy/src/router.ts';
import { RouteRuleSpec } from '../../packages/schema/src/index.ts';

const EVIL = '/(a+)+b';
const PATH = `/${'a'.repeat(29)}`;
const ms = (t) => `${t.toFixed(3)} ms`;
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

const router = new Router(
  [RouteRuleSpec.parse({ name: 'evil', service: 'svc', match: [{ path: { regex: EVIL } }] })],
  (rule) => rule.name,
  'svc',
);
let t = performance.now();
const first = router.route('GET', PATH, {});
const firstMatch = performance.now() - t;
const times = [];
for (let i = 0; i < 2000; i++) {
  t = performance.now();
  router.route('GET', PATH, {});
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`router, RE2: "${EVIL}" vs ${PATH.length} characters → ${first ? 'match' : 'no match'}`);
console.log(`  first match ${ms(firstMatch)}, then median ${ms(pct(times, 50))}, max ${ms(times.at(-1))}`);

const upstream = http.createServer((_req, res) => res.end('ok'));
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const proxy = await createProxy(
  {
    node: { service: 'client' },
    listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
    services: [{ name: 'svc', port: 80 }],
    endpoints: [{ service: 'svc', address: '127.0.0.1', port: upstream.address().port }],
    routes: [
      { name: 'evil', service: 'svc', priority: 1, match: [{ path: { regex: EVIL } }] },
      { name: 'rest', service: 'svc', priority: 2 },
    ],
  },
  { logger: pino({ level: 'silent' }) },
);
const url = `http://127.0.0.1:${proxy.address('out').port}${PATH}`;
const once = async () => {
  const start = performance.now();
  const res = await request(url, { headers: { host: 'svc' } });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return performance.now() - start;
};
const firstRequest = await once();
const latencies = [];
for (let i = 0; i < 500; i++) latencies.push(await once());
latencies.sort((a, b) => a - b);
console.log(`request through the proxy (${PATH.length}-character path, regex route tried first):`);
console.log(
  `  first ${ms(firstRequest)}, then p50 ${ms(pct(latencies, 50))}, p99 ${ms(pct(latencies, 99))}, max ${ms(latencies.at(-1))}`,
);
await proxy.close();
upstream.close();

console.log('before, JavaScript RegExp (backtracking), shorter paths of "a"s:');
for (const n of [16, 18, 20, 22]) {
  const re = new RegExp(`^(?:${EVIL})$`, 'u');
  const path = `/${'a'.repeat(n - 1)}`;
  t = performance.now();
  re.test(path);
  console.log(`  ${n} characters: ${ms(performance.now() - t)}`);
}
console.log(
  '  (each character doubles it: 30 characters would take about 256 times the 22-character figure)',
);
