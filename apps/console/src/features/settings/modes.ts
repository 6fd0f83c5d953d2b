/**
 * What the console says of the mesh settings (packages/schema/src/settings.ts): a line for each mutual TLS mode and
 * for merging slashes, and the question and warning an admin confirms before each change, so nobody turns strict on
 * without being told that it refuses plaintext callers, nor changes the paths every app receives unawares.
 */
import type { MeshSettingsSpec, MtlsMode } from '@trellis/schema';

export const MTLS_MODES: readonly { mode: MtlsMode; explanation: string }[] = [
  {
    mode: 'off',
    explanation: 'Sidecars call each other in plaintext; their inbound listeners still accept mutual TLS.',
  },
  {
    mode: 'permissive',
    explanation:
      'Sidecars call each other with mutual TLS, in plaintext only to one without a certificate yet; inbound listeners accept both.',
  },
  {
    mode: 'strict',
    explanation: 'Mutual TLS only: inbound listeners refuse every plaintext caller.',
  },
];

/** The question and the warning of a switch from `from` to `to`. */
export function switchWarning(from: MtlsMode, to: MtlsMode): { question: string; warning: string } {
  const question = `Switch the mesh's mTLS mode from ${from} to ${to}?`;
  switch (to) {
    case 'strict':
      return {
        question,
        warning:
          'Strict refuses plaintext callers: a workload that calls without a sidecar, or through a sidecar without a certificate yet, is refused.',
      };
    case 'off':
      return {
        question,
        warning:
          'Off sends the calls between sidecars in plaintext: they are no longer encrypted, and authorization policies that name callers cannot match a caller without a verified identity.',
      };
    case 'permissive':
      return {
        question,
        warning: 'Permissive uses mutual TLS between sidecars and accepts plaintext callers as well.',
      };
  }
}

/** What `http.mergeSlashes` does, as the settings page explains it. */
export const MERGE_SLASHES_EXPLANATION =
  'Sidecars read a run of slashes in a request path as one ("//admin" is "/admin") for routing, and forward the merged path to the app. Off (the default, as Envoy\'s merge_slashes): paths keep their slashes, for apps that tell them apart; authorization policies match either way as if merged.';

/** The question and the warning of turning slash merging `on` or off. */
export function mergeSlashesWarning(on: boolean): { question: string; warning: string } {
  return on
    ? {
        question: 'Merge runs of slashes in request paths?',
        warning:
          'Every sidecar then routes and forwards "//admin" as "/admin": an app that serves different content for the two gets the merged path only.',
      }
    : {
        question: 'Stop merging slashes in request paths?',
        warning:
          'Every sidecar then routes and forwards paths with their slashes as they came: a route or an app that expects "/admin" no longer gets "//admin" as "/admin".',
      };
}

/** The settings of `settings` (a read of the API) without its version and time. */
export function specOf(settings: MeshSettingsSpec): MeshSettingsSpec {
  return { mtls: { mode: settings.mtls.mode }, http: { mergeSlashes: settings.http.mergeSlashes } };
}

/** One change the confirmation lists: which setting, and what the admin is asked and warned. */
export interface SettingChange {
  setting: 'mtls.mode' | 'http.mergeSlashes';
  question: string;
  warning: string;
}

/** What changes from `from` to `to`, each with its question and warning; empty when they are the same. */
export function changesOf(from: MeshSettingsSpec, to: MeshSettingsSpec): SettingChange[] {
  const changes: SettingChange[] = [];
  if (from.mtls.mode !== to.mtls.mode) {
    changes.push({ setting: 'mtls.mode', ...switchWarning(from.mtls.mode, to.mtls.mode) });
  }
  if (from.http.mergeSlashes !== to.http.mergeSlashes) {
    changes.push({ setting: 'http.mergeSlashes', ...mergeSlashesWarning(to.http.mergeSlashes) });
  }
  return changes;
}

/** The confirm button: "Switch to strict" for a change of the mode alone, else "Apply the change". */
export function confirmLabel(
  to: MeshSettingsSpec,
  changes: readonly SettingChange[],
  pending: boolean,
): string {
  const modeOnly = changes.length === 1 && changes[0]?.setting === 'mtls.mode';
  if (pending) return modeOnly ? 'Switching…' : 'Applying…';
  return modeOnly ? `Switch to ${to.mtls.mode}` : 'Apply the change';
}

/** What the page says once a change is applied. */
export function appliedMessage(settings: MeshSettingsSpec & { version: number }, revision: number): string {
  const slashes = settings.http.mergeSlashes ? 'merged' : 'kept as they come';
  return `Applied: the mTLS mode is now ${settings.mtls.mode} and slashes in paths are ${slashes} (settings version ${settings.version}), mesh revision ${revision}.`;
}
