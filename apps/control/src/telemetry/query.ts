/**
 * GET /api/v1/metrics: a validated query (packages/schema MetricsQuery) turned into a range, a step and the
 * stored resolution to read, then into points. Steps that are whole minutes read the 1 min rows (kept longest);
 * other steps read the 10 s rows, which only reach back as far as their retention, so a range older than that
 * needs a whole-minute step and is refused otherwise, naming `step`.
 *
 * Each point is read from one side, like the live view: a service from its inbound proxies when they reported
 * anything in that step, else from its callers; an edge from its caller's proxy when it reported, else from the
 * callee's.
 */
import {
  METRICS_MAX_POINTS,
  METRICS_MIN_STEP_MS,
  type MetricsPoint,
  type MetricsQuery,
  type MetricsSeries,
  type Reporter,
} from '@trellis/schema';
import { TrellisError } from '../errors.ts';
import { Counts } from './counts.ts';
import {
  type BucketTarget,
  COARSE_RESOLUTION_SECONDS,
  FINE_RESOLUTION_SECONDS,
  type TelemetryStore,
} from './store.ts';

/** The range when the query gives none. */
export const DEFAULT_RANGE_MS = 15 * 60_000;
/** About this many points when the query gives no step. */
const DEFAULT_POINTS = 360;

export interface ResolvedMetricsQuery {
  target: BucketTarget;
  /** Aligned to the step. */
  from: number;
  to: number;
  stepMs: number;
  resolutionSeconds: number;
}

function invalid(path: string, message: string): TrellisError {
  return new TrellisError('TRELLIS_ERR_VALIDATION', `${path}: ${message}`, { errors: [{ path, message }] });
}

function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

/** `fineHorizon`: the oldest time 10 s rows are kept for. */
export function resolveMetricsQuery(q: MetricsQuery, now: number, fineHorizon: number): ResolvedMetricsQuery {
  const to = q.to ?? now;
  const from = q.from ?? to - DEFAULT_RANGE_MS;
  if (from >= to) throw invalid('from', 'must be earlier than to (which defaults to now)');
  const minute = COARSE_RESOLUTION_SECONDS * 1000;
  let stepMs = q.step;
  if (stepMs === undefined) {
    stepMs = roundUp((to - from) / DEFAULT_POINTS, METRICS_MIN_STEP_MS);
    if (stepMs > minute || from < fineHorizon) stepMs = roundUp(stepMs, minute);
  }
  const aligned = Math.floor(from / stepMs) * stepMs;
  if ((to - aligned) / stepMs > METRICS_MAX_POINTS) {
    throw invalid(
      'step',
      `asks for more than ${METRICS_MAX_POINTS} points; use a larger step or a shorter range`,
    );
  }
  const resolutionSeconds = stepMs % minute === 0 ? COARSE_RESOLUTION_SECONDS : FINE_RESOLUTION_SECONDS;
  if (resolutionSeconds === FINE_RESOLUTION_SECONDS && aligned < fineHorizon) {
    throw invalid(
      'step',
      `10s data is kept only since ${new Date(fineHorizon).toISOString()}; for an older range use a step that is a whole number of minutes`,
    );
  }
  const target = q.service !== undefined ? { service: q.service } : (q.edge as BucketTarget);
  return { target, from: aligned, to, stepMs, resolutionSeconds };
}

export async function metricsSeries(store: TelemetryStore, q: ResolvedMetricsQuery): Promise<MetricsSeries> {
  const count = Math.ceil((q.to - q.from) / q.stepMs);
  const steps = Array.from({ length: count }, () => ({ source: new Counts(), destination: new Counts() }));
  for (const b of await store.buckets(q.target, q.resolutionSeconds, q.from, q.to)) {
    const step = steps[Math.floor((b.start - q.from) / q.stepMs)];
    step?.[b.reporter].add(b.counts);
  }
  const seconds = q.stepMs / 1000;
  const points = steps.map((s, i): MetricsPoint => {
    const reporter = chooseReporter(q.target, s.source, s.destination);
    const counts = reporter ? s[reporter] : new Counts();
    return { t: new Date(q.from + i * q.stepMs).toISOString(), reporter, ...counts.stats(seconds) };
  });
  return {
    target: q.target,
    from: new Date(q.from).toISOString(),
    to: new Date(q.to).toISOString(),
    stepSeconds: seconds,
    resolutionSeconds: q.resolutionSeconds,
    points,
  };
}

function chooseReporter(target: BucketTarget, source: Counts, destination: Counts): Reporter | null {
  if ('service' in target) {
    if (destination.requests > 0) return 'destination';
    if (source.requests > 0) return 'source';
  } else {
    if (!source.empty) return 'source';
    if (!destination.empty) return 'destination';
  }
  return null;
}
