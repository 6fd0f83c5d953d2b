/**
 * The `trellis` command: reads the command line and the environment once (settings.ts), picks the server and
 * token, runs one command and answers with an exit code scripts can rely on (errors.ts).
 */
import { pageOf, RevisionSummary } from '@trellis/schema';
import { apply, type Io, preview } from './apply.ts';
import { Client } from './client.ts';
import * as commands from './commands.ts';
import { readConfig } from './config-file.ts';
import { CliError, EXIT, type ExitCode, usageError } from './errors.ts';
import { loadManifests } from './manifest.ts';
import {
  DEFAULT_SERVER,
  type Environment,
  type Invocation,
  parseArgs,
  readEnvironment,
  target,
} from './settings.ts';

export const HELP = `trellis: drive a Trellis mesh from a terminal or from Git.

Usage:
  trellis apply -f <file|dir|->... [--dry-run]   create or update resources from manifests
  trellis diff -f <file|dir|->...                show what apply would change (exit 1 if anything)
  trellis get services|routes|policies|authorizationpolicies|proxies|revisions [name] [-o table|yaml|json]
  trellis describe service <name>                spec, endpoints, routes, policies and proxies
  trellis proxy-status [service] [-o ...]        each proxy's sync status
  trellis rollback <revision>                    restore the configuration of an earlier revision
  trellis login --server URL [--token TOKEN]     remember the server (and a token)
  trellis version

Flags:
  -s, --server URL     control plane to talk to (else $TRELLIS_SERVER, else what login saved,
                       else ${DEFAULT_SERVER})
      --token TOKEN    bearer token (else $TRELLIS_TOKEN, else the one login saved for that server)
  -o, --output FORMAT  table (default), yaml or json
  -f, --filename PATH  manifest file, folder (*.yaml, *.yml, *.json, sorted) or - for stdin; repeatable
      --dry-run        apply: print the diffs and the proxies affected, change nothing

Exit codes: 0 ok; 1 diff found differences, or the server refused or failed the operation; 2 usage error;
3 invalid manifest; 4 cannot reach the server; 5 conflict (the resource changed since it was read).
`;

export interface Streams {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  stdin: NodeJS.ReadableStream;
}

async function client(inv: Invocation, env: Environment): Promise<Client> {
  const { server, token } = target(inv.flags, env, await readConfig(env.configPath));
  return new Client(server, token);
}

function noArgs(inv: Invocation) {
  if (inv.args.length) throw usageError(`${inv.command} takes no arguments, got ${inv.args.join(' ')}`);
}

async function dispatch(
  inv: Invocation,
  envVars: NodeJS.ProcessEnv,
  streams: Streams,
  io: Io,
): Promise<ExitCode> {
  const env = readEnvironment(envVars, streams.stdout.isTTY === true);
  io.color = env.color;
  const output = inv.flags.output ?? 'table';
  switch (inv.command) {
    case 'apply':
    case 'diff': {
      noArgs(inv);
      if (inv.flags.files.length === 0) throw usageError(`${inv.command} needs -f <file|dir|->`);
      const manifests = await loadManifests(inv.flags.files, streams.stdin);
      const api = await client(inv, env);
      if (inv.command === 'diff') return (await preview(api, manifests, io, 'diff')) ? EXIT.failed : EXIT.ok;
      if (inv.flags.dryRun) {
        await preview(api, manifests, io, 'dry-run');
        return EXIT.ok;
      }
      return apply(api, manifests, io);
    }
    case 'get':
      await commands.get(await client(inv, env), inv.args, output, io);
      return EXIT.ok;
    case 'describe':
      await commands.describe(await client(inv, env), inv.args, io);
      return EXIT.ok;
    case 'proxy-status':
      await commands.proxyStatus(await client(inv, env), inv.args, output, io);
      return EXIT.ok;
    case 'rollback':
      await commands.rollback(await client(inv, env), inv.args, output, io);
      return EXIT.ok;
    case 'login':
      noArgs(inv);
      await commands.login(
        inv.flags.server,
        inv.flags.token,
        env.configPath,
        async (server, token) => {
          const page = await new Client(server, token).get(pageOf(RevisionSummary), '/revisions?limit=1');
          const latest = page.items[0];
          return `the control plane at ${server} answers${latest ? `; the mesh is at revision ${latest.revision}` : ''}`;
        },
        io,
      );
      return EXIT.ok;
    case 'version':
      noArgs(inv);
      commands.version(io);
      return EXIT.ok;
    case 'help':
      streams.stdout.write(HELP);
      return EXIT.ok;
    default:
      throw usageError(`unknown command ${JSON.stringify(inv.command)}; see trellis --help`);
  }
}

/** Runs one invocation; never throws: every outcome is an exit code, problems go to stderr. */
export async function run(
  argv: readonly string[],
  envVars: NodeJS.ProcessEnv,
  streams: Streams,
): Promise<ExitCode> {
  const io: Io = {
    out: (text) => streams.stdout.write(text),
    err: (text) => streams.stderr.write(text),
    color: false,
  };
  try {
    const inv = parseArgs(argv);
    if (inv.flags.help || inv.command === undefined) {
      (inv.command === undefined && !inv.flags.help ? streams.stderr : streams.stdout).write(HELP);
      return inv.flags.help ? EXIT.ok : EXIT.usage;
    }
    return await dispatch(inv, envVars, streams, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`error: ${error.message.replaceAll('\n', '\nerror: ')}\n`);
      return error.exitCode;
    }
    io.err(`error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failed;
  }
}
