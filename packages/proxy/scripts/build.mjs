// Bundles the proxy (with @trellis/schema and its dependencies) into dist/trellis-proxy-bundle.mjs, and makes
// dist/trellis-proxy.mjs, the file to run: src/heap.ts (V8's young generation held at its starting size, which must
// be set before the bundle is parsed), then the bundle.
//
// Every sidecar holds this file's text in its heap for as long as it runs, and evaluates all of it at start, so
// what goes in is resident memory times the number of sidecars (docs/proxy-memory.md has the measurements):
// - whitespace and comments are stripped: a single non-ASCII character in a comment ("’" in undici's) made V8 keep
//   the whole source as a two-byte string, twice its size. Names are kept, so stack traces stay readable;
// - the files of @trellis/schema are declared free of side effects, so the ones the proxy does not use (the API,
//   console and auth schemas) are left out instead of being built at start;
// - zod's translations of its error messages into 40 languages are left out: the proxy reports in English;
// - `pino` is src/logger.ts, which writes pino's lines without pino's modules (3 MiB of an idle sidecar);
// - yaml (a YAML config file), prom-client (the first /metrics scrape) and re2js (the first route regex) are files
//   of their own beside the bundle, required when first used: their source is not held by a sidecar that never
//   uses them (0.8 MiB of an idle sidecar, with the tables re2js builds when it is loaded);
// - zod and the mesh schemas (src/schemas.ts, the only module of the proxy that runs a schema) are dist/lib-schema.cjs,
//   required when the proxy validates (its config, the control plane's messages) and dropped after a quiet spell:
//   they were the largest part of an idle sidecar's memory, for work done only at start and at config changes;
// - `node:http` is loaded only when an active health check makes its first request (`http.request` loads the
//   module at its first call; 1 MiB of an idle sidecar that never loads node:http). The serializer's status
//   phrases are its own table (src/http1/status.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleNode } from '../../../scripts/bundle.mjs';

const SCHEMA_SRC = `${fs.realpathSync(fileURLToPath(new URL('../../schema/src', import.meta.url)))}${path.sep}`;
const LOGGER = fileURLToPath(new URL('../src/logger.ts', import.meta.url));
const ZOD_LOCALES = /[/\\]node_modules[/\\]zod[/\\]v4[/\\]locales[/\\]index\.js$/;

/** node:http as the proxy uses it (the health checker's `http.request`), without loading it at start. */
const LAZY_HTTP = `import { createRequire } from 'node:module';
export default new Proxy({}, { get: (_, name) => createRequire(import.meta.url)('node:http')[name] });`;

/** Libraries built into files of their own (dist/lib-NAME.cjs), required from the bundle when first used. */
const SIDE_LIBRARIES = ['yaml', 'prom-client', 're2js'];
const sideFile = (name) => `./lib-${name}.cjs`;
/**
 * How the bundle reaches a side library. yaml and prom-client are imported with import() where they are used: a
 * CommonJS module that requires the side file is evaluated at that import. re2js is imported statically by the
 * schemas (RE2JS.compile): a stand-in whose properties require the side file at their first use.
 */
const sideModule = (name, format) =>
  name === 're2js'
    ? `${format === 'cjs' ? '' : "import { createRequire } from 'node:module';"}
let lib;
const load = () => (lib ??= ${format === 'cjs' ? 'require' : 'createRequire(import.meta.url)'}('${sideFile(name)}').RE2JS);
export const RE2JS = new Proxy({}, {
  get: (_, key) => { const value = load()[key]; return typeof value === 'function' ? value.bind(lib) : value; },
});`
    : `module.exports = require('${sideFile(name)}');`;

const SCHEMAS = fileURLToPath(new URL('../src/schemas.ts', import.meta.url));
const ACTIVITY = fileURLToPath(new URL('../src/activity.ts', import.meta.url));
/**
 * How long the schemas stay loaded after their last use, or after the last request the proxy began: a burst of
 * config changes loads them once, and a proxy carrying traffic keeps them (src/activity.ts says why).
 */
const SCHEMAS_LINGER_MS = 3000;

/**
 * src/schemas.ts as the bundle sees it: the same functions, each requiring dist/lib-schema.cjs at its call and
 * keeping it for SCHEMAS_LINGER_MS after the last one. Dropping it removes it from require's cache and deletes the
 * two globals zod keeps (its config, which holds a function of the file's scope, and its registry), and each load
 * requires through a fresh `require` so that no parent module lists it as a child: nothing then holds zod. Two full
 * garbage collections then give the memory back at once: an idle process may otherwise wait long for one, and the
 * first still finds zod's objects through the maps V8 keeps for a collection more (about 10 ms, once per drop).
 * Loading costs about 70–100 ms of CPU and the first validation 10 ms more, on this machine, and the proxy answers
 * nothing meanwhile: so while requests keep coming (the proxy's activity reading, src/activity.ts, moved since the
 * last look), the schemas stay, and only a proxy quiet for the whole linger lets them go.
 */
