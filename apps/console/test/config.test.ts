import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROL_URL, loadConsoleConfig } from '../src/config.ts';

describe('console config', () => {
  it('defaults to the local control plane', () => {
    expect(loadConsoleConfig({}).controlUrl).toBe(DEFAULT_CONTROL_URL);
  });

  it('takes TRELLIS_CONSOLE_CONTROL_URL without a trailing slash', () => {
    expect(loadConsoleConfig({ TRELLIS_CONSOLE_CONTROL_URL: 'http://cp.internal:8080/' }).controlUrl).toBe(
      'http://cp.internal:8080',
    );
    expect(loadConsoleConfig({ TRELLIS_CONSOLE_CONTROL_URL: 'https://x.example/mesh/' }).controlUrl).toBe(
      'https://x.example/mesh',
    );
  });

  it('names the variable when the value is bad', () => {
    expect(() => loadConsoleConfig({ TRELLIS_CONSOLE_CONTROL_URL: 'not a url' })).toThrow(
      /TRELLIS_CONSOLE_CONTROL_URL/,
    );
    expect(() => loadConsoleConfig({ TRELLIS_CONSOLE_CONTROL_URL: 'ftp://x' })).toThrow(/http/);
  });
});
