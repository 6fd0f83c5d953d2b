import { describe, expect, it } from 'vitest';
import { createMetrics, DURATION_BUCKETS_SECONDS } from '../src/telemetry/metrics.ts';
import { TelemetryRecorder } from '../src/telemetry/recorder.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Enough of the Prometheus text format for these tests: one sample per line, no escapes in label values. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z_0-9]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g))
      labels[pair[1] as string] = pair[2] ?? '';
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const keys = Object.keys(labels);
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === keys.length &&
      keys.every((k) => s.labels[k] === labels[k]),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function setup() {
  const recorder = new TelemetryRecorder({ service: 'web', instance: 'web-1' }, { now: () => 0 });
  const state = { revision: 7, applied: 3, rejected: 1 };
  const { registry } = createMetrics(recorder, {
    service: () => 'web',
    revision: () => state.revision,
    reloads: () => ({ applied: state.applied, rejected: state.rejected }),
  });
  const scrape = async () => parse(await registry.metrics());
  return { recorder, state, registry, scrape };
}

const EDGE = {
  reporter: 'source',
  source_service: 'web',
  destination_service: 'api',
  destination_endpoint: '10.0.0.1:80',
};
const PAIR = { reporter: 'source', source_service: 'web', destination_service: 'api' };

describe('createMetrics', () => {
  it('declares every metric with its type', async () => {
    const { registry } = setup();
    const text = await registry.metrics();
    for (const [name, type] of [
      ['trellis_requests_total', 'counter'],
      ['trellis_request_duration_seconds', 'histogram'],
      ['trellis_request_bytes_total', 'counter'],
      ['trellis_response_bytes_total', 'counter'],
      ['trellis_retries_total', 'counter'],
      ['trellis_overflows_total', 'counter'],
      ['trellis_ejections_total', 'counter'],
      ['trellis_active_requests', 'gauge'],
      ['trellis_config_revision', 'gauge'],
      ['trellis_config_reloads_total', 'counter'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
    }
  });

  it('counts requests by edge and response class, and bytes by edge', async () => {
    const { recorder, scrape } = setup();
    recorder.record('web', 'api', '10.0.0.1:80', 200, 5, 100, 1000);
    recorder.record('web', 'api', '10.0.0.1:80', 201, 5, 10, 20);
    recorder.record('web', 'api', '10.0.0.1:80', 503, 5, 1, 2);
    recorder.record('web', 'api', '', 0, 0, 7, 0);
    recorder.record('batch', 'api', '10.0.0.1:80', 404, 5, 0, 3);

    const samples = await scrape();
    const requests = (labels: Record<string, string>, cls: string) =>
      value(samples, 'trellis_requests_total', { ...labels, response_code_class: cls });
    expect(requests(EDGE, '2xx')).toBe(2);
    expect(requests(EDGE, '5xx')).toBe(1);
    expect(requests(EDGE, '4xx')).toBeUndefined();
    expect(requests({ ...EDGE, destination_endpoint: '' }, 'error')).toBe(1);
    expect(requests({ ...EDGE, source_service: 'batch' }, '4xx')).toBe(1);
    expect(value(samples, 'trellis_request_bytes_total', EDGE)).toBe(111);
    expect(value(samples, 'trellis_response_bytes_total', EDGE)).toBe(1022);
    expect(value(samples, 'trellis_response_bytes_total', { ...EDGE, source_service: 'batch' })).toBe(3);
  });

  it('labels calls this proxy received for its service reporter="destination", the ones it made "source"', async () => {
    const { recorder, scrape } = setup();
    recorder.record('web', 'api', '10.0.0.1:80', 200, 5, 0, 0);
    recorder.record('batch', 'web', '', 200, 5, 0, 0);
    const samples = await scrape();
    const reporters = samples
      .filter((s) => s.name === 'trellis_requests_total')
      .map((s) => `${s.labels.source_service}->${s.labels.destination_service} ${s.labels.reporter}`)
      .sort();
    expect(reporters).toEqual(['batch->web destination', 'web->api source']);
    expect(
      value(samples, 'trellis_request_duration_seconds_count', {
        reporter: 'destination',
        source_service: 'batch',
        destination_service: 'web',
      }),
    ).toBe(1);
  });

  it('reads the recorder at every scrape, across telemetry windows', async () => {
    const { recorder, scrape } = setup();
    recorder.record('web', 'api', '10.0.0.1:80', 200, 5, 1, 1);
    const before = await scrape();
    recorder.flush(1000);
    recorder.record('web', 'api', '10.0.0.1:80', 200, 5, 1, 1);
    recorder.record('web', 'api', '10.0.0.1:80', 200, 5, 1, 1);
    const after = await scrape();
    const labels = { ...EDGE, response_code_class: '2xx' };
    expect(value(before, 'trellis_requests_total', labels)).toBe(1);
    expect(value(after, 'trellis_requests_total', labels)).toBe(3);
    expect(value(after, 'trellis_request_duration_seconds_count', PAIR)).toBe(3);
  });

  it('folds the log-linear histogram into cumulative Prometheus buckets', async () => {
    const { recorder, scrape } = setup();
    const durationsMs = [0.3, 0.5, 0.8, 4, 5, 20, 20, 90, 2000, 40_000];
    for (const ms of durationsMs) recorder.record('web', 'api', '10.0.0.1:80', 200, ms, 0, 0);
    recorder.record('web', 'db', 'db-1', 200, 1, 0, 0);

    const samples = await scrape();
    const bucket = (le: string) => value(samples, 'trellis_request_duration_seconds_bucket', { ...PAIR, le });
    const expected: Record<string, number> = {
      '0.0005': 2,
      '0.001': 3,
      '0.0025': 3,
      '0.005': 5,
      '0.01': 5,
      '0.025': 7,
      '0.05': 7,
      '0.1': 8,
      '0.25': 8,
      '0.5': 8,
      '1': 8,
      '2.5': 9,
      '5': 9,
      '10': 9,
      '30': 9,
      '+Inf': 10,
    };
    for (const [le, count] of Object.entries(expected)) expect(bucket(le), `le=${le}`).toBe(count);

    const les = samples
      .filter(
        (s) => s.name === 'trellis_request_duration_seconds_bucket' && s.labels.destination_service === 'api',
      )
      .map((s) => s.labels.le);
    expect(les).toEqual([...DURATION_BUCKETS_SECONDS.map(String), '+Inf']);

    expect(value(samples, 'trellis_request_duration_seconds_count', PAIR)).toBe(10);
    const sum = value(samples, 'trellis_request_duration_seconds_sum', PAIR) ?? 0;
    expect(sum).toBeCloseTo(durationsMs.reduce((a, b) => a + b, 0) / 1000, 6);

    const db = { reporter: 'source', source_service: 'web', destination_service: 'db' };
    expect(value(samples, 'trellis_request_duration_seconds_bucket', { ...db, le: '0.001' })).toBe(1);
    expect(value(samples, 'trellis_request_duration_seconds_bucket', { ...db, le: '0.0005' })).toBe(0);
    expect(value(samples, 'trellis_request_duration_seconds_count', db)).toBe(1);
  });

  it('exposes retries, overflows, ejections and requests in flight', async () => {
    const { recorder, scrape } = setup();
    recorder.retry('web', 'api');
    recorder.retry('web', 'api');
    recorder.overflow('web', 'api');
    recorder.ejection('api', '10.0.0.1:80');
    recorder.activeChange(3);
    recorder.activeChange(-1);

    const samples = await scrape();
    expect(value(samples, 'trellis_retries_total', PAIR)).toBe(2);
    expect(value(samples, 'trellis_overflows_total', PAIR)).toBe(1);
    expect(
      value(samples, 'trellis_ejections_total', {
        destination_service: 'api',
        destination_endpoint: '10.0.0.1:80',
      }),
    ).toBe(1);
    expect(value(samples, 'trellis_active_requests', {})).toBe(2);
    expect(value(samples, 'trellis_request_duration_seconds_count', PAIR)).toBeUndefined();
  });

  it('exposes the configuration revision and reload results', async () => {
    const { state, scrape } = setup();
    let samples = await scrape();
    expect(value(samples, 'trellis_config_revision', {})).toBe(7);
    expect(value(samples, 'trellis_config_reloads_total', { result: 'applied' })).toBe(3);
    expect(value(samples, 'trellis_config_reloads_total', { result: 'rejected' })).toBe(1);

    state.revision = 8;
    state.applied = 4;
    samples = await scrape();
    expect(value(samples, 'trellis_config_revision', {})).toBe(8);
    expect(value(samples, 'trellis_config_reloads_total', { result: 'applied' })).toBe(4);
  });

  it('keeps registries of two proxies in one process apart', async () => {
    const a = setup();
    const b = setup();
    a.recorder.record('web', 'api', '10.0.0.1:80', 200, 1, 0, 0);
    const labels = { ...EDGE, response_code_class: '2xx' };
    expect(value(await a.scrape(), 'trellis_requests_total', labels)).toBe(1);
    expect(value(await b.scrape(), 'trellis_requests_total', labels)).toBeUndefined();
  });

  it('with processMetrics, shows a stall of the event loop and the process figures; without, none of them', async () => {
    const recorder = new TelemetryRecorder({ service: 'web', instance: 'web-1' }, { now: () => 0 });
    const extra = { service: () => 'web', revision: () => 1, reloads: () => ({ applied: 1, rejected: 0 }) };
    const plain = createMetrics(recorder, extra).registry;
    const withProcess = createMetrics(recorder, { ...extra, processMetrics: true }).registry;
    // The process metrics start with the first scrape (prom-client is loaded then).
    await withProcess.metrics();
    // The monitor samples every 10 ms and measures from its first sample: let that one happen before the stall.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const blockedUntil = performance.now() + 200;
    while (performance.now() < blockedUntil) {
      // The event loop is blocked here, as a long synchronous task in a proxy would block it.
    }
    // Two turns of the loop: the monitor's overdue timer has fired (and recorded the delay) by the second.
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));

    const samples = parse(await withProcess.metrics());
    expect(value(samples, 'nodejs_eventloop_lag_max_seconds', {})).toBeGreaterThanOrEqual(0.15);
    expect(value(samples, 'process_resident_memory_bytes', {})).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_gc_duration_seconds_count')).toBe(true);
    expect(await plain.metrics()).not.toContain('nodejs_');
  });
});
