#!/usr/bin/env node
// Runs the bundled proxy (built by `npm run build`).
import '../dist/trellis-proxy.mjs';
