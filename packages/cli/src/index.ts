/** @trellis/cli as a library: the pieces the `trellis` command is made of, for tests and other tools. */
export { apply, plan, preview } from './apply.ts';
export { ApiError, Client } from './client.ts';
export { unifiedDiff } from './diff.ts';
export { CliError, EXIT } from './errors.ts';
export { API_VERSION, canonical, KINDS, specOf, toManifest } from './kinds.ts';
export { checkDocument, loadManifests, ManifestError } from './manifest.ts';
export { HELP, run } from './run.ts';
export { configPath, normaliseServer, parseArgs } from './settings.ts';
