/**
 * What goes into the built proxy is resident memory in every sidecar (scripts/build.mjs, docs/proxy-memory.md).
 * These guard against what once made it large: a non-ASCII character anywhere in the bundle (V8 then holds the
 * whole source as two bytes per character), @peculiar/x509 and its ASN.1 stack, zod's translations, a young
 * generation left to grow while the bundle is parsed, and the optimizing compiler at work on code that runs only at
 * start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
const bytes = fs.readFileSync(path.join(DIST, 'trellis-proxy-bundle.mjs'));
const bundle = bytes.toString('latin1');

describe('the built proxy', () => {
  it('is ASCII only', () => {
    const at = bytes.findIndex((b) => b > 0x7f);
    expect(at, bundle.slice(Math.max(0, at - 80), at + 20)).toBe(-1);
  });

  it('leaves out undici: the request path is the engine of its own (undici is a test dependency only)', () => {
    expect(bundle).not.toMatch(/undici/i);
  });

  it('leaves out @peculiar/x509 and the languages of zod other than English', () => {
    expect(bundle).not.toContain('Pkcs10CertificateRequest');
    expect(bundle).not.toContain('reflect-metadata');
    expect(bundle).not.toMatch(/Ung\\xFCltige Eingabe/);
  });

  it('logs with its own logger rather than pino and its streams', () => {
    expect(bundle).not.toContain('sonic-boom');
    expect(bundle).not.toContain('thread-stream');
    expect(bundle).toContain('causes have become circular');
  });

  it('loads neither node:http nor ws at start: the admin page runs on the engine, the control stream on its own client', () => {
    expect(bundle).not.toMatch(/from\s*"(node:)?https?"/);
    expect(bundle).not.toContain('bufferutil');
    expect(bundle).toMatch(/createRequire\d*\(import\.meta\.url\)\("node:http"\)/);
  });

  it('keeps yaml, prom-client and re2js in files of their own, required at their first use', () => {
    for (const name of ['yaml', 'prom-client', 're2js']) {
      expect(bundle).not.toContain(`node_modules/${name}/`);
      const side = fs.readFileSync(path.join(DIST, `lib-${name}.cjs`));
      expect(side.findIndex((b) => b > 0x7f)).toBe(-1);
    }
  });

  it('keeps zod and the schemas in a file of their own (dist/lib-schema.cjs), which src/schemas.ts requires to validate', () => {
    expect(bundle).not.toContain('$ZodObject');
    expect(bundle).not.toContain('node_modules/zod/');
    expect(bundle).toMatch(/createRequire\d*\(import\.meta\.url\)\(FILE\)/);
    const side = fs.readFileSync(path.join(DIST, 'lib-schema.cjs'));
    expect(side.findIndex((b) => b > 0x7f)).toBe(-1);
    expect(side.toString('latin1')).toContain('$ZodObject');
  });

  it("evaluates its modules in place, leaving out the schemas of the control plane's API", () => {
    // A dynamic import() of a module inside the bundle makes esbuild wrap that module and all it imports in lazy
    // initializers, which keep every file of @trellis/schema (the API's, the console's, the logins') in the bundle.
    expect(bundle).not.toContain('__esm(');
    expect(bundle).not.toContain('LoginRequest');
    expect(bundle).not.toContain('SecurityEvent');
  });

  it('is loaded by an entry that first holds V8 young generation at its starting size', () => {
    const entry = fs.readFileSync(path.join(DIST, 'trellis-proxy.mjs'), 'utf8');
    expect(entry).toContain('--semi-space-growth-factor=');
    expect(entry).toMatch(/\n\s*growthFactor\(1\);/);
    expect(entry.indexOf('growthFactor(1)')).toBeLessThan(entry.indexOf('./trellis-proxy-bundle.mjs'));
    expect(entry.length).toBeLessThan(2048);
  });

  it('is loaded by an entry that holds back the optimizing compiler while the proxy starts, then lets it work', () => {
    const entry = fs.readFileSync(path.join(DIST, 'trellis-proxy.mjs'), 'utf8');
    expect(entry).toContain('--max-optimized-bytecode-size=');
    expect(entry).toMatch(/\n\s*optimizeUpTo\(0\);/);
    expect(entry).toMatch(/setTimeout\(optimize, OPTIMIZING_AFTER_MS\)/);
    expect(entry).toContain('Symbol.for("trellis.proxy.started")');
    expect(entry).toMatch(/MAX_OPTIMIZED_BYTECODE_SIZE = 61440;/);
    expect(entry.indexOf('optimizeUpTo(0)')).toBeLessThan(entry.indexOf('./trellis-proxy-bundle.mjs'));
  });
});
