import { MetricsQuery, type MetricsSeries } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  CHART_WINDOWS,
  formatTick,
  isIsolated,
  metricsPath,
  REPORT_LAG_MS,
  toChartData,
  WINDOWS,
  windowRange,
} from '../src/features/services/metrics.ts';

const NOW = Date.parse('2026-11-25T21:09:37.500Z');

describe('windowRange', () => {
  it('ends at the last complete step and spans the window, aligned to the step', () => {
    expect(windowRange('5m', NOW)).toEqual({
      from: Date.parse('2026-11-25T21:04:30.000Z'),
      to: Date.parse('2026-11-25T21:09:30.000Z'),
      step: '10s',
    });
    expect(windowRange('1h', NOW)).toEqual({
      from: Date.parse('2026-11-25T20:09:00.000Z'),
      to: Date.parse('2026-11-25T21:09:00.000Z'),
      step: '1m',
    });
    expect(windowRange('24h', NOW)).toEqual({
      from: Date.parse('2026-11-24T21:05:00.000Z'),
      to: Date.parse('2026-11-25T21:05:00.000Z'),
      step: '5m',
    });
  });

  it('leaves out a step that ended less than the report lag ago', () => {
    const justAfter = Date.parse('2026-11-25T21:09:30.000Z') + REPORT_LAG_MS - 1;
    expect(new Date(windowRange('5m', justAfter).to).toISOString()).toBe('2026-11-25T21:09:20.000Z');
    expect(new Date(windowRange('5m', justAfter + 1).to).toISOString()).toBe('2026-11-25T21:09:30.000Z');
  });

  it('asks for a sensible number of points in every window', () => {
    for (const w of CHART_WINDOWS) {
      const r = windowRange(w, NOW);
      const points = (r.to - r.from) / WINDOWS[w].stepMs;
      expect(points).toBeGreaterThanOrEqual(30);
      expect(points).toBeLessThanOrEqual(300);
    }
  });
});

describe('metricsPath', () => {
  it('builds a query the metrics API accepts', () => {
    for (const w of CHART_WINDOWS) {
      const url = new URL(metricsPath('service-c', w, NOW), 'http://console');
      expect(url.pathname).toBe('/api/v1/metrics');
      const parsed = MetricsQuery.safeParse(Object.fromEntries(url.searchParams));
      expect(parsed.success).toBe(true);
      if (!parsed.success) continue;
      expect(parsed.data.service).toBe('service-c');
      expect(parsed.data.step).toBe(WINDOWS[w].stepMs);
      expect((parsed.data.to ?? 0) - (parsed.data.from ?? 0)).toBe(WINDOWS[w].rangeMs);
    }
  });

  it('uses whole-minute steps for the long windows, so they read the 1 min buckets kept for 7 days', () => {
    expect(WINDOWS['1h'].stepMs % 60_000).toBe(0);
    expect(WINDOWS['24h'].stepMs % 60_000).toBe(0);
  });

  it('encodes the service name', () => {
    expect(metricsPath('a&b', '5m', NOW)).toContain('service=a%26b');
  });
});

const point = (t: string, over: Partial<MetricsSeries['points'][number]> = {}) => ({
  t,
  reporter: null,
  requests: 0,
  rps: 0,
  successRate: null,
  errorRate: null,
  p50: null,
  p95: null,
  p99: null,
  bytesIn: 0,
  bytesOut: 0,
  retries: 0,
  ...over,
});

const series = (points: MetricsSeries['points']): MetricsSeries => ({
  target: { service: 'service-c' },
  from: '2026-11-25T21:09:00.000Z',
  to: '2026-11-25T21:09:30.000Z',
  stepSeconds: 10,
  resolutionSeconds: 10,
  points,
});

describe('toChartData', () => {
  it('turns points into rows in the units of the axes: req/s, percent, ms', () => {
    const data = toChartData(
      series([
        point('2026-11-25T21:09:00.000Z'),
        point('2026-11-25T21:09:10.000Z', {
          reporter: 'destination',
          requests: 126,
          rps: 12.6,
          successRate: 0.98413,
          errorRate: 0.01587,
          p50: 11.904,
          p95: 21.248,
          p99: 21.76,
        }),
      ]),
    );
    expect(data.rows).toEqual([
      {
        t: Date.parse('2026-11-25T21:09:00.000Z'),
        rps: 0,
        successPct: null,
        p50: null,
        p95: null,
        p99: null,
      },
      {
        t: Date.parse('2026-11-25T21:09:10.000Z'),
        rps: 12.6,
        successPct: 98.41,
        p50: 11.904,
        p95: 21.248,
        p99: 21.76,
      },
    ]);
    expect(data.pointsWithTraffic).toBe(1);
  });

  it('counts no traffic in a window of empty steps (the "no traffic" state)', () => {
    const data = toChartData(series([point('2026-11-25T21:09:00.000Z'), point('2026-11-25T21:09:10.000Z')]));
    expect(data.pointsWithTraffic).toBe(0);
    expect(data.rows.every((r) => r.rps === 0 && r.successPct === null && r.p99 === null)).toBe(true);
    expect(toChartData(series([])).pointsWithTraffic).toBe(0);
  });

  it('sets the success axis floor below the worst step, in steps of 5 points', () => {
    const withRate = (successRate: number) =>
      toChartData(series([point('2026-11-25T21:09:00.000Z', { requests: 10, rps: 1, successRate })]))
        .successFloor;
    expect(withRate(1)).toBe(95);
    expect(withRate(0.97)).toBe(95);
    expect(withRate(0.955)).toBe(90);
    expect(withRate(0.42)).toBe(40);
    expect(withRate(0)).toBe(0);
    expect(toChartData(series([])).successFloor).toBe(95);
  });
});

describe('formatTick', () => {
  it('shows seconds only in the 5-minute window', () => {
    const t = Date.parse('2026-11-25T21:09:10.000Z');
    expect(formatTick('5m', t, 'UTC')).toBe('21:09:10');
    expect(formatTick('1h', t, 'UTC')).toBe('21:09');
    expect(formatTick('24h', t, 'UTC')).toBe('21:09');
  });
});

describe('isIsolated', () => {
  it('finds the values a line cannot draw: gaps on both sides', () => {
    const row = (p99: number | null) => ({ t: 0, rps: 1, successPct: null, p50: null, p95: null, p99 });
    const rows = [row(5), row(null), row(7), row(8), row(null)];
    expect(rows.map((_, i) => isIsolated(rows, 'p99', i))).toEqual([true, false, false, false, false]);
    expect(isIsolated([row(3)], 'p99', 0)).toBe(true);
    expect(isIsolated([row(3), row(4)], 'rps', 0)).toBe(false);
  });
});
