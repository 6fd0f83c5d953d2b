import { type MeshSettings, type MeshSettingsSpec, MtlsMode } from '@trellis/schema';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { type Failure, failureOf } from '../src/features/rules/form.ts';
import {
  bodyOf,
  type Choice,
  MeshSettingsForm,
  nextChoice,
} from '../src/features/settings/MeshSettingsView.tsx';
import {
  changesOf,
  confirmLabel,
  MERGE_SLASHES_EXPLANATION,
  MTLS_MODES,
  mergeSlashesWarning,
  switchWarning,
} from '../src/features/settings/modes.ts';
import { settingsKeys } from '../src/features/settings/queries.ts';
import { ApiError } from '../src/lib/api.ts';
import { staleAfter } from '../src/lib/events.ts';

const SETTINGS: MeshSettings = {
  mtls: { mode: 'permissive' },
  http: { mergeSlashes: false },
  version: 3,
  updatedAt: '2026-11-26T02:50:11.204Z',
};

const render = (
  props: Partial<{ canChange: boolean; choice: Choice; failure: Failure; pending: boolean }> = {},
) =>
  renderToStaticMarkup(
    createElement(MeshSettingsForm, {
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
const checkboxes = (html: string) =>
  [...html.matchAll(/<input [^>]*type="checkbox"[^>]*>/g)].map((m) => m[0]);
/** A choice of `SETTINGS` with some parts changed, picked from version 3. */
const choose = (spec: Partial<MeshSettingsSpec>): Choice => ({
  spec: { mtls: SETTINGS.mtls, http: SETTINGS.http, ...spec },
  version: 3,
});
/** Text as React escapes it in markup. */
const escaped = (text: string) => text.replaceAll("'", '&#x27;').replaceAll('"', '&quot;');

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
    expect(html).not.toContain('settings-confirm');
    expect(html).not.toContain('read-only-note');
  });

  it('asks an admin to confirm the picked mode, with its warning', () => {
    const html = render({ choice: choose({ mtls: { mode: 'strict' } }) });
    expect(radios(html).filter((i) => i.includes('checked'))).toEqual([
      expect.stringContaining('value="strict"'),
    ]);
    expect(html).toContain('data-testid="settings-confirm"');
    expect(html).toContain('aria-label="Confirm the switch"');
    expect(html).toContain(switchWarning('permissive', 'strict').warning);
    expect(html).toContain('>Switch to strict</button>');
    // The current mode stays the stored one until the switch is applied.
    expect(html).toContain('data-testid="mtls-mode">permissive<');
    expect(render({ choice: choose({ mtls: { mode: 'strict' } }), pending: true })).toContain('Switching…');
  });

  it('shows another role the mode and the explanations, without a control', () => {
    const html = render({ canChange: false });
    expect(html).toContain('data-testid="mtls-mode">permissive<');
    expect(radios(html)).toHaveLength(0);
    expect(checkboxes(html)).toHaveLength(0);
    expect(html).toContain('data-testid="merge-slashes">off<');
    expect(html).toContain(escaped(MERGE_SLASHES_EXPLANATION));
    expect(html).toContain('data-testid="read-only-note"');
    for (const { explanation } of MTLS_MODES) expect(html).toContain(explanation.replaceAll("'", '&#x27;'));
  });

  it('offers an admin the merge-slashes checkbox, unchecked while the mesh keeps slashes, with what it does', () => {
    const html = render();
    expect(html).toContain('data-testid="merge-slashes">off<');
    const [box, ...others] = checkboxes(html);
    expect(others).toEqual([]);
    expect(box).toContain('id="merge-slashes-toggle"');
    expect(box).not.toContain('checked');
    expect(html).toContain('<label for="merge-slashes-toggle">Merge slashes</label>');
    expect(html).toContain(escaped(MERGE_SLASHES_EXPLANATION));
    expect(MERGE_SLASHES_EXPLANATION).toContain("Envoy's merge_slashes");
    const on = render({ settings: { ...SETTINGS, http: { mergeSlashes: true } } } as never);
    expect(on).toContain('data-testid="merge-slashes">on<');
  });

  it('asks an admin to confirm merging slashes, keeps the mode, and sends the whole settings with the version read', () => {
    const choice = choose({ http: { mergeSlashes: true } });
    const html = render({ choice });
    expect(checkboxes(html)[0]).toContain('checked');
    // The stored setting stays what it is until the change is applied.
    expect(html).toContain('data-testid="merge-slashes">off<');
    expect(html).toContain('data-testid="confirm-http.mergeSlashes"');
    expect(html).not.toContain('data-testid="confirm-mtls.mode"');
    expect(html).toContain(escaped(mergeSlashesWarning(true).question));
    expect(html).toContain(escaped(mergeSlashesWarning(true).warning));
    expect(html).toContain('>Apply the change</button>');
    expect(render({ choice, pending: true })).toContain('Applying…');
    expect(bodyOf(choice)).toEqual({
      ok: true,
      body: { mtls: { mode: 'permissive' }, http: { mergeSlashes: true }, version: 3 },
    });
    expect(mergeSlashesWarning(false).question).toBe('Stop merging slashes in request paths?');
  });

  it('lists every change of a choice that changes both, and none when the choice is what the mesh has', () => {
    const both = choose({ mtls: { mode: 'strict' }, http: { mergeSlashes: true } });
    expect(changesOf(SETTINGS, both.spec).map((c) => c.setting)).toEqual(['mtls.mode', 'http.mergeSlashes']);
    const html = render({ choice: both });
    expect(html).toContain('data-testid="confirm-mtls.mode"');
    expect(html).toContain('data-testid="confirm-http.mergeSlashes"');
    expect(html).toContain('>Apply the change</button>');
    expect(confirmLabel(both.spec, changesOf(SETTINGS, both.spec), false)).toBe('Apply the change');
    expect(changesOf(SETTINGS, SETTINGS)).toEqual([]);
  });

  it('picks from the version read, keeps it for a second pick, and drops a pick that is what the mesh has', () => {
    const first = nextChoice(SETTINGS, undefined, choose({ http: { mergeSlashes: true } }).spec);
    expect(first).toEqual(choose({ http: { mergeSlashes: true } }));
    // The settings were read again meanwhile (version 4): the pending choice still names version 3.
    const newer = { ...SETTINGS, version: 4 };
    const second = nextChoice(newer, first, { mtls: { mode: 'strict' }, http: { mergeSlashes: true } });
    expect(second).toEqual({ spec: { mtls: { mode: 'strict' }, http: { mergeSlashes: true } }, version: 3 });
    expect(nextChoice(newer, second, { mtls: SETTINGS.mtls, http: SETTINGS.http })).toBeUndefined();
    expect(nextChoice(newer, undefined, { mtls: { mode: 'off' }, http: SETTINGS.http })?.version).toBe(4);
  });

  it("checks the body with the API's schema, and shows a refused body's field errors under their setting", () => {
    const bad = bodyOf(choose({ http: { mergeSlashes: 'yes' as never } }));
    expect(bad).toEqual({
      ok: false,
      errors: [{ path: 'http.mergeSlashes', message: 'must be true or false' }],
    });
    const failure = failureOf(
      new ApiError('invalid', 400, {
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        code: 'TRELLIS_ERR_VALIDATION',
        detail: 'invalid',
        errors: [
          { path: 'http.mergeSlashes', message: 'must be true or false' },
          { path: 'version', message: 'must be an integer' },
        ],
      } as never),
    );
    expect(failure.kind).toBe('fields');
    const html = render({ choice: choose({ http: { mergeSlashes: true } }), failure });
    expect(html).toContain('data-testid="field-error-http.mergeSlashes">must be true or false<');
    expect(checkboxes(html)[0]).toContain('aria-invalid="true"');
    expect(html).toContain('data-testid="form-errors">version: must be an integer<');
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
    const html = render({ choice: choose({ mtls: { mode: 'strict' } }), failure: conflict });
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
