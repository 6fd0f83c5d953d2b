/**
 * The suite's figures: each case merges its own entry, keyed by the case's name, into
 * bench/results/reliability-latest.json (next to the benchmarks' results) and prints it, so that a run of one case
 * keeps the others' last figures. Each entry also records the settings in force and the machine's load average. The file is formatted with the repo's formatter so `npm run lint` stays clean.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const RESULTS_FILE = path.join(REPO_ROOT, 'bench/results/reliability-latest.json');

export type Figures = Record<string, unknown>;

const round = (_key: string, value: unknown) =>
  typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value;

/** Merges `figures` under `name` (with the time and the settings in force) and prints them. */
export function recordFigures(name: string, figures: Figures): void {
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>;
  } catch {
    all = {};
  }
  const settings = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => key.startsWith('RELIABILITY_')),
  );
  // The machine is shared: its load average when the figures were taken says how far to trust them.
  const entry = { at: new Date().toISOString(), settings, loadAverage1m: os.loadavg()[0], ...figures };
  all[name] = entry;
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(all, round, 2)}\n`);
  const biome = path.join(REPO_ROOT, 'node_modules/.bin/biome');
  if (fs.existsSync(biome)) {
    execFileSync(biome, ['format', '--write', RESULTS_FILE], { cwd: REPO_ROOT, stdio: 'ignore' });
  }
  process.stdout.write(`\n[reliability] ${name}\n${JSON.stringify(entry, round, 2)}\n`);
}
