// Bundles the proxy (with @trellis/schema and its dependencies) into dist/trellis-proxy.mjs.
import { bundleNode } from '../../../scripts/bundle.mjs';

await bundleNode({ entryPoints: ['src/main.ts'], outfile: 'dist/trellis-proxy.mjs' });
