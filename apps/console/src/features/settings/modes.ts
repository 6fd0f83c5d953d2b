/**
 * What the console says of the mesh's mutual TLS modes (packages/schema/src/settings.ts): a line for each mode,
 * and the warning an admin confirms before switching, so nobody turns strict on without being told that it
 * refuses plaintext callers.
 */
import type { MtlsMode } from '@trellis/schema';

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
