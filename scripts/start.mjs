// `npm start`: install if needed, build, then run the control plane on an embedded Postgres (or DATABASE_URL).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ENV, ensureInstalled, ROOT, turbo } from './lib.mjs';

ensureInstalled();
if (turbo(['run', 'build', '--output-logs=errors-only']) !== 0) {
  process.stderr.write('build failed\n');
  process.exit(1);
}

const control = spawn(
  path.join(ROOT, 'node_modules', '.bin', 'tsx'),
  [path.join(ROOT, 'apps', 'control', 'src', 'main.ts')],
  { cwd: ROOT, stdio: 'inherit', env: ENV },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => control.kill(signal));
control.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
