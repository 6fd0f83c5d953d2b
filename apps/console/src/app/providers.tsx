'use client';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { connectEventFeed, type FeedState } from '../lib/events';

const FeedContext = createContext<FeedState>('connecting');

/** Whether the control plane's event feed is connected (the header shows it). */
export function useFeedState(): FeedState {
  return useContext(FeedContext);
}

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: { retry: 1, retryDelay: 1000, staleTime: 1000, refetchOnWindowFocus: true },
        },
      }),
  );
  const [feed, setFeed] = useState<FeedState>('connecting');
  useEffect(() => connectEventFeed(client, setFeed), [client]);
  return (
    <QueryClientProvider client={client}>
      <FeedContext.Provider value={feed}>{children}</FeedContext.Provider>
    </QueryClientProvider>
  );
}
