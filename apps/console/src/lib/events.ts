/**
 * The console's side of the control plane's event feed (/api/v1/stream/events, forwarded by the console's own
 * server): a revision or a change in proxies' sync states marks the cached queries it makes out of date, and
 * react-query refetches those on screen. Polling stays as the fallback, slower, for when the feed is down.
 *
 * What an event invalidates is decided here, by query key and `meta`, not by each feature: a config revision
 * touches everything but time series (metrics), graph layouts and the live topology (read every second anyway);
 * an endpoints revision touches services (their endpoint lists and counts) and proxies; a proxies event touches
 * proxies. A query a form edits from carries `meta: HOLD_WHILE_EDITING` and is never refetched under the form.
 */
import type { Query, QueryClient } from '@tanstack/react-query';
import { EVENTS_STREAM_PATH, MeshEvent } from '@trellis/schema';

export const HOLD_WHILE_EDITING = { holdWhileEditing: true } as const;

/** Key parts that mark data no revision changes. */
const UNAFFECTED = new Set(['metrics', 'layout', 'live']);

type KeyedQuery = Pick<Query, 'queryKey' | 'meta'>;

function held(query: KeyedQuery): boolean {
  return query.meta?.holdWhileEditing === true;
}

function touchesRevisionData(query: KeyedQuery): boolean {
  return !held(query) && !query.queryKey.some((part) => typeof part === 'string' && UNAFFECTED.has(part));
}

/**
 * Which cached queries an event makes stale; null when none. `reconnected` is true for the hello of a connection
 * after the first: events may have been missed meanwhile, so everything revision-bound is stale.
 */
export function staleAfter(event: MeshEvent, reconnected: boolean): ((query: KeyedQuery) => boolean) | null {
  switch (event.type) {
    case 'hello':
      return reconnected ? touchesRevisionData : null;
    case 'revision':
      if (event.kind === 'config') return touchesRevisionData;
      return (q) => touchesRevisionData(q) && (q.queryKey[0] === 'services' || q.queryKey[0] === 'proxies');
    case 'proxies':
      return (q) => !held(q) && q.queryKey[0] === 'proxies';
  }
}

export type FeedState = 'connecting' | 'live' | 'reconnecting';

/** Backoff before reconnect attempt `n` (0-based): 0.5 s doubling to 10 s, with ±20 % jitter. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Keeps a connection to the feed open for the page's life and applies each event to `client`. Returns a stop
 * function. `onState` hears whether the feed is live (for the header's indicator).
 */
export function connectEventFeed(
  client: QueryClient,
  onState: (state: FeedState) => void,
  location: Pick<Location, 'protocol' | 'host'> = window.location,
): () => void {
  let ws: WebSocket | undefined;
  let attempt = 0;
  let everOpened = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${EVENTS_STREAM_PATH}`;

  const open = () => {
    if (stopped) return;
    ws = new WebSocket(url);
    let reconnected = false;
    ws.onopen = () => {
      reconnected = everOpened;
      everOpened = true;
      attempt = 0;
      onState('live');
    };
    ws.onmessage = (message) => {
      let data: unknown;
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const event = MeshEvent.safeParse(data);
      if (!event.success) return;
      const predicate = staleAfter(event.data, reconnected);
      if (predicate) void client.invalidateQueries({ predicate });
    };
    ws.onclose = () => {
      ws = undefined;
      if (stopped) return;
      onState(everOpened ? 'reconnecting' : 'connecting');
      timer = setTimeout(open, reconnectDelayMs(attempt++));
    };
  };
  onState('connecting');
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    ws?.close();
  };
}
