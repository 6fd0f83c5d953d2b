/** The `trellis` executable: runs the command line it was given and exits with the command's exit code. */
import { run } from './run.ts';

const code = await run(process.argv.slice(2), process.env, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
// Let stdout drain (a pipe may be slow) before the exit code is set.
process.exitCode = code;
