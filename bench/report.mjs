// Writes a benchmark's results as bench/results/<name>-latest.{md,json}, laid out the way the repo's formatter
// (Biome) wants them so that `npm run lint` stays clean, and prints the markdown. Shared by every benchmark.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToEnd } from './proxy/procs.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench/results');

/** The command line that ran `script`, with the BENCH_* settings in force. */
export function commandLine(script) {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  const args = process.argv.slice(2);
  return `${env}node ${script}${args.length ? ` ${args.join(' ')}` : ''}`;
}

/** Writes `markdown` and `report` (numbers rounded to `decimals`) and prints the markdown; returns the files. */
export async function writeReport(name, report, markdown, decimals) {
  const files = [`bench/results/${name}-latest.md`, `bench/results/${name}-latest.json`];
  const scale = 10 ** decimals;
  const round = (_k, v) =>
    typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * scale) / scale : v;
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(ROOT, files[0]), markdown);
  fs.writeFileSync(path.join(ROOT, files[1]), `${JSON.stringify(report, round, 2)}\n`);
  const biome = path.join(ROOT, 'node_modules/.bin/biome');
  if (fs.existsSync(biome)) {
    await runToEnd('biome', biome, ['format', '--write', ...files], { cwd: ROOT, timeoutMs: 60_000 });
  }
  process.stdout.write(`\n${fs.readFileSync(path.join(ROOT, files[0]), 'utf8')}`);
  return files;
}
