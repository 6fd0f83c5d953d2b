// Shared by `npm start` and `npm test`: install dependencies when missing, run commands with a quiet turbo.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const ENV = {
  ...process.env,
  TURBO_TELEMETRY_DISABLED: '1',
  TURBO_NO_UPDATE_NOTIFIER: '1',
  DO_NOT_TRACK: '1',
  NEXT_TELEMETRY_DISABLED: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};

/** Runs a command in the repo root with inherited output; returns its exit status. */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: ENV, ...options });
  if (result.error) {
    process.stderr.write(`could not run ${command}: ${result.error.message}\n`);
    return 1;
  }
  return result.status ?? 1;
}

/** `npm ci` when node_modules is missing or older than the lock file's install. */
export function ensureInstalled() {
  if (existsSync(path.join(ROOT, 'node_modules', '.package-lock.json'))) return;
  process.stdout.write('Installing dependencies (npm ci)…\n');
  const status = run('npm', ['ci', '--no-audit', '--no-fund']);
  if (status !== 0) {
    process.stderr.write('npm ci failed\n');
    process.exit(status);
  }
}

export function turbo(args) {
  return run(path.join(ROOT, 'node_modules', '.bin', 'turbo'), args);
}
