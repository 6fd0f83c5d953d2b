import { type MeshSettings, MtlsMode } from '@trellis/schema';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { type Failure, failureOf } from '../src/features/rules/form.ts';
import { type Choice, MtlsPanel } from '../src/features/settings/MeshSettingsView.tsx';
import { MTLS_MODES, switchWarning } from '../src/features/settings/modes.ts';
import { settingsKeys } from '../src/features/settings/queries.ts';
import { ApiError } from '../src/lib/api.ts';
import { staleAfter } from '../src/lib/events.ts';

const SETTINGS: MeshSettings = {
  mtls: { mode: 'permissive' },
  version: 3,
  updatedAt: '2026-11-26T02:50:11.204Z',
};

const render = (
  props: Partial<{ canChange: boolean; choice: Choice; failure: Failure; pending: boolean }> = {},
) =>
  renderToStaticMarkup(
    createElement(MtlsPanel, {
      settings: SETTINGS,
      canChange: true,
      choice: undefined,
      failure: undefined,
      pending: false,
      reloading: false,
      onChoose: () => {},
      onConfirm: () => {},
      onCancel: () => {},
      onReload: () => {},
      ...props,
    }),
  );

const radios = (html: string) => [...html.matchAll(/<input type="radio"[^>]*>/g)].map((m) => m[0]);

describe('the mesh settings page', () => {
  it('explains each mode of the schema once, in its order', () => {
    expect(MTLS_MODES.map((m) => m.mode)).toEqual(MtlsMode.options);
    for (const { explanation } of MTLS_MODES) expect(explanation.length).toBeGreaterThan(20);
  });

  it('warns that strict refuses plaintext callers before the switch', () => {
    const { question, warning } = switchWarning('permissive', 'strict');
    expect(question).toBe("Switch the mesh's mTLS mode from permissive to strict?");
    expect(warning).toContain('refuses plaintext callers');
    expect(switchWarning('strict', 'off').warning).toContain('plaintext');
  });

  it('offers an admin the three modes, the current one chosen, and no confirmation until another is picked', () => {
    const html = render();
    expect(html).toContain('data-testid="mtls-mode">permissive<');
    const inputs = radios(html);
    expect(inputs).toHaveLength(3);
    expect(inputs.filter((i) => i.includes('checked'))).toEqual([
      expect.stringContaining('value="permissive"'),
    ]);
    expect(html).toContain('data-testid="mtls-option-permissive" data-current="true"');
    expect(html).not.toContain('mtls-confirm');
    expect(html).not.toContain('read-only-note');
  });

  it('asks an admin to confirm the picked mode, with its warning', () => {
    const html = render({ choice: { mode: 'strict', version: 3 } });
    expect(radios(html).filter((i) => i.includes('checked'))).toEqual([
      expect.stringContaining('value="strict"'),
    ]);
    expect(html).toContain('data-testid="mtls-confirm"');
    expect(html).toContain(switchWarning('permissive', 'strict').warning);
    expect(html).toContain('>Switch to strict</button>');
    // The current mode stays the stored one until the switch is applied.
    expect(html).toContain('data-testid="mtls-mode">permissive<');
    expect(render({ choice: { mode: 'strict', version: 3 }, pending: true })).toContain('Switching…');
  });

  it('shows another role the mode and the explanations, without a control', () => {
    const html = render({ canChange: false });
    expect(html).toContain('data-testid="mtls-mode">permissive<');
    expect(radios(html)).toHaveLength(0);
    expect(html).toContain('data-testid="read-only-note"');
    for (const { explanation } of MTLS_MODES) expect(html).toContain(explanation.replaceAll("'", '&#x27;'));
  });

  it('shows a version conflict with the version read and the current one, and a Reload', () => {
    const conflict = failureOf(
      new ApiError('the mesh settings changed', 409, {
        type: 'about:blank',
        title: 'Conflict',
        status: 409,
        code: 'TRELLIS_ERR_VERSION_CONFLICT',
        detail: 'the mesh settings changed',
        current: { ...SETTINGS, version: 4 },
      } as never),
    );
    expect(conflict.kind).toBe('conflict');
    const html = render({ choice: { mode: 'strict', version: 3 }, failure: conflict });
    expect(html).toContain('data-testid="conflict"');
    expect(html).toContain('Someone else changed this setting since you loaded it (you have version 3');
    expect(html).toContain('it is now at version 4');
    expect(html).toContain('>Reload</button>');
  });

  it('is read again on a config revision, like every config read', () => {
    const stale = staleAfter({ type: 'revision', revision: 9, kind: 'config' }, false);
    expect(stale?.({ queryKey: settingsKeys.mesh(), meta: undefined })).toBe(true);
  });
});
