/**
 * The Grafana dashboard in examples/grafana cannot drift from the code: every metric its PromQL reads is one the
 * proxies (packages/proxy/src/telemetry/metrics.ts) or the control plane (src/metrics.ts) declares, with the
 * `_bucket`/`_sum`/`_count` series only for histograms, and every label it groups or filters by is one of those
 * metrics' labels. The Prometheus example scrapes both with the paths the code serves.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../packages/proxy/src/telemetry/metrics.ts';
import { TelemetryRecorder } from '../../../packages/proxy/src/telemetry/recorder.ts';
import { PROMETHEUS_PATH } from '../src/http/openapi.ts';
import { ControlMetrics } from '../src/metrics.ts';

const EXAMPLES = path.resolve(import.meta.dirname, '../../../examples');

/** Series name → the labels it carries, for every metric the code declares. */
async function declaredSeries(): Promise<Map<string, Set<string>>> {
  const proxy = createMetrics(new TelemetryRecorder({ service: 's', instance: 'i' }), {
    service: () => 's',
    revision: () => 0,
    reloads: () => ({ applied: 0, rejected: 0 }),
    processMetrics: true,
  }).registry;
  const control = new ControlMetrics().registry.getMetricsAsArray().map((metric) => {
    const m = metric as unknown as { name: string; type: unknown; labelNames?: string[] };
    return { name: m.name, type: String(m.type), labelNames: m.labelNames ?? [] };
  });
  const out = new Map<string, Set<string>>();
  for (const m of [...(await proxy.declared()), ...control]) {
    const labels = new Set(m.labelNames);
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else out.set(m.name, labels);
  }
  return out;
}

/** Labels Prometheus itself puts on every series it scrapes: the scrape job and the target. */
const TARGET_LABELS = ['job', 'instance'];

const FUNCTIONS = new Set(['sum', 'max', 'min', 'avg', 'rate', 'increase', 'histogram_quantile', 'by']);

interface Use {
  where: string;
  metrics: string[];
  labels: string[];
}

/** The metric names and labels a PromQL expression uses. */
function uses(where: string, query: string): Use {
  const labels: string[] = [];
  // label_values(metric, label): a Grafana variable query.
  const values = /^label_values\((.*),\s*([a-zA-Z_]\w*)\)$/.exec(query.trim());
  if (values) labels.push(values[2] as string);
  const expr = values ? (values[1] as string) : query;
  for (const [, inner] of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const [, name] of (inner as string).matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g))
      labels.push(name as string);
  }
  for (const [, inner] of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    labels.push(
      ...(inner as string)
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
  }
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\bby\s*\([^)]*\)/g, ' ')
    .replace(/"[^"]*"/g, ' ');
  const metrics: string[] = [];
  for (const [, word] of bare.matchAll(/([a-zA-Z_:][\w:]*)/g)) {
    if (!FUNCTIONS.has(word as string)) metrics.push(word as string);
  }
  return { where, metrics, labels };
}

describe('examples/grafana/trellis-golden-signals.json', () => {
  it('reads only metrics and labels the code declares', async () => {
    const dashboard = JSON.parse(
      await readFile(path.join(EXAMPLES, 'grafana/trellis-golden-signals.json'), 'utf8'),
    );
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variables = dashboard.templating.list as { name: string; type: string; query: unknown }[];
    expect(variables.find((v) => v.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });

    const found: Use[] = [];
    for (const v of variables.filter((v) => v.type === 'query')) {
      found.push(uses(`variable ${v.name}`, (v.query as { query: string }).query));
    }
    const panels = dashboard.panels as {
      title: string;
      type: string;
      datasource?: unknown;
      targets?: { expr: string; datasource: unknown }[];
    }[];
    const graphs = panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(12);
    for (const panel of graphs) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource).toEqual(panel.datasource);
        found.push(uses(panel.title, target.expr));
      }
    }

    const declared = await declaredSeries();
    const used = new Set<string>();
    for (const use of found) {
      expect(use.metrics.length, `${use.where} reads a metric`).toBeGreaterThan(0);
      const labels = new Set<string>();
      for (const metric of use.metrics) {
        expect(
          declared.has(metric),
          `${use.where}: ${metric} is declared by the proxy or the control plane`,
        ).toBe(true);
        for (const l of [...(declared.get(metric) ?? []), ...TARGET_LABELS]) labels.add(l);
        used.add(metric);
      }
      for (const label of use.labels) {
        expect(labels.has(label), `${use.where}: label ${label} is one of ${use.metrics.join(', ')}'s`).toBe(
          true,
        );
      }
    }
    // The golden signals and the control-plane row are all there.
    for (const metric of [
      'trellis_requests_total',
      'trellis_request_duration_seconds_bucket',
      'trellis_control_connected_proxies',
      'trellis_control_pushes_total',
      'trellis_control_nacks_total',
      'trellis_control_convergence_seconds_bucket',
      'trellis_control_http_request_duration_seconds_bucket',
      'nodejs_eventloop_lag_max_seconds',
    ]) {
      expect(used).toContain(metric);
    }
    // A job the dashboard filters on is one the Prometheus example scrapes.
    const prometheus = await readFile(path.join(EXAMPLES, 'prometheus', 'prometheus.yml'), 'utf8');
    for (const [, job] of JSON.stringify(dashboard.panels).matchAll(/job=\\"([^"\\]+)\\"/g)) {
      expect(prometheus).toContain(`job_name: ${job}\n`);
    }
  });
});

describe('examples/prometheus/prometheus.yml', () => {
  it('scrapes the control plane with a bearer token and the proxies at the path the code serves', async () => {
    const text = await readFile(path.join(EXAMPLES, 'prometheus', 'prometheus.yml'), 'utf8');
    expect(text).toMatch(
      /job_name: trellis-control\n\s+metrics_path: \/metrics\n\s+authorization:\n\s+type: Bearer/,
    );
    expect(text).toMatch(/job_name: trellis-proxies\n\s+metrics_path: \/metrics/);
    expect(PROMETHEUS_PATH).toBe('/metrics');
  });
});
