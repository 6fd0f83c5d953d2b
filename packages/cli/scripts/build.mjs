// Bundles the CLI (with @trellis/schema, zod and yaml), so that `trellis get services` starts in a fraction of a
// second.
import { bundleNode } from '../../../scripts/bundle.mjs';

await bundleNode({ entryPoints: ['src/main.ts'], outfile: 'dist/trellis.mjs' });
