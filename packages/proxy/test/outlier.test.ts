/** Envoy-style outlier detection over EndpointState objects, driven by a fake clock and explicit ticks. */
import { OutlierDetection } from '@trellis/schema';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type EjectionReason, OutlierDetector } from '../src/resilience/outlier.ts';
import { type EndpointState, newEndpointState, type Outcome } from '../src/types.ts';
import { fakeClock } from './support/endpoints.ts';

function endpoint(i: number): EndpointState {
  return newEndpointState('s', `10.0.0.${i}`, 80);
}

const ok: Outcome = { kind: 'response', status: 200 };
const e500: Outcome = { kind: 'response', status: 500 };
const e503: Outcome = { kind: 'response', status: 503 };

function setup(input: Partial<OutlierDetection>, hosts = 10) {
  const clock = fakeClock();
  const events: { type: 'eject' | 'uneject'; key: string; reason?: EjectionReason }[] = [];
  const onChange = vi.fn();
  const detector = new OutlierDetector(OutlierDetection.parse(input), clock, {
    onChange,
    onEject: (e, reason) => events.push({ type: 'eject', key: e.key, reason }),
    onUneject: (e) => events.push({ type: 'uneject', key: e.key }),
  });
  const endpoints = Array.from({ length: hosts }, (_, i) => endpoint(i + 1));
  detector.setEndpoints(endpoints);
  const report = (e: EndpointState, outcome: Outcome, times = 1) => {
    for (let i = 0; i < times; i++) detector.report(e, outcome);
  };
  return { clock, detector, endpoints, events, onChange, report };
}

function at<T>(list: readonly T[], i: number): T {
  const v = list[i];
  if (v === undefined) throw new Error(`no element ${i}`);
  return v;
}

