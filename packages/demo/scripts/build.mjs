// Bundles the demo into plain ESM files that `node` runs without a TypeScript loader: the launcher CLI, the demo
// app every service instance runs, and the preload that ties each child's life to its supervisor's. A dozen of
// these processes start at once on `npm start`, so each must start fast and small.
import { bundleNode } from '../../../scripts/bundle.mjs';

await bundleNode({
  entryPoints: {
    'trellis-demo': 'src/main.ts',
    'demo-app': 'src/app-main.ts',
    'parent-watch': 'src/parent-watch.ts',
  },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
});
