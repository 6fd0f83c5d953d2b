/**
 * Pure rules of the topology view, apart from React so they are unit-tested: which services a search or a label
 * filter keeps, how fast traffic flows along an edge, and where the rule forms for an edge live.
 */
import type { Service, TopologyNode } from '@trellis/schema';

/** A label filter as the select shows it: `key=value`. */
export interface LabelFilter {
  key: string;
  value: string;
}

export const labelFilterText = (f: LabelFilter) => `${f.key}=${f.value}`;

export function parseLabelFilter(text: string): LabelFilter | undefined {
  const at = text.indexOf('=');
  if (at <= 0) return undefined;
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/** Every `key=value` label of the services, sorted, each once: the choices of the label filter. */
export function labelChoices(services: readonly Pick<Service, 'labels'>[]): string[] {
  const set = new Set<string>();
  for (const s of services) for (const [key, value] of Object.entries(s.labels)) set.add(`${key}=${value}`);
  return [...set].sort((a, b) => a.localeCompare(b));
}

/**
 * The services a label filter keeps, or undefined for "all". Names seen only in traffic (no registered service,
 * hence no labels) never match a filter.
 */
export function servicesMatching(
  services: readonly Pick<Service, 'name' | 'labels'>[],
  filter: LabelFilter | undefined,
): ReadonlySet<string> | undefined {
  if (!filter) return undefined;
  return new Set(services.filter((s) => s.labels[filter.key] === filter.value).map((s) => s.name));
}

/** The search as typed, made ready for matching: trimmed and lower-case; empty means "no search". */
export const normalizeSearch = (text: string) => text.trim().toLowerCase();

/** A service matches a search when its name contains it, in any case. */
export const matchesSearch = (service: string, search: string) =>
  search !== '' && service.toLowerCase().includes(search);

/** The services a search finds, in the order of `names` (the graph's, sorted): Enter zooms to the first. */
export function searchMatches(names: readonly string[], search: string): string[] {
  return search === '' ? [] : names.filter((n) => matchesSearch(n, search));
}

/**
 * Seconds one dash of the flow animation takes to run along an edge: faster with more traffic, on a log scale (a
 * busy edge at 1,000 req/s would otherwise be a blur next to one at 1 req/s), in a few steps so that the small
 * changes of every second's numbers do not restart the animation. Null for an edge without traffic: it does not move.
 */
export function flowSeconds(rps: number): number | null {
  if (!(rps > 0)) return null;
  const level = Math.max(0, Math.min(8, Math.round(Math.log10(rps) * 2) + 2));
  return [2.4, 2, 1.6, 1.3, 1, 0.8, 0.6, 0.45, 0.35][level] ?? 1;
}

export type EdgeIntent = 'split' | 'retry' | 'breaker';

/** The rule forms' page for one edge, opened on the form for what the operator wants to do. */
export function edgeRulePath(source: string, destination: string, intent: EdgeIntent): string {
  return `/rules/edge?${new URLSearchParams({ source, destination, intent })}`;
}

/** The "address:port" an ejection names, as the proxy writes it (IPv6 addresses in brackets). */
export const endpointKey = (address: string, port: number) =>
  `${address.includes(':') ? `[${address}]` : address}:${port}`;

/** How many of the node's endpoints are ejected now (by at least one calling proxy). */
export const ejectedCount = (node: Pick<TopologyNode, 'ejectedEndpoints'> | undefined) =>
  node?.ejectedEndpoints.length ?? 0;
