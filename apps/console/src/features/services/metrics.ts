/**
 * Pure logic of the service charts, kept apart from React so it is unit-tested: which range and step each history
 * window asks GET /api/v1/metrics for, and how a MetricsSeries becomes chart rows in the units the axes show.
 *
 * Steps follow what the metrics API accepts (a multiple of 10 s; whole minutes read the 1 min buckets, kept 7 days;
 * others the 10 s buckets, kept 24 h): 10 s for 5 minutes (30 points), 1 min for an hour (60), 5 min for a day
 * (288). The range ends at the last *complete* step: a step still filling would show as a dip in the request rate
 * at the right edge of every chart, since rps is requests over the whole step.
 */
import type { MetricsSeries } from '@trellis/schema';

export type ChartWindow = '5m' | '1h' | '24h';

export interface WindowSpec {
  label: string;
  rangeMs: number;
  /** As the API's `step` parameter. */
  step: string;
  stepMs: number;
  /** How often the series is read again: new points appear once per step, so no point reading much faster. */
  refreshMs: number;
}

export const WINDOWS: Record<ChartWindow, WindowSpec> = {
  '5m': { label: '5 min', rangeMs: 5 * 60_000, step: '10s', stepMs: 10_000, refreshMs: 5_000 },
  '1h': { label: '1 h', rangeMs: 60 * 60_000, step: '1m', stepMs: 60_000, refreshMs: 15_000 },
  '24h': { label: '24 h', rangeMs: 24 * 60 * 60_000, step: '5m', stepMs: 5 * 60_000, refreshMs: 60_000 },
};

export const CHART_WINDOWS = Object.keys(WINDOWS) as ChartWindow[];

/**
 * A telemetry window reaches the control plane about a second after it closes (README, "Telemetry"); a step is
 * taken as complete this long after its end.
 */
export const REPORT_LAG_MS = 2_000;

export interface MetricsRange {
  from: number;
  to: number;
  step: string;
}

/** The range a window covers at `now`: `rangeMs` long, ending at the last complete step, aligned to the step. */
export function windowRange(window: ChartWindow, now: number): MetricsRange {
  const w = WINDOWS[window];
  const to = Math.floor((now - REPORT_LAG_MS) / w.stepMs) * w.stepMs;
  return { from: to - w.rangeMs, to, step: w.step };
}

/** The GET /api/v1/metrics path for one service over a window at `now`. */
export function metricsPath(service: string, window: ChartWindow, now: number): string {
  const r = windowRange(window, now);
  const query = new URLSearchParams({
    service,
    from: new Date(r.from).toISOString(),
    to: new Date(r.to).toISOString(),
    step: r.step,
  });
  return `/api/v1/metrics?${query}`;
}

/**
 * One chart row: `t` in epoch ms, request rate in requests per second, success rate in percent (0–100), latencies
 * in milliseconds. Rates and latencies are null for a step without requests, which the charts draw as a gap rather
 * than as a fall to zero (there was nothing to measure); the request rate is a true 0.
 */
export interface ChartRow {
  t: number;
  rps: number;
  successPct: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export type RowKey = Exclude<keyof ChartRow, 't'>;

/** A value with a gap on both sides: a line cannot show it, so the chart draws it as a dot. */
export function isIsolated(rows: readonly ChartRow[], key: RowKey, index: number): boolean {
  return rows[index]?.[key] != null && rows[index - 1]?.[key] == null && rows[index + 1]?.[key] == null;
}

export interface ChartData {
  rows: ChartRow[];
  /** Steps that saw at least one request; 0 means "no traffic in this window". */
  pointsWithTraffic: number;
  /** Lower bound of the success-rate axis: 5-point steps below the worst step, so a dip is visible. */
  successFloor: number;
}

const round = (value: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

export function toChartData(series: MetricsSeries): ChartData {
  let pointsWithTraffic = 0;
  let worst = 100;
  const rows = series.points.map((p): ChartRow => {
    const traffic = p.requests > 0;
    if (traffic) pointsWithTraffic++;
    const successPct = traffic && p.successRate !== null ? round(p.successRate * 100, 2) : null;
    if (successPct !== null) worst = Math.min(worst, successPct);
    return {
      t: Date.parse(p.t),
      rps: round(p.rps, 2),
      successPct,
      p50: traffic ? p.p50 : null,
      p95: traffic ? p.p95 : null,
      p99: traffic ? p.p99 : null,
    };
  });
  const successFloor = Math.max(0, Math.min(95, Math.floor((worst - 1) / 5) * 5));
  return { rows, pointsWithTraffic, successFloor };
}

/** Time-axis ticks: seconds matter in the 5-minute window, not in the longer ones. */
export function formatTick(window: ChartWindow, t: number, timeZone?: string): string {
  return new Date(t).toLocaleTimeString('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    ...(window === '5m' ? { second: '2-digit' } : {}),
    hour12: false,
    ...(timeZone ? { timeZone } : {}),
  });
}
