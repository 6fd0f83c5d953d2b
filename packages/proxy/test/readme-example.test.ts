/** The config example in the README is a real, valid config: the docs cannot drift from the schema. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeFieldErrors, ProxyConfig, toFieldErrors } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config-file.ts';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../README.md');

describe('README', () => {
  it('the proxy config example validates', async () => {
    const text = await fs.readFile(README, 'utf8');
    const section = text.slice(text.indexOf('### Config file'));
    const m = /```yaml\n([\s\S]*?)```/.exec(section);
    expect(m).not.toBeNull();
    const parsed = ProxyConfig.safeParse(await parseConfigText(m?.[1] ?? '', 'example.yaml'));
    if (!parsed.success) throw new Error(describeFieldErrors(toFieldErrors(parsed.error)));
    expect(parsed.data.listeners.map((l) => l.mode)).toEqual([
      'outbound',
      'outbound',
      'inbound',
      'ingress',
      'egress',
    ]);
  });
});
