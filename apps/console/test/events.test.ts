import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { HOLD_WHILE_EDITING, reconnectDelayMs, staleAfter } from '../src/lib/events';

const q = (queryKey: unknown[], meta?: Record<string, unknown>) => ({ queryKey, meta });

const serviceList = q(['services', 'list']);
const serviceEndpoints = q(['services', 'detail', 'service-c', 'endpoints']);
const serviceMetrics = q(['services', 'detail', 'service-c', 'metrics', '5m']);
const proxies = q(['proxies', 'list']);
const routeForm = q(['routes', 'detail', 'service-b-canary'], HOLD_WHILE_EDITING);
const revisions = q(['history', 'revisions']);
const topologyLive = q(['topology', 'live']);
const topologyLayout = q(['topology', 'layout', 'a>b']);

function stale(predicate: ReturnType<typeof staleAfter>) {
  const all = {
    serviceList,
    serviceEndpoints,
    serviceMetrics,
    proxies,
    routeForm,
    revisions,
    topologyLive,
    topologyLayout,
  };
  return Object.entries(all)
    .filter(([, query]) => predicate?.(query))
    .map(([name]) => name)
    .sort();
}

describe('what an event makes stale', () => {
  it('a config revision: everything revision-bound, not time series, layouts, the live graph or a form being edited', () => {
    expect(stale(staleAfter({ type: 'revision', revision: 7, kind: 'config' }, false))).toEqual([
      'proxies',
      'revisions',
      'serviceEndpoints',
      'serviceList',
    ]);
  });

  it('an endpoints revision: services and proxies only', () => {
    expect(stale(staleAfter({ type: 'revision', revision: 8, kind: 'endpoints' }, false))).toEqual([
      'proxies',
      'serviceEndpoints',
      'serviceList',
    ]);
  });

  it('a proxies event: the proxies only', () => {
    expect(stale(staleAfter({ type: 'proxies' }, false))).toEqual(['proxies']);
  });

  it('the first hello changes nothing; a hello after a reconnect refreshes everything revision-bound', () => {
    expect(staleAfter({ type: 'hello', revision: 3 }, false)).toBeNull();
    expect(stale(staleAfter({ type: 'hello', revision: 3 }, true))).toEqual([
      'proxies',
      'revisions',
      'serviceEndpoints',
      'serviceList',
    ]);
  });

  it('works as a react-query predicate: invalidated queries are marked stale, held ones are not', async () => {
    const client = new QueryClient();
    client.setQueryData(['services', 'list'], []);
    client.setQueryData(['routes', 'detail', 'r'], { name: 'r' });
    client
      .getQueryCache()
      .find({ queryKey: ['routes', 'detail', 'r'] })
      ?.setOptions({
        queryKey: ['routes', 'detail', 'r'],
        meta: HOLD_WHILE_EDITING,
      });
    const predicate = staleAfter({ type: 'revision', revision: 9, kind: 'config' }, false);
    if (!predicate) throw new Error('expected a predicate');
    await client.invalidateQueries({ predicate });
    expect(client.getQueryState(['services', 'list'])?.isInvalidated).toBe(true);
    expect(client.getQueryState(['routes', 'detail', 'r'])?.isInvalidated).toBe(false);
  });
});

describe('reconnect backoff', () => {
  it('doubles from 0.5 s to a 10 s cap, within ±20 %', () => {
    expect(reconnectDelayMs(0, () => 0.5)).toBe(500);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(4000);
    expect(reconnectDelayMs(10, () => 0.5)).toBe(10_000);
    expect(reconnectDelayMs(0, () => 0)).toBe(400);
    expect(reconnectDelayMs(10, () => 0.999_999)).toBeLessThanOrEqual(12_000);
  });
});
