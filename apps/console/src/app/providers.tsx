'use client';

import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { SessionProvider, useSession } from '../features/auth/session';
import { ApiTimeoutError } from '../lib/api';
import { connectEventFeed, type FeedState } from '../lib/events';

const FeedContext = createContext<FeedState>('connecting');

/** Whether the control plane's event feed is connected (the header shows it). */
export function useFeedState(): FeedState {
  return useContext(FeedContext);
}

/** The event feed, open while someone is signed in (the control plane refuses it to anyone else). */
function Feed({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const signedIn = useSession().me !== undefined;
  const [feed, setFeed] = useState<FeedState>('connecting');
  useEffect(() => (signedIn ? connectEventFeed(client, setFeed) : undefined), [client, signedIn]);
  return <FeedContext.Provider value={feed}>{children}</FeedContext.Provider>;
}

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            // Once, after a second; not after a read the control plane left unanswered for READ_TIMEOUT_MS: the
            // page says so at once, with a Retry button.
            retry: (count, error) => count < 1 && !(error instanceof ApiTimeoutError),
            retryDelay: 1000,
            staleTime: 1000,
            refetchOnWindowFocus: true,
          },
        },
      }),
  );
  return (
    <QueryClientProvider client={client}>
      <SessionProvider>
        <Feed>{children}</Feed>
      </SessionProvider>
    </QueryClientProvider>
  );
}
