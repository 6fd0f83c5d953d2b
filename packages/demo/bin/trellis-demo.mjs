#!/usr/bin/env node
// Runs the bundled demo launcher (built by `npm run build`).
import '../dist/trellis-demo.mjs';
