/**
 * Where an edge of the topology graph (caller A → destination B) sends an operator who wants to split, retry or
 * break B's traffic. Rules belong to the destination, so the answer is a form of B's: its default route rule or its
 * traffic policy, or a new one when B has none. Pure, so the choice is unit-tested.
 */
import type { RouteRule, TrafficPolicy } from '@trellis/schema';

export const EDGE_INTENTS = ['split', 'retry', 'breaker'] as const;
export type EdgeIntent = (typeof EDGE_INTENTS)[number];

export function isEdgeIntent(value: unknown): value is EdgeIntent {
  return typeof value === 'string' && (EDGE_INTENTS as readonly string[]).includes(value);
}

/**
 * The route rule an edge edits: the one without match conditions (it takes the requests no other rule takes), the
 * first of those in the proxy's order if there are several, else the one tried last (the highest priority number,
 * ties by name).
 */
export function defaultRouteOf(routes: readonly RouteRule[]): RouteRule | undefined {
  const order = [...routes].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  return order.find((r) => r.match.length === 0) ?? order.at(-1);
}

/** The policy an edge edits: the one of the whole service, else the first by name (one per subset). */
export function defaultPolicyOf(policies: readonly TrafficPolicy[]): TrafficPolicy | undefined {
  const order = [...policies].sort((a, b) => a.name.localeCompare(b.name));
  return order.find((p) => p.subset === undefined || Object.keys(p.subset).length === 0) ?? order[0];
}

/** How a form was opened from the topology: the section to open, and the caller the edge starts at. */
export interface OpenedFrom {
  intent?: EdgeIntent | undefined;
  source?: string | undefined;
}

export interface EdgeRequest {
  source: string | undefined;
  destination: string;
  intent: EdgeIntent;
}

/** The form's address for an edge, carrying the intent (which section to open) and the caller it was seen from. */
export function resolveEdge(
  edge: EdgeRequest,
  routes: readonly RouteRule[],
  policies: readonly TrafficPolicy[],
): string {
  const query = new URLSearchParams({ intent: edge.intent });
  if (edge.source) query.set('source', edge.source);
  const enc = encodeURIComponent;
  if (edge.intent === 'breaker') {
    const policy = defaultPolicyOf(policies.filter((p) => p.service === edge.destination));
    if (policy) return `/policies/${enc(policy.name)}/edit?${query}`;
  } else {
    const route = defaultRouteOf(routes.filter((r) => r.service === edge.destination));
    if (route) return `/routes/${enc(route.name)}/edit?${query}`;
  }
  query.set('service', edge.destination);
  return `/${edge.intent === 'breaker' ? 'policies' : 'routes'}/new?${query}`;
}
