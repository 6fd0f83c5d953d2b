/**
 * The pure parts, without a server: the unified diff, manifest checking and numbering, spec normalisation (what
 * "unchanged" rests on), argument and environment parsing.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canonical,
  checkDocument,
  KINDS,
  loadManifests,
  ManifestError,
  specOf,
  unifiedDiff,
} from '../src/index.ts';
import { normaliseServer, parseArgs, readEnvironment } from '../src/settings.ts';
import { tempDir } from './support/cli.ts';

let temp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  temp = await tempDir('units');
});
afterAll(async () => {
  await temp.remove();
});

describe('unifiedDiff', () => {
  it('prints hunks with three lines of context, removals before additions', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'].join('\n');
    const after = ['a', 'B', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'L', 'm'].join('\n');
    expect(unifiedDiff(before, after, { before: 'old', after: 'new' })).toBe(
      [
        '--- old',
        '+++ new',
        '@@ -1,5 +1,5 @@',
        ' a',
        '-b',
        '+B',
        ' c',
        ' d',
        ' e',
        '@@ -9,4 +9,5 @@',
        ' i',
        ' j',
        ' k',
        '-l',
        '+L',
        '+m',
        '',
      ].join('\n'),
    );
  });

  it('is empty for equal texts, all additions from nothing, and colored only when asked', () => {
    expect(unifiedDiff('x\ny\n', 'x\ny\n', { before: 'a', after: 'b' })).toBe('');
    expect(unifiedDiff('', 'x\n', { before: 'a', after: 'b' })).toBe('--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n');
    const colored = unifiedDiff('x\n', 'y\n', { before: 'a', after: 'b' }, { color: true });
    expect(colored).toContain('\x1b[31m-x\x1b[0m');
    expect(colored).toContain('\x1b[32m+y\x1b[0m');
  });
});

describe('manifests', () => {
  const route = (spec: object, metadata: object = { name: 'r1' }) => ({
    apiVersion: 'trellis.dev/v1',
    kind: 'RouteRule',
    metadata,
    spec: { service: 'svc', ...spec },
  });

  it('fills in the schema defaults, so a manifest and the stored resource compare equal', () => {
    const kind = KINDS.find((k) => k.kind === 'RouteRule');
    if (!kind) throw new Error('RouteRule kind missing');
    const checked = checkDocument(route({ timeoutMs: 2000 }));
    expect(checked.problems).toEqual([]);
    const stored = {
      ...kind.spec.parse({ name: 'r1', service: 'svc', timeoutMs: 2000, priority: 100 }),
      id: 'x',
      version: 3,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-02T00:00:00.000Z',
    };
    expect(canonical(specOf(kind, stored))).toBe(canonical(checked.manifest?.spec));
    expect(canonical({ b: 1, a: { d: 1, c: 2 } })).toBe(canonical({ a: { c: 2, d: 1 }, b: 1 }));
  });

  it('reports every problem with its field path', () => {
    expect(checkDocument(route({ name: 'r1' })).problems).toEqual([
      'spec.name: is not a known field; the name goes in metadata.name',
    ]);
    expect(checkDocument(route({ timeoutMs: 'soon', extra: 1 })).problems).toEqual([
      'spec.timeoutMs: must be a number of milliseconds',
      'spec.extra: is not a known field',
    ]);
    expect(checkDocument(route({}, { name: 'r1', labels: {} })).problems).toEqual([
      'metadata.labels: is not a known field',
    ]);
    expect(checkDocument('text').problems).toEqual([
      'must be an object with apiVersion, kind, metadata and spec',
    ]);
  });

  it('numbers documents from 1 across YAML streams and JSON arrays, and refuses duplicates', async () => {
    const yaml = path.join(temp.dir, 'a.yaml');
    await writeFile(
      yaml,
      [
        '---',
        'apiVersion: trellis.dev/v1',
        'kind: Service',
        'metadata: { name: s1 }',
        'spec: { port: 80 }',
        '---',
        '# an empty document still counts',
        '---',
        'apiVersion: trellis.dev/v1',
        'kind: Service',
        'metadata: { name: s1 }',
        'spec: { port: 0 }',
      ].join('\n'),
    );
    const json = path.join(temp.dir, 'b.json');
    await writeFile(
      json,
      JSON.stringify([
        { apiVersion: 'trellis.dev/v1', kind: 'Service', metadata: { name: 's2' }, spec: { port: 81 } },
        { apiVersion: 'trellis.dev/v1', kind: 'Service', metadata: { name: 's2' }, spec: { port: 81 } },
      ]),
    );
    const error = await loadManifests([temp.dir], process.stdin).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).problems).toEqual([
      `${yaml}: document 3 (Service s1): spec.port: must be between 1 and 65535`,
      `${json}: document 2 (Service s2): metadata.name: service/s2 is already defined in ${json}, document 1`,
    ]);
    expect((error as ManifestError).exitCode).toBe(3);
  });
});

describe('settings', () => {
  it('parses flags anywhere, in both spellings', () => {
    expect(parseArgs(['get', '-o', 'json', 'routes', '--server=http://x:1', 'r1'])).toEqual({
      command: 'get',
      args: ['routes', 'r1'],
      flags: { files: [], dryRun: false, help: false, output: 'json', server: 'http://x:1' },
    });
    expect(parseArgs(['apply', '-f', 'a', '--filename', 'b', '--dry-run']).flags).toMatchObject({
      files: ['a', 'b'],
      dryRun: true,
    });
  });

  it('colors only on a terminal, and never with NO_COLOR', () => {
    expect(readEnvironment({}, true).color).toBe(true);
    expect(readEnvironment({}, false).color).toBe(false);
    expect(readEnvironment({ NO_COLOR: '1' }, true).color).toBe(false);
  });

  it('normalises server URLs', () => {
    expect(normaliseServer('localhost:7070')).toBe('http://localhost:7070');
    expect(normaliseServer('https://mesh.example.com/')).toBe('https://mesh.example.com');
    expect(() => normaliseServer('http://x?y=1')).toThrow(/query/);
  });
});
