'use client';

/**
 * A service's live health charts (recharts): request rate, success rate and latency percentiles over a chosen
 * window, from GET /api/v1/metrics. The 5-minute window is read again every 5 s, so new 10 s points slide in from
 * the right. Each chart carries `data-points` (steps with traffic) so tests can wait for data instead of sleeping.
 */
import type { ReactElement } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs } from '../../lib/format';
import {
  CHART_WINDOWS,
  type ChartData,
  type ChartWindow,
  formatTick,
  isIsolated,
  type RowKey,
  toChartData,
  WINDOWS,
} from './metrics';
import { useServiceMetrics } from './queries';

const COLORS = {
  rps: '#5aa9ff',
  success: '#3fb950',
  p50: '#8b97a5',
  p95: '#d29922',
  p99: '#f85149',
};

const AXIS = { stroke: '#8b97a5', fontSize: 11 };
const TOOLTIP_STYLE = { background: '#171d24', border: '1px solid #2a323c', borderRadius: 6 };

export function HealthCharts({
  service,
  window,
  onWindowChange,
}: {
  service: string;
  window: ChartWindow;
  onWindowChange: (w: ChartWindow) => void;
}) {
  const metrics = useServiceMetrics(service, window);
  const data = metrics.data ? toChartData(metrics.data) : undefined;

  return (
    <section className="panel" aria-labelledby="charts-title">
      <header className="panel-header">
        <h2 id="charts-title">Health</h2>
        <fieldset className="segmented">
          <legend className="sr-only">Window</legend>
          {CHART_WINDOWS.map((w) => (
            <label key={w} className={w === window ? 'active' : undefined}>
              <input
                type="radio"
                name="chart-window"
                value={w}
                checked={w === window}
                onChange={() => onWindowChange(w)}
              />
              {WINDOWS[w].label}
            </label>
          ))}
        </fieldset>
        {metrics.data ? (
          <span className="muted small" data-testid="charts-range">
            {WINDOWS[window].step} steps, to {formatTick('5m', Date.parse(metrics.data.to))}
          </span>
        ) : null}
      </header>
      {metrics.error ? <ErrorBanner error={metrics.error} /> : null}
      {metrics.isPending ? (
        <p className="empty" data-testid="charts-loading">
          Loading the last {WINDOWS[window].label} of metrics…
        </p>
      ) : null}
      {data && data.pointsWithTraffic === 0 ? (
        <p className="empty" data-testid="charts-empty">
          No traffic to {service} in the last {WINDOWS[window].label}. The charts fill in as soon as requests
          arrive.
        </p>
      ) : null}
      {data && data.pointsWithTraffic > 0 ? <Charts data={data} window={window} /> : null}
    </section>
  );
}

/**
 * Lines are drawn without dots, and a step without requests is a gap; so a step with traffic between two without
 * (or the first step a service ever saw) would not show at all. Such points get a dot of their own.
 */
function isolatedDot(rows: ChartData['rows'], key: RowKey, color: string) {
  return (props: { cx?: number; cy?: number; index?: number }) => {
    const i = props.index ?? -1;
    return isIsolated(rows, key, i) && props.cx !== undefined && props.cy !== undefined ? (
      <circle key={i} cx={props.cx} cy={props.cy} r={3} fill={color} />
    ) : (
      <g key={i} />
    );
  };
}

