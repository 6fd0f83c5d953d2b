'use client';

/**
 * The mesh settings page (`/settings`): the mesh-wide mutual TLS mode with a line on each mode, and whether sidecars
 * merge slashes in request paths. An admin picks another mode or flips the checkbox, and confirms the change after
 * reading what it does (strict refuses plaintext callers; merging changes the path every app gets). The form holds
 * the whole settings as the API's schema has them and sends them whole, checked with that schema first, naming the
 * version they were picked from, so a change made meanwhile by someone else is a conflict to reload, as in the rule
 * forms. After a change, the live count of proxies that have the revision. Other roles read the settings.
 */
import {
  type FieldError,
  type MeshSettings,
  MeshSettingsReplace,
  type MeshSettingsSpec,
  type MtlsMode,
} from '@trellis/schema';
import { useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useCan } from '../auth/session';
import { AckIndicator, type Applied, FieldErrors, FormProblems } from '../rules/components';
import {
  type Failure,
  failureOf,
  NO_ERRORS,
  type PlacedErrors,
  placeErrors,
  validateWith,
} from '../rules/form';
import {
  appliedMessage,
  changesOf,
  confirmLabel,
  MERGE_SLASHES_EXPLANATION,
  MTLS_MODES,
  specOf,
} from './modes';
import { useMeshSettings, useMeshSettingsChange } from './queries';

/** The settings an admin picked, whole, and the settings version they were picked from. */
export interface Choice {
  spec: MeshSettingsSpec;
  version: number;
}

/** The fields of the form, as the API's field errors name them. */
export const SETTINGS_FIELDS = ['mtls.mode', 'http.mergeSlashes'] as const;

/** The errors the form shows: a refused body's field errors, placed on the setting they name. */
export function settingsErrors(failure: Failure | undefined): PlacedErrors {
  return failure?.kind === 'fields' ? placeErrors(failure.errors, SETTINGS_FIELDS) : NO_ERRORS;
}

/** The PUT body of `choice`, checked with the schema the API uses; its field errors when it is refused. */
export function bodyOf(
  choice: Choice,
): { ok: true; body: MeshSettingsReplace } | { ok: false; errors: FieldError[] } {
  return validateWith(MeshSettingsReplace, { ...choice.spec, version: choice.version });
}

/**
 * The choice once an admin picks `spec`: none when it is what the mesh has; else `spec` with the version the pending
 * choice was picked from (a change picked on top of another is checked against the same version), or the current.
 */
export function nextChoice(
  settings: MeshSettings,
  choice: Choice | undefined,
  spec: MeshSettingsSpec,
): Choice | undefined {
  if (changesOf(specOf(settings), spec).length === 0) return undefined;
  return { spec, version: choice?.version ?? settings.version };
}

export function MeshSettingsView() {
  const query = useMeshSettings();
  const change = useMeshSettingsChange();
  const canChange = useCan('admin');
  const [choice, setChoice] = useState<Choice>();
  const [failure, setFailure] = useState<Failure>();
  const [pending, setPending] = useState(false);
  const [reloading, setReloading] = useState(false);
  const [applied, setApplied] = useState<Applied & { message: string }>();
  const settings = query.data;

  const confirm = async () => {
    if (!choice) return;
    const checked = bodyOf(choice);
    if (!checked.ok) {
      setFailure({ kind: 'fields', errors: checked.errors });
      return;
    }
    setPending(true);
    setFailure(undefined);
    try {
      const { value, revision } = await change(checked.body);
      setApplied({ revision, version: value.version, message: appliedMessage(value, revision) });
      setChoice(undefined);
    } catch (error) {
      setFailure(failureOf(error as Error));
    } finally {
      setPending(false);
    }
  };
  const reload = async () => {
    setReloading(true);
    try {
      await query.refetch();
      setChoice(undefined);
      setFailure(undefined);
    } finally {
      setReloading(false);
    }
  };

  return (
    <section className="page" aria-labelledby="settings-title">
      <header className="page-header">
        <h1 id="settings-title">Mesh settings</h1>
        {settings ? (
          <span className="muted" data-testid="settings-version">
            version {settings.version}
          </span>
        ) : null}
      </header>
      <p className="muted">
        What every sidecar of the mesh follows. A change is a mesh revision: every proxy receives it, the
        history shows it and a rollback undoes it.
      </p>
      {query.error ? <ErrorBanner error={query.error} /> : null}
      {query.isPending ? <p className="empty">Loading the mesh settings…</p> : null}
      {applied ? <AckIndicator {...applied} what="mesh settings" /> : null}
      {settings ? (
        <MeshSettingsForm
          settings={settings}
          canChange={canChange}
          choice={choice}
          failure={failure}
          pending={pending}
          reloading={reloading}
          onChoose={(spec) => {
            setFailure(undefined);
            setChoice(nextChoice(settings, choice, spec));
          }}
          onConfirm={() => void confirm()}
          onCancel={() => {
            setChoice(undefined);
            setFailure(undefined);
          }}
          onReload={() => void reload()}
        />
      ) : null}
    </section>
  );
}

/**
 * The settings as the API has them and, for an admin, the controls that change them: each mTLS mode with its line,
 * the current one marked, and the slash-merging checkbox. Once something differs from the stored settings, the
 * confirmation lists each change with its warning. Field errors of a refused body show under their setting.
 */
