'use client';

import { useSession } from '../features/auth/session';
import { useFeedState } from './providers';

const LABELS = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
} as const;

/** The event feed's state, in the header: "Live" while revisions and ACKs arrive as they happen. */
export function FeedIndicator() {
  const state = useFeedState();
  if (!useSession().me) return null;
  return (
    <output className={`feed feed-${state}`} aria-live="polite" data-testid="feed-state" data-state={state}>
      <span className="feed-dot" aria-hidden="true" />
      {LABELS[state]}
    </output>
  );
}
