'use client';

/**
 * The mesh settings page (`/settings`): the mesh-wide mutual TLS mode with a line on each mode. An admin picks
 * another mode and confirms the switch after reading what it does (strict refuses plaintext callers); the change
 * names the version it was picked from, so one made meanwhile by someone else is a conflict to reload, as in the
 * rule forms. After a switch, the live count of proxies that have the revision. Other roles read the mode.
 */
import type { MeshSettings, MtlsMode } from '@trellis/schema';
import { useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useCan } from '../auth/session';
import { AckIndicator, type Applied, FormProblems } from '../rules/components';
import { type Failure, failureOf, NO_ERRORS } from '../rules/form';
import { MTLS_MODES, switchWarning } from './modes';
import { useMeshSettings, useMeshSettingsChange } from './queries';

/** A mode picked by an admin, and the settings version it was picked from. */
export interface Choice {
  mode: MtlsMode;
  version: number;
}

export function MeshSettingsView() {
  const query = useMeshSettings();
  const change = useMeshSettingsChange();
  const canChange = useCan('admin');
  const [choice, setChoice] = useState<Choice>();
  const [failure, setFailure] = useState<Failure>();
  const [pending, setPending] = useState(false);
  const [reloading, setReloading] = useState(false);
  const [applied, setApplied] = useState<Applied & { mode: MtlsMode }>();
  const settings = query.data;

  const confirm = async () => {
    if (!choice) return;
    setPending(true);
    setFailure(undefined);
    try {
      const { value, revision } = await change({ mtls: { mode: choice.mode }, version: choice.version });
      setApplied({ revision, version: value.version, mode: value.mtls.mode });
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
      {applied ? (
        <AckIndicator
          {...applied}
          what="mesh settings"
          message={`Applied: the mTLS mode is now ${applied.mode} (settings version ${applied.version}), mesh revision ${applied.revision}.`}
        />
      ) : null}
      {settings ? (
        <MtlsPanel
          settings={settings}
          canChange={canChange}
          choice={choice}
          failure={failure}
          pending={pending}
          reloading={reloading}
          onChoose={(mode) => {
            setFailure(undefined);
            setChoice(mode === settings.mtls.mode ? undefined : { mode, version: settings.version });
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
 * The mTLS mode: each mode with its line, the current one marked; for an admin a choice among them and, once another
 * is picked, the confirmation with its warning.
 */
export function MtlsPanel({
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
  onChoose: (mode: MtlsMode) => void;
  onConfirm: () => void;
  onCancel: () => void;
  onReload: () => void;
}) {
  const current = settings.mtls.mode;
  const picked = choice?.mode ?? current;
  const ask = choice ? switchWarning(current, choice.mode) : undefined;
  return (
    <section className="panel" aria-labelledby="mtls-title">
      <h2 id="mtls-title">Mutual TLS between sidecars</h2>
      <p>
        Mode: <strong data-testid="mtls-mode">{current}</strong>
      </p>
      {canChange ? null : (
        <p className="banner note" data-testid="read-only-note">
          Only an admin can change the mesh settings.
        </p>
      )}
      <FormProblems
        what="setting"
        version={choice?.version}
        failure={failure}
        errors={NO_ERRORS}
        reloading={reloading}
        onReload={onReload}
      />
      <fieldset className="plain mtls-modes" disabled={pending}>
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
      </fieldset>
      {choice && ask ? (
        <section className="banner conflict" aria-label="Confirm the switch" data-testid="mtls-confirm">
          <p>{ask.question}</p>
          <p className="small">{ask.warning}</p>
          <div className="actions">
            <button type="button" className="button primary" onClick={onConfirm} disabled={pending}>
              {pending ? 'Switching…' : `Switch to ${choice.mode}`}
            </button>
            <button type="button" className="button" onClick={onCancel} disabled={pending}>
              Cancel
            </button>
          </div>
        </section>
      ) : null}
    </section>
  );
}