export function MeshSettingsForm({
  settings,
  canChange,
  choice,
  failure,
  pending,
  reloading,
  onChoose,
  onConfirm,
  onCancel,
  onReload,
}: {
  settings: MeshSettings;
  canChange: boolean;
  choice: Choice | undefined;
  failure: Failure | undefined;
  pending: boolean;
  reloading: boolean;
  onChoose: (spec: MeshSettingsSpec) => void;
  onConfirm: () => void;
  onCancel: () => void;
  onReload: () => void;
}) {
  const current = specOf(settings);
  const picked = choice?.spec ?? current;
  const changes = choice ? changesOf(current, choice.spec) : [];
  const errors = settingsErrors(failure);
  return (
    <>
      {canChange ? null : (
        <p className="banner note" data-testid="read-only-note">
          Only an admin can change the mesh settings.
        </p>
      )}
      <FormProblems
        what="setting"
        version={choice?.version}
        failure={failure}
        errors={errors}
        reloading={reloading}
        onReload={onReload}
      />
      <MtlsPanel
        current={current.mtls.mode}
        picked={picked.mtls.mode}
        canChange={canChange}
        pending={pending}
        errors={errors.byField['mtls.mode']}
        onChoose={(mode) => onChoose({ ...picked, mtls: { mode } })}
      />
      <PathsPanel
        current={current.http.mergeSlashes}
        picked={picked.http.mergeSlashes}
        canChange={canChange}
        pending={pending}
        errors={errors.byField['http.mergeSlashes']}
        onChoose={(mergeSlashes) => onChoose({ ...picked, http: { ...picked.http, mergeSlashes } })}
      />
      {choice && changes.length > 0 ? (
        <section className="banner conflict" aria-label="Confirm the switch" data-testid="settings-confirm">
          {changes.map((c) => (
            <div key={c.setting} data-testid={`confirm-${c.setting}`}>
              <p>{c.question}</p>
              <p className="small">{c.warning}</p>
            </div>
          ))}
          <div className="actions">
            <button type="button" className="button primary" onClick={onConfirm} disabled={pending}>
              {confirmLabel(choice.spec, changes, pending)}
            </button>
            <button type="button" className="button" onClick={onCancel} disabled={pending}>
              Cancel
            </button>
          </div>
        </section>
      ) : null}
    </>
  );
}

/** The mTLS mode: each mode with its line, the current one marked; for an admin a choice among them. */
function MtlsPanel({
  current,
  picked,
  canChange,
  pending,
  errors,
  onChoose,
}: {
  current: MtlsMode;
  picked: MtlsMode;
  canChange: boolean;
  pending: boolean;
  errors: string[] | undefined;
  onChoose: (mode: MtlsMode) => void;
}) {
  return (
    <section className="panel" aria-labelledby="mtls-title">
      <h2 id="mtls-title">Mutual TLS between sidecars</h2>
      <p>
        Mode: <strong data-testid="mtls-mode">{current}</strong>
      </p>
      <fieldset className="plain mtls-modes" disabled={pending} aria-invalid={Boolean(errors)}>
        <legend className="sr-only">mTLS mode</legend>
        <ul className="panel-list">
          {MTLS_MODES.map(({ mode, explanation }) => (
            <li key={mode} data-testid={`mtls-option-${mode}`} data-current={mode === current}>
              {canChange ? (
                <label>
                  <input
                    type="radio"
                    name="mtls-mode"
                    value={mode}
                    checked={mode === picked}
                    onChange={() => onChoose(mode)}
                  />{' '}
                  <strong>{mode}</strong>
                </label>
              ) : (
                <strong>{mode}</strong>
              )}
              {mode === current ? (
                <>
                  {' '}
                  <span className="badge">current</span>
                </>
              ) : null}{' '}
              <span className="muted small">{explanation}</span>
            </li>
          ))}
        </ul>
        <FieldErrors id="mtls-mode-errors" field="mtls.mode" messages={errors} />
      </fieldset>
    </section>
  );
}

/** How sidecars read request paths: whether runs of slashes are merged, as a checkbox for an admin. */
function PathsPanel({
  current,
  picked,
  canChange,
  pending,
  errors,
  onChoose,
}: {
  current: boolean;
  picked: boolean;
  canChange: boolean;
  pending: boolean;
  errors: string[] | undefined;
  onChoose: (mergeSlashes: boolean) => void;
}) {
  return (
    <section className="panel" aria-labelledby="paths-title">
      <h2 id="paths-title">Request paths</h2>
      <p>
        Merge slashes: <strong data-testid="merge-slashes">{current ? 'on' : 'off'}</strong>
      </p>
      {canChange ? (
        <div className="field toggle">
          <input
            id="merge-slashes-toggle"
            type="checkbox"
            checked={picked}
            disabled={pending}
            aria-invalid={Boolean(errors)}
            aria-describedby={errors ? 'merge-slashes-errors' : undefined}
            onChange={(e) => onChoose(e.target.checked)}
          />
          <label htmlFor="merge-slashes-toggle">Merge slashes</label>
          <FieldErrors id="merge-slashes-errors" field="http.mergeSlashes" messages={errors} />
        </div>
      ) : null}
      <p className="muted small" data-testid="merge-slashes-explanation">
        {MERGE_SLASHES_EXPLANATION}
      </p>
    </section>
  );
}
