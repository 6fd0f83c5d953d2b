// How every runnable package (proxy, CLI, demo) is bundled: one ESM file per entry, with its dependencies, that
// plain `node` runs with no TypeScript loader, so each process starts fast and small. `require` is provided for
// the CommonJS dependencies that call it.
import { build } from 'esbuild';

/** @param {import('esbuild').BuildOptions} options the entry points and where the output goes */
export function bundleNode(options) {
  return build({
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    legalComments: 'none',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
    ...options,
  });
}
