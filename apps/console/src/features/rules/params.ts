/** The query parameters the rule pages read (`?intent=&source=` from the topology, `?applied=` after a create). */
import type { Applied } from './components';
import { isEdgeIntent, type OpenedFrom } from './edge';

export type SearchParams = Record<string, string | string[] | undefined>;

export function param(params: SearchParams, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function openedFrom(params: SearchParams): OpenedFrom {
  const intent = param(params, 'intent');
  const source = param(params, 'source');
  return { ...(isEdgeIntent(intent) ? { intent } : {}), ...(source ? { source } : {}) };
}

/** The change that created the rule, when the edit page is opened right after its create. */
export function appliedOf(params: SearchParams): Applied | undefined {
  const revision = Number(param(params, 'applied'));
  return Number.isInteger(revision) && revision > 0 ? { revision } : undefined;
}