describe('consecutive 5xx', () => {
  it('ejects on the fifth consecutive error, not the fourth', () => {
    const { clock, detector, endpoints, events, onChange, report } = setup({});
    const e = at(endpoints, 0);
    report(e, e500, 4);
    expect(e.ejectedUntil).toBe(0);
    expect(onChange).not.toHaveBeenCalled();
    report(e, e500);
    expect(e.ejectedUntil).toBe(clock.now() + 30_000);
    expect(events).toEqual([{ type: 'eject', key: e.key, reason: 'consecutive_5xx' }]);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(detector.ejectedCount()).toBe(1);
  });

  it('counts connect failures, resets and timeouts as 5xx', () => {
    const { endpoints, report } = setup({});
    const e = at(endpoints, 0);
    report(e, { kind: 'connect-failure' });
    report(e, { kind: 'reset' });
    report(e, { kind: 'timeout' });
    report(e, { kind: 'response', status: 599 });
    expect(e.ejectedUntil).toBe(0);
    report(e, e503);
    expect(e.ejectedUntil).not.toBe(0);
  });

  it('starts over after a success', () => {
    const { endpoints, report } = setup({});
    const e = at(endpoints, 0);
    report(e, e500, 4);
    report(e, { kind: 'response', status: 404 });
    report(e, e500, 4);
    expect(e.ejectedUntil).toBe(0);
    report(e, e500);
    expect(e.ejectedUntil).not.toBe(0);
  });

  it('keeps counters per endpoint', () => {
    const { endpoints, report } = setup({ maxEjectionPercent: 100 });
    const [a, b] = [at(endpoints, 0), at(endpoints, 1)];
    for (let i = 0; i < 4; i++) {
      report(a, e500);
      report(b, e500);
    }
    expect(a.ejectedUntil + b.ejectedUntil).toBe(0);
    report(a, e500);
    expect(a.ejectedUntil).not.toBe(0);
    expect(b.ejectedUntil).toBe(0);
  });

  it('does not eject an ejected host again', () => {
    const { endpoints, events, onChange, report } = setup({});
    const e = at(endpoints, 0);
    report(e, e500, 5);
    const until = e.ejectedUntil;
    report(e, e500, 20);
    expect(e.ejectedUntil).toBe(until);
    expect(events).toHaveLength(1);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('ignores endpoints it was not given, and forgets removed ones', () => {
    const { detector, endpoints, report } = setup({}, 3);
    const stranger = endpoint(99);
    report(stranger, e500, 10);
    expect(stranger.ejectedUntil).toBe(0);
    const [a, b] = [at(endpoints, 0), at(endpoints, 1)];
    report(a, e500, 4);
    detector.setEndpoints([b]);
    report(a, e500, 10);
    expect(a.ejectedUntil).toBe(0);
    detector.setEndpoints([a, b]);
    report(a, e500, 4);
    expect(a.ejectedUntil).toBe(0);
    report(a, e500);
    expect(a.ejectedUntil).not.toBe(0);
  });
});

describe('ejection time and un-ejection', () => {
  it('keeps the host out until the ejection time, then returns it on the next tick', () => {
    const { clock, detector, endpoints, events, onChange, report } = setup({});
    const e = at(endpoints, 0);
    report(e, e500, 5);
    clock.advance(29_999);
    detector.tick();
    expect(e.ejectedUntil).not.toBe(0);
    expect(onChange).toHaveBeenCalledTimes(1);
    clock.advance(1);
    detector.tick();
    expect(e.ejectedUntil).toBe(0);
    expect(detector.ejectedCount()).toBe(0);
    expect(events.at(-1)).toEqual({ type: 'uneject', key: e.key });
    expect(onChange).toHaveBeenCalledTimes(2);
    detector.tick();
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it('resets the consecutive counters on un-ejection', () => {
    const { clock, detector, endpoints, report } = setup({});
    const e = at(endpoints, 0);
    report(e, e500, 8);
    clock.advance(30_000);
    detector.tick();
    report(e, e500, 4);
    expect(e.ejectedUntil).toBe(0);
    report(e, e500);
    expect(e.ejectedUntil).not.toBe(0);
  });

  it('grows with each ejection, up to maxEjectionTimeMs', () => {
    const { clock, detector, endpoints, report } = setup({
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 70_000,
    });
    const e = at(endpoints, 0);
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      report(e, e500, 5);
      durations.push(e.ejectedUntil - clock.now());
      clock.advance(e.ejectedUntil - clock.now());
      detector.tick();
      expect(e.ejectedUntil).toBe(0);
    }
    expect(durations).toEqual([30_000, 60_000, 70_000, 70_000]);
  });

  it('shrinks the multiplier by one per interval spent not ejected', () => {
    const { clock, detector, endpoints, report } = setup({ baseEjectionTimeMs: 10_000, intervalMs: 10_000 });
    const e = at(endpoints, 0);
    const eject = () => {
      report(e, e500, 5);
      const duration = e.ejectedUntil - clock.now();
      for (;;) {
        clock.advance(10_000);
        detector.tick();
        if (e.ejectedUntil === 0) return duration;
      }
    };
    expect(eject()).toBe(10_000);
    expect(eject()).toBe(20_000);
    expect(eject()).toBe(30_000);
    clock.advance(10_000);
    detector.tick();
    expect(eject()).toBe(30_000);
    for (let i = 0; i < 2; i++) {
      clock.advance(10_000);
      detector.tick();
    }
    expect(eject()).toBe(20_000);
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      detector.tick();
    }
    expect(eject()).toBe(10_000);
  });

  it('does not shrink the multiplier while the host is ejected', () => {
    const { clock, detector, endpoints, report } = setup({ baseEjectionTimeMs: 50_000, intervalMs: 10_000 });
    const e = at(endpoints, 0);
    report(e, e500, 5);
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      detector.tick();
    }
    expect(e.ejectedUntil).toBe(0);
    report(e, e500, 5);
    expect(e.ejectedUntil - clock.now()).toBe(100_000);
  });
});

describe('maxEjectionPercent', () => {
  function failAll(endpoints: EndpointState[], report: (e: EndpointState, o: Outcome, n: number) => void) {
    for (const e of endpoints) report(e, e500, 5);
    return endpoints.filter((e) => e.ejectedUntil !== 0).length;
  }

  it('10 % of 10 hosts: exactly one', () => {
    const { detector, endpoints, report } = setup({ maxEjectionPercent: 10 }, 10);
    expect(failAll(endpoints, report)).toBe(1);
    expect(detector.ejectedCount()).toBe(1);
  });

  it('10 % of 3 hosts: one host may always be ejected, but not two', () => {
    const { endpoints, report } = setup({ maxEjectionPercent: 10 }, 3);
    expect(failAll(endpoints, report)).toBe(1);
  });

  it('50 % of 4 hosts: two', () => {
    const { endpoints, report } = setup({ maxEjectionPercent: 50 }, 4);
    expect(failAll(endpoints, report)).toBe(2);
  });

  it('frees the slot when the ejected host returns', () => {
    const { clock, detector, endpoints, report } = setup({ maxEjectionPercent: 10 }, 10);
    const [a, b] = [at(endpoints, 0), at(endpoints, 1)];
    report(a, e500, 5);
    report(b, e500, 5);
    expect(b.ejectedUntil).toBe(0);
    clock.advance(30_000);
    detector.tick();
    report(b, e500, 5);
    expect(b.ejectedUntil).not.toBe(0);
    expect(a.ejectedUntil).toBe(0);
  });
});

describe('consecutive gateway errors', () => {
  it('ejects on 502/503/504 and local failures, not on 500s', () => {
    const { endpoints, events, report } = setup({ consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    const a = at(endpoints, 0);
    report(a, e500, 20);
    expect(a.ejectedUntil).toBe(0);
    report(a, e503, 2);
    expect(a.ejectedUntil).toBe(0);
    report(a, e503);
    expect(a.ejectedUntil).not.toBe(0);
    expect(events).toEqual([{ type: 'eject', key: a.key, reason: 'consecutive_gateway' }]);
  });

  it('counts 502, 504, connect failures, resets and timeouts as gateway errors', () => {
    const { endpoints, report } = setup({
      consecutive5xx: 0,
      consecutiveGatewayErrors: 5,
      maxEjectionPercent: 100,
    });
    const e = at(endpoints, 0);
    report(e, { kind: 'response', status: 502 });
    report(e, { kind: 'connect-failure' });
    report(e, { kind: 'reset' });
    report(e, { kind: 'timeout' });
    expect(e.ejectedUntil).toBe(0);
    report(e, { kind: 'response', status: 504 });
    expect(e.ejectedUntil).not.toBe(0);
  });

  it('is reset by a success and by a non-gateway 5xx', () => {
    const { endpoints, report } = setup({ consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    const e = at(endpoints, 0);
    report(e, e503, 2);
    report(e, ok);
    report(e, e503, 2);
    report(e, e500);
    report(e, e503, 2);
    expect(e.ejectedUntil).toBe(0);
    report(e, e503);
    expect(e.ejectedUntil).not.toBe(0);
  });

  it('runs alongside the 5xx detector', () => {
    const { endpoints, events, report } = setup({ consecutive5xx: 5, consecutiveGatewayErrors: 2 });
    const [a, b] = [at(endpoints, 0), at(endpoints, 1)];
    report(a, e503, 2);
    expect(events.at(-1)).toEqual({ type: 'eject', key: a.key, reason: 'consecutive_gateway' });
    report(b, e500, 4);
    report(b, { kind: 'response', status: 501 });
    expect(b.ejectedUntil).toBe(0);
  });
});

describe('success rate', () => {
  const successRate = { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 };

  function traffic(
    report: (e: EndpointState, o: Outcome) => void,
    endpoints: EndpointState[],
    requests: number,
    failEvery: (i: number) => number,
  ) {
    endpoints.forEach((e, i) => {
      const every = failEvery(i);
      for (let n = 0; n < requests; n++) report(e, every > 0 && n % every === 0 ? e500 : ok);
    });
  }

  it('ejects the clear outlier among hosts with enough volume', () => {
    const { detector, endpoints, events, onChange, report } = setup({ successRate }, 6);
    traffic(report, endpoints, 120, (i) => (i === 3 ? 2 : i === 0 ? 20 : 0));
    expect(detector.ejectedCount()).toBe(0);
    detector.tick();
    expect(events).toEqual([{ type: 'eject', key: at(endpoints, 3).key, reason: 'success_rate' }]);
    expect(at(endpoints, 3).ejectedUntil).not.toBe(0);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('ejects nobody when the rates are close', () => {
    const { detector, endpoints, report } = setup({ successRate, maxEjectionPercent: 100 }, 6);
    traffic(report, endpoints, 120, (i) => 10 + i);
    detector.tick();
    expect(detector.ejectedCount()).toBe(0);
  });

  it('ejects nobody when too few requests were seen in the interval', () => {
    const { detector, endpoints, report } = setup({ successRate }, 6);
    traffic(report, endpoints, 99, (i) => (i === 3 ? 2 : 0));
    detector.tick();
    expect(detector.ejectedCount()).toBe(0);
    traffic(report, endpoints, 60, (i) => (i === 3 ? 2 : 0));
    detector.tick();
    expect(detector.ejectedCount()).toBe(0);
  });

  it('ejects nobody when fewer than minimumHosts have enough volume', () => {
    const { detector, endpoints, report } = setup({ successRate }, 6);
    traffic(report, endpoints.slice(0, 4), 200, (i) => (i === 3 ? 2 : 0));
    traffic(report, endpoints.slice(4), 50, () => 0);
    detector.tick();
    expect(detector.ejectedCount()).toBe(0);
  });

  it('respects maxEjectionPercent, keeping the worst host ejected', () => {
    const { detector, endpoints, report } = setup(
      { successRate: { ...successRate, stdevFactor: 1 }, maxEjectionPercent: 10 },
      10,
    );
    traffic(report, endpoints, 120, (i) => (i === 2 ? 3 : i === 7 ? 2 : 0));
    detector.tick();
    expect(detector.ejectedCount()).toBe(1);
    expect(at(endpoints, 7).ejectedUntil).not.toBe(0);
  });
});

describe('lifecycle', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does nothing when disabled', () => {
    const { detector, endpoints, events, onChange, report } = setup({
      enabled: false,
      consecutiveGatewayErrors: 1,
      successRate: { minimumHosts: 1, requestVolume: 1, stdevFactor: 1 },
    });
    for (const e of endpoints) report(e, e503, 50);
    detector.tick();
    expect(endpoints.every((e) => e.ejectedUntil === 0)).toBe(true);
    expect(events).toEqual([]);
    expect(onChange).not.toHaveBeenCalled();
  });

  it('start() ticks every intervalMs until stop()', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, detector, endpoints, report } = setup({ intervalMs: 1_000, baseEjectionTimeMs: 1_000 });
    const e = at(endpoints, 0);
    detector.start();
    report(e, e500, 5);
    clock.advance(1_000);
    vi.advanceTimersByTime(999);
    expect(e.ejectedUntil).not.toBe(0);
    vi.advanceTimersByTime(1);
    expect(e.ejectedUntil).toBe(0);
    detector.stop();
    report(e, e500, 5);
    clock.advance(60_000);
    vi.advanceTimersByTime(60_000);
    expect(e.ejectedUntil).not.toBe(0);
  });
});