function lazySchemas() {
  const text = fs.readFileSync(SCHEMAS, 'utf8');
  const names = [...text.matchAll(/^export (?:const|function) (\w+)/gm)].map((m) => m[1]);
  if (names.length === 0) throw new Error('src/schemas.ts exports no function');
  return `import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ACTIVITY } from ${JSON.stringify(ACTIVITY)};
const FILE = './lib-schema.cjs';
function collect() {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  setFlagsFromString('--no-expose-gc');
  gc();
  gc();
}
let lib;
let timer;
let seen;
function activity() {
  const read = globalThis[ACTIVITY];
  return typeof read === 'function' ? read() : undefined;
}
function linger() {
  const now = activity();
  if (now !== seen) {
    seen = now;
    timer.refresh();
  } else drop();
}
function drop() {
  const require = createRequire(import.meta.url);
  delete require.cache[require.resolve(FILE)];
  delete globalThis.__zod_globalConfig;
  delete globalThis.__zod_globalRegistry;
  lib = undefined;
  timer = undefined;
  collect();
}
function load() {
  lib ??= createRequire(import.meta.url)(FILE);
  seen = activity();
  if (timer) timer.refresh();
  else timer = setTimeout(linger, ${SCHEMAS_LINGER_MS}).unref();
  return lib;
}
${names.map((name) => `export function ${name}(...args) { return load().${name}(...args); }`).join('\n')}`;
}

/** @type {import('esbuild').Plugin} */
const smaller = {
  name: 'trellis-proxy-smaller',
  setup(build) {
    build.onResolve({ filter: /^(yaml|prom-client|re2js)$/ }, (args) =>
      args.namespace === 'side-library' ? undefined : { path: args.path, namespace: 'side-library' },
    );
    build.onResolve({ filter: /^\.\/lib-/ }, (args) => ({ path: args.path, external: true }));
    build.onLoad({ filter: /.*/, namespace: 'side-library' }, (args) => ({
      contents: sideModule(args.path, build.initialOptions.format),
      loader: 'js',
    }));
    if (build.initialOptions.format !== 'cjs') {
      build.onResolve({ filter: /[/\\]schemas\.ts$/ }, (args) =>
        path.resolve(args.resolveDir, args.path) === SCHEMAS
          ? { path: SCHEMAS, namespace: 'lazy-schemas' }
          : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: 'lazy-schemas' }, () => ({
        contents: lazySchemas(),
        loader: 'js',
        resolveDir: path.dirname(SCHEMAS),
      }));
    }
    build.onResolve({ filter: /^node:http$/ }, () => ({ path: 'node:http', namespace: 'lazy-http' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-http' }, () => ({ contents: LAZY_HTTP, loader: 'js' }));
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === smaller) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: smaller,
      });
      if (resolved.errors.length > 0) return undefined;
      if (resolved.external || resolved.namespace !== 'file') return resolved;
      if (ZOD_LOCALES.test(resolved.path)) {
        return { path: resolved.path, namespace: 'zod-locales', pluginData: path.dirname(resolved.path) };
      }
      if (fs.realpathSync(resolved.path).startsWith(SCHEMA_SRC)) return { ...resolved, sideEffects: false };
      return resolved;
    });
    // `z.locales` keeps English, the language zod is configured with by default.
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: args.pluginData,
      loader: 'js',
    }));
  },
};

const built = await bundleNode({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/trellis-proxy-bundle.mjs',
  minifyWhitespace: true,
  plugins: [smaller],
  alias: { pino: LOGGER },
  metafile: true,
});
// What each input adds to the bundle (`npx esbuild --analyze` reads it too): the first place to look at what a
// sidecar evaluates at start.
fs.writeFileSync('dist/trellis-proxy-bundle.meta.json', JSON.stringify(built.metafile));
for (const name of SIDE_LIBRARIES) {
  await bundleNode({
    stdin: { contents: `module.exports = require('${name}');`, resolveDir: '.', loader: 'js' },
    outfile: `dist/lib-${name}.cjs`,
    format: 'cjs',
    banner: {},
    sourcemap: false,
    minifyWhitespace: true,
  });
}
await bundleNode({
  entryPoints: [SCHEMAS],
  outfile: 'dist/lib-schema.cjs',
  format: 'cjs',
  banner: {},
  sourcemap: false,
  minifyWhitespace: true,
  plugins: [smaller],
});
// The entry file had the bundle's source map when it was the bundle.
fs.rmSync('dist/trellis-proxy.mjs.map', { force: true });
await bundleNode({
  entryPoints: ['src/heap.ts'],
  outfile: 'dist/trellis-proxy.mjs',
  sourcemap: false,
  banner: { js: '// Made by scripts/build.mjs: src/heap.ts, then the proxy.' },
  footer: { js: "await import('./trellis-proxy-bundle.mjs');" },
});