/** The three charts of one series; exported for the topology's side panels, which draw them smaller. */
export function Charts({
  data,
  window,
  height = 200,
}: {
  data: ChartData;
  window: ChartWindow;
  height?: number;
}) {
  const tick = (t: number) => formatTick(window, t);
  const label = (t: unknown) => (typeof t === 'number' ? new Date(t).toLocaleString() : String(t));
  const xAxis = (
    <XAxis
      dataKey="t"
      type="number"
      scale="time"
      domain={['dataMin', 'dataMax']}
      tickFormatter={tick}
      minTickGap={40}
      {...AXIS}
    />
  );
  const common = {
    data: data.rows,
    margin: { top: 8, right: 16, bottom: 0, left: 8 },
  };
  return (
    <div className="charts">
      <Chart
        title="Request rate"
        testId="chart-rps"
        height={height}
        points={data.pointsWithTraffic}
        last={data.rows.at(-1)?.t}
      >
        <LineChart {...common}>
          <CartesianGrid stroke="#2a323c" strokeDasharray="3 3" />
          {xAxis}
          <YAxis
            {...AXIS}
            width={56}
            allowDecimals
            label={{ value: 'req/s', angle: -90, position: 'insideLeft', fill: AXIS.stroke, fontSize: 11 }}
          />
          <Tooltip
            contentStyle={TOOLTIP_STYLE}
            labelFormatter={label}
            formatter={(v) => [`${Number(v).toFixed(2)} req/s`, 'Requests']}
          />
          <Legend />
          <Line
            name="Requests/s"
            type="monotone"
            dataKey="rps"
            stroke={COLORS.rps}
            strokeWidth={2}
            dot={isolatedDot(data.rows, 'rps', COLORS.rps)}
            isAnimationActive={false}
          />
        </LineChart>
      </Chart>
      <Chart title="Success rate" testId="chart-success" height={height} points={data.pointsWithTraffic}>
        <LineChart {...common}>
          <CartesianGrid stroke="#2a323c" strokeDasharray="3 3" />
          {xAxis}
          <YAxis
            {...AXIS}
            width={56}
            domain={[data.successFloor, 100]}
            tickCount={6}
            tickFormatter={(v: number) => `${v} %`}
            label={{ value: '%', angle: -90, position: 'insideLeft', fill: AXIS.stroke, fontSize: 11 }}
          />
          <Tooltip
            contentStyle={TOOLTIP_STYLE}
            labelFormatter={label}
            formatter={(v) => [v === null || v === undefined ? '–' : `${Number(v).toFixed(2)} %`, 'Success']}
          />
          <Legend />
          <Line
            name="Success rate"
            type="monotone"
            dataKey="successPct"
            stroke={COLORS.success}
            strokeWidth={2}
            dot={isolatedDot(data.rows, 'successPct', COLORS.success)}
            connectNulls={false}
            isAnimationActive={false}
          />
        </LineChart>
      </Chart>
      <Chart title="Latency" testId="chart-latency" height={height} points={data.pointsWithTraffic}>
        <LineChart {...common}>
          <CartesianGrid stroke="#2a323c" strokeDasharray="3 3" />
          {xAxis}
          <YAxis
            {...AXIS}
            width={56}
            label={{ value: 'ms', angle: -90, position: 'insideLeft', fill: AXIS.stroke, fontSize: 11 }}
          />
          <Tooltip
            contentStyle={TOOLTIP_STYLE}
            labelFormatter={label}
            formatter={(v, name) => [formatMs(v === null || v === undefined ? null : Number(v)), name]}
          />
          <Legend />
          {(['p50', 'p95', 'p99'] as const).map((key) => (
            <Line
              key={key}
              name={key}
              type="monotone"
              dataKey={key}
              stroke={COLORS[key]}
              strokeWidth={key === 'p99' ? 2 : 1.5}
              dot={isolatedDot(data.rows, key, COLORS[key])}
              connectNulls={false}
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </Chart>
    </div>
  );
}

function Chart({
  title,
  testId,
  points,
  height,
  last,
  children,
}: {
  title: string;
  testId: string;
  points: number;
  height: number;
  /** Epoch ms of the newest step drawn (tests watch it move). */
  last?: number | undefined;
  children: ReactElement;
}) {
  return (
    <figure
      className="chart"
      data-testid={testId}
      data-points={points}
      data-last={last}
      aria-label={`${title} chart`}
    >
      <figcaption>{title}</figcaption>
      <ResponsiveContainer width="100%" height={height}>
        {children}
      </ResponsiveContainer>
    </figure>
  );
}
