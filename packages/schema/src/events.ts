/**
 * The console's event feed (EVENTS_STREAM_PATH): a WebSocket on which the control plane announces, as they happen,
 * each revision it loads and each change in its proxies' sync state. The console holds its data in react-query and
 * uses these only to know which queries are out of date; the data itself still comes from the REST API.
 */
import { z } from 'zod';
import { API_PREFIX, RevisionKind } from './api.ts';

export const EVENTS_STREAM_PATH = `${API_PREFIX}/stream/events`;

const revision = z.number().int().min(0);

export const MeshEvent = z.discriminatedUnion('type', [
  /** Sent first: the newest revision this control plane has loaded (-1 before its first load). */
  z.object({ type: z.literal('hello'), revision: z.number().int().min(-1) }),
  /** A revision was committed and loaded; endpoint-only revisions say so, for narrower invalidation. */
  z.object({ type: z.literal('revision'), revision, kind: RevisionKind }),
  /** Some proxy connected, left, ACKed or NACKed: sync states changed. Sent at most a few times a second. */
  z.object({ type: z.literal('proxies') }),
]);
export type MeshEvent = z.infer<typeof MeshEvent>;
