#!/usr/bin/env node
// Runs the bundled CLI (built by `npm run build`); straight after `npm ci`, before any build, it runs the
// TypeScript sources through tsx instead, so `npx trellis` always works in a checkout.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/trellis.mjs', import.meta.url);
if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
