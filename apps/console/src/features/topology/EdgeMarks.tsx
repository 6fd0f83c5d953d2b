/**
 * The security marks of an edge of the graph, in its label: a lock when the calls are mutual TLS (both proxies
 * verified each other's certificates), a red "denied" badge when an authorization policy refused calls in the live
 * window, and an amber one when a dry-run policy would have refused some. Apart from the graph, so it renders in a
 * unit test.
 */
import type { EdgeView } from './live';

/** A padlock, drawn rather than an emoji so it looks the same with any font. */
export function LockIcon() {
  return (
    <svg
      className="lock-icon"
      viewBox="0 0 12 14"
      width="10"
      height="12"
      aria-hidden="true"
      focusable="false"
    >
      <rect x="1" y="6" width="10" height="8" rx="1.5" fill="currentColor" />
      <path d="M3.5 6V4a2.5 2.5 0 0 1 5 0v2" fill="none" stroke="currentColor" strokeWidth="1.6" />
    </svg>
  );
}

export function EdgeMarks({
  view,
  source,
  target,
}: {
  view: Pick<EdgeView, 'mtls' | 'denied' | 'dryRunDenied' | 'breakerOpen'>;
  source: string;
  target: string;
}) {
  return (
    <>
      {view.mtls ? (
        <span
          className="edge-lock"
          role="img"
          aria-label="mTLS"
          title="Mutual TLS: the calls are encrypted and both sides verified"
          data-testid={`topology-mtls-${source}-${target}`}
        >
          <LockIcon />
        </span>
      ) : null}
      {view.breakerOpen ? (
        <span className="edge-badge" data-testid={`topology-breaker-${source}-${target}`}>
          breaker open
        </span>
      ) : null}
      {view.denied > 0 ? (
        <span
          className="edge-badge denied"
          data-testid={`topology-denied-${source}-${target}`}
          data-denied={view.denied}
        >
          {view.denied} denied
        </span>
      ) : null}
      {view.dryRunDenied > 0 ? (
        <span
          className="edge-badge dry-run-denied"
          data-testid={`topology-dry-run-denied-${source}-${target}`}
          data-denied={view.dryRunDenied}
        >
          {view.dryRunDenied} would be denied
        </span>
      ) : null}
    </>
  );
}

/** The classes of an edge's line for its security state (red dashed when denied, amber dashed for dry-run). */
export function securityClasses(
  view: Pick<EdgeView, 'mtls' | 'denied' | 'dryRunDenied'> | undefined,
): string[] {
  if (!view) return [];
  return [
    view.mtls ? 'mtls' : '',
    view.denied > 0 ? 'denied' : view.dryRunDenied > 0 ? 'dry-run-denied' : '',
  ];
}

/** Whether an edge gets a label: it carries traffic, or something happened on it worth seeing. */
export function labelShown(
  view: Pick<EdgeView, 'idle' | 'breakerOpen' | 'denied' | 'dryRunDenied'>,
): boolean {
  return !view.idle || view.breakerOpen || view.denied > 0 || view.dryRunDenied > 0;
}
