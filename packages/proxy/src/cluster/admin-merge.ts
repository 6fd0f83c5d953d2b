/**
 * The admin pages of a proxy running as several workers, merged from each worker's own, so that /stats,
 * /metrics and /clusters read as those of one proxy. Counts add up. In Prometheus text, so does every series but
 * the few that describe a process rather than count something: event-loop lag and the config revision take the
 * highest worker's value, the start time the earliest. Percentiles cannot be added: /stats keeps each latency's
 * count, sum, min and max, and /metrics' histogram buckets (which do add up) are where percentiles come from.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function highest(name: string): boolean {
  return (
    name.startsWith('nodejs_eventloop_lag_') ||
    name === 'trellis_config_revision' ||
    name === 'nodejs_version_info' ||
    name === 'process_max_fds'
  );
}

/** Prometheus text expositions of several workers as one. */
export function mergeMetrics(texts: readonly string[]): string {
  const families = new Map<string, { head: string[]; samples: Map<string, number> }>();
  for (const text of texts) {
    let family: { head: string[]; samples: Map<string, number> } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const comment = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (comment) {
        const name = comment[2] as string;
        family = families.get(name);
        if (!family) {
          family = { head: [], samples: new Map() };
          families.set(name, family);
        }
        if (family.head.length < 2 && !family.head.some((h) => h.startsWith(`# ${comment[1]} `)))
          family.head.push(line);
        continue;
      }
      if (line.startsWith('#') || !family) continue;
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      const name = key.replace(/\{.*$/, '');
      const seen = family.samples.get(key);
      if (seen === undefined) family.samples.set(key, value);
      else if (name === 'process_start_time_seconds') family.samples.set(key, Math.min(seen, value));
      else if (highest(name)) family.samples.set(key, Math.max(seen, value));
      else family.samples.set(key, seen + value);
    }
  }
  const out: string[] = [];
  for (const { head, samples } of families.values()) {
    out.push(...head);
    for (const [key, value] of samples) out.push(`${key} ${value}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

/** Adds `from` into `into`: numbers add, booleans OR, objects merge field by field; anything else stays. */
function addInto(into: Json, from: Json, keep: ReadonlySet<string> = new Set()): void {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key];
    if (keep.has(key)) continue;
    if (typeof value === 'number' && typeof current === 'number') into[key] = current + value;
    else if (typeof value === 'boolean' && typeof current === 'boolean') into[key] = current || value;
    else if (isObject(value) && isObject(current)) addInto(current, value, keep);
    else if (current === undefined) into[key] = structuredClone(value);
  }
}

/** Merges lists of records that `keyOf` identifies, adding the records that share a key. */
function mergeList(
  lists: readonly unknown[][],
  keyOf: (item: Json) => string,
  keep?: ReadonlySet<string>,
): Json[] {
  const merged = new Map<string, Json>();
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) continue;
      const key = keyOf(item);
      const seen = merged.get(key);
      if (seen) addInto(seen, item, keep);
      else merged.set(key, structuredClone(item));
    }
  }
  return [...merged.values()];
}

const LATENCY_SUMMARY = ['p50', 'p90', 'p99'];

export interface MergedStats {
  revision: number;
  reloads: Json;
  edges: { edges: Json[]; pairs: Json[]; ejections: Json[]; authz: Json[]; activeRequests: number };
}

/** /stats of several workers: counters added, revision the highest; each latency without its percentiles. */
export function mergeStats(stats: readonly unknown[]): MergedStats {
  const valid = stats.filter(isObject);
  const edges = valid.map((s) => (isObject(s.edges) ? s.edges : {}));
  const list = (field: string) => edges.map((e) => (Array.isArray(e[field]) ? (e[field] as unknown[]) : []));
  const key =
    (...fields: string[]) =>
    (item: Json) =>
      JSON.stringify(fields.map((f) => item[f]));
  const pairs = mergeList(list('pairs'), key('source', 'destination'), new Set(['min', 'max']));
  for (const [i, pair] of pairs.entries()) {
    const latencies = list('pairs')
      .flat()
      .filter(isObject)
      .filter((p) => key('source', 'destination')(p) === key('source', 'destination')(pair))
      .map((p) => p.latency)
      .filter(isObject);
    const counted = latencies.filter((l) => Number(l.count) > 0);
    const latency = isObject(pairs[i]?.latency) ? (pairs[i]?.latency as Json) : {};
    for (const p of LATENCY_SUMMARY) delete latency[p];
    if (counted.length > 0) {
      latency.min = Math.min(...counted.map((l) => Number(l.min)));
      latency.max = Math.max(...counted.map((l) => Number(l.max)));
    }
  }
  return {
    revision: Math.max(...valid.map((s) => Number(s.revision ?? 0))),
    reloads: valid.reduce<Json>((sum, s) => {
      if (isObject(s.reloads)) addInto(sum, s.reloads);
      return sum;
    }, {}),
    edges: {
      edges: mergeList(list('edges'), key('source', 'destination', 'endpoint')),
      pairs,
      ejections: mergeList(list('ejections'), key('destination', 'endpoint')),
      authz: mergeList(list('authz'), key('source', 'destination', 'policy')),
      activeRequests: edges.reduce((sum, e) => sum + Number(e.activeRequests ?? 0), 0),
    },
  };
}

/**
 * /clusters of several workers: the same clusters and endpoints (all workers run one config), with requests in
 * flight and breaker counts added, and an endpoint shown ejected if any worker's outlier detection holds it.
 */
export function mergeClusters(lists: readonly unknown[]): Json[] {
  const clusters = mergeList(
    lists.map((l) => (Array.isArray(l) ? l : [])),
    (c) => String(c.service),
    new Set(['endpoints', 'breakers', 'loadBalancer', 'protocol']),
  );
  for (const cluster of clusters) {
    const of = lists
      .flatMap((l) => (Array.isArray(l) ? l : []))
      .filter((c): c is Json => isObject(c) && c.service === cluster.service);
    const endpointKeep = new Set(['address', 'port', 'weight', 'zone', 'labels', 'health', 'ejectedForMs']);
    cluster.endpoints = mergeList(
      of.map((c) => (Array.isArray(c.endpoints) ? c.endpoints : [])),
      (e) => `${e.address}:${e.port}`,
      endpointKeep,
    );
    for (const endpoint of cluster.endpoints as Json[]) {
      endpoint.ejectedForMs = Math.max(
        0,
        ...of
          .flatMap((c) => (Array.isArray(c.endpoints) ? (c.endpoints as Json[]) : []))
          .filter((e) => e.address === endpoint.address && e.port === endpoint.port)
          .map((e) => Number(e.ejectedForMs ?? 0)),
      );
    }
    cluster.breakers = mergeList(
      of.map((c) => (Array.isArray(c.breakers) ? c.breakers : [])),
      (b) => String(b.policy),
      new Set(['policy', 'limits']),
    );
  }
  return clusters;
}
