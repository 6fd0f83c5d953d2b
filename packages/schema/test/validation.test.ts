/** Every validation rule of the mesh model, table-driven: the input, the field path and the message. */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  EndpointSpec,
  formatPath,
  matchesSubset,
  RouteRuleSpec,
  ServiceSpec,
  subsetKey,
  TrafficPolicySpec,
  toFieldErrors,
} from '../src/index.ts';

type Row = [description: string, input: Record<string, unknown>, path: string, message: string | RegExp];

function errorsOf(schema: z.ZodType, input: unknown) {
  const result = schema.safeParse(input);
  if (result.success) return [];
  return toFieldErrors(result.error);
}

function table(schema: z.ZodType, base: Record<string, unknown>, rows: Row[]) {
  it.each(rows)('%s', (_d, patch, path, message) => {
    const errors = errorsOf(schema, { ...base, ...patch });
    const hit = errors.find((e) => e.path === path);
    expect(hit, `expected an error at "${path}", got ${JSON.stringify(errors)}`).toBeDefined();
    if (typeof message === 'string') expect(hit?.message).toBe(message);
    else expect(hit?.message).toMatch(message);
  });
}

const DNS = /must be a DNS label/;

describe('service', () => {
  table(ServiceSpec, { name: 'svc', port: 80 }, [
    ['name required', { name: undefined }, 'name', 'is required'],
    ['name empty', { name: '' }, 'name', 'must not be empty'],
    ['name upper case', { name: 'Svc' }, 'name', DNS],
    ['name underscore', { name: 'my_svc' }, 'name', DNS],
    ['name leading dash', { name: '-svc' }, 'name', DNS],
    ['name trailing dash', { name: 'svc-' }, 'name', DNS],
    ['name too long', { name: 'a'.repeat(64) }, 'name', 'must be at most 63 characters'],
    ['name not a string', { name: 7 }, 'name', 'must be a string'],
    ['protocol unknown', { protocol: 'grpc' }, 'protocol', 'must be "http" or "tcp"'],
    ['port required', { port: undefined }, 'port', 'is required'],
    ['port zero', { port: 0 }, 'port', 'must be between 1 and 65535'],
    ['port too big', { port: 65536 }, 'port', 'must be between 1 and 65535'],
    ['port fractional', { port: 80.5 }, 'port', 'must be an integer'],
    ['port string', { port: '80' }, 'port', 'must be a number'],
    [
      'label key invalid',
      { labels: { 'bad key': 'x' } },
      'labels["bad key"]',
      /label key "bad key" is invalid/,
    ],
    ['label key prefix invalid', { labels: { 'Bad_Prefix/x': 'v' } }, 'labels["Bad_Prefix/x"]', /is invalid/],
    [
      'label value too long',
      { labels: { a: 'x'.repeat(64) } },
      'labels.a',
      'label values must be at most 63 characters',
    ],
    ['label value bad characters', { labels: { a: 'x y' } }, 'labels.a', /label values may hold/],
    ['label value not a string', { labels: { a: 1 } }, 'labels.a', 'must be a string'],
    [
      'too many labels',
      { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
      'labels',
      'at most 64 labels',
    ],
    [
      'description too long',
      { description: 'x'.repeat(1025) },
      'description',
      'must be at most 1024 characters',
    ],
    ['description with NUL', { description: 'a\u0000b' }, 'description', 'must not contain NUL characters'],
    ['description with lone surrogate', { description: 'a\ud800' }, 'description', /well-formed Unicode/],
    ['unknown field', { replicas: 3 }, 'replicas', 'is not a known field'],
  ]);

  it('accepts prefixed label keys and empty label values', () => {
    expect(
      ServiceSpec.safeParse({ name: 'a', port: 1, labels: { 'app.kubernetes.io/name': 'a', empty: '' } })
        .success,
    ).toBe(true);
  });
});

describe('endpoint', () => {
  table(EndpointSpec, { address: '10.0.0.1', port: 80 }, [
    ['address required', { address: undefined }, 'address', 'is required'],
    [
      'address garbage',
      { address: 'not an address!' },
      'address',
      'must be an IPv4 or IPv6 address or a host name',
    ],
    [
      'address bad IPv4',
      { address: '10.0.0.256' },
      'address',
      'must be an IPv4 or IPv6 address or a host name',
    ],
    ['weight zero', { weight: 0 }, 'weight', 'must be between 1 and 128'],
    ['weight too big', { weight: 129 }, 'weight', 'must be between 1 and 128'],
    ['health unknown', { health: 'sick' }, 'health', 'must be "healthy", "unhealthy" or "draining"'],
    ['source unknown', { source: 'k8s' }, 'source', 'must be "proxy", "api", "static" or "dns"'],
    ['ttl zero', { ttlSeconds: 0 }, 'ttlSeconds', 'must be between 1 and 86400'],
    ['zone too long', { zone: 'z'.repeat(64) }, 'zone', 'must be at most 63 characters'],
  ]);

  it.each(['10.0.0.1', '::1', 'fe80::1', 'db.internal', 'localhost'])('accepts address %s', (address) => {
    expect(EndpointSpec.safeParse({ address, port: 1 }).success).toBe(true);
  });
});

const two = (a: number, b: number) => [
  { subset: { version: 'v1' }, weight: a },
  { subset: { version: 'v2' }, weight: b },
];

describe('route rule', () => {
  table(RouteRuleSpec, { name: 'r', service: 's' }, [
    ['service required', { service: undefined }, 'service', 'is required'],
    ['service invalid', { service: 'S S' }, 'service', DNS],
    ['priority negative', { priority: -1 }, 'priority', 'must be between 0 and 1000000'],
    ['weights under 100', { destinations: two(50, 40) }, 'destinations', 'weights must sum to 100, got 90'],
    ['weights over 100', { destinations: two(60, 60) }, 'destinations', 'weights must sum to 100, got 120'],
    [
      'weight above 100',
      { destinations: [{ weight: 101 }] },
      'destinations[0].weight',
      'must be between 0 and 100',
    ],
    ['weight missing', { destinations: [{ subset: {} }] }, 'destinations[0].weight', 'is required'],
    ['no destinations', { destinations: [] }, 'destinations', 'needs at least one destination'],
    [
      'same subset twice',
      {
        destinations: [
          { subset: { v: '1' }, weight: 50 },
          { subset: { v: '1' }, weight: 50 },
        ],
      },
      'destinations[1].subset',
      'same subset as destinations[0]',
    ],
    [
      'path match empty',
      { match: [{ path: {} }] },
      'match[0].path',
      'a path match needs exactly one of exact, prefix, regex',
    ],
    [
      'path match two kinds',
      { match: [{ path: { exact: '/a', prefix: '/a' } }] },
      'match[0].path',
      /got exact and prefix/,
    ],
    [
      'path exact without slash',
      { match: [{ path: { exact: 'a' } }] },
      'match[0].path.exact',
      'must start with "/"',
    ],
    [
      'path prefix without slash',
      { match: [{ path: { prefix: 'api' } }] },
      'match[0].path.prefix',
      'must start with "/"',
    ],
    [
      'path regex invalid',
      { match: [{ path: { regex: '[a-' } }] },
      'match[0].path.regex',
      'is not a valid regular expression',
    ],
    ['method lower case', { match: [{ methods: ['get'] }] }, 'match[0].methods[0]', /upper-case HTTP method/],
    [
      'header match no condition',
      { match: [{ headers: [{ name: 'x-a' }] }] },
      'match[0].headers[0]',
      /exactly one of exact, regex, present/,
    ],
    [
      'header match bad name',
      { match: [{ headers: [{ name: 'x a', present: true }] }] },
      'match[0].headers[0].name',
      'is not a valid HTTP header name',
    ],
    [
      'path regex with a lookahead (RE2 has none)',
      { match: [{ path: { regex: '/(?!public).*' } }] },
      'match[0].path.regex',
      /RE2 cannot run .*invalid or unsupported Perl syntax/,
    ],
    [
      'path regex with a backreference',
      { match: [{ path: { regex: '/(a+)/\\1' } }] },
      'match[0].path.regex',
      /RE2 cannot run .*invalid escape sequence/,
    ],
    [
      'header match bad regex',
      { match: [{ headers: [{ name: 'x-a', regex: '(' }] }] },
      'match[0].headers[0].regex',
      'is not a valid regular expression',
    ],
    [
      'header match present not boolean',
      { match: [{ headers: [{ name: 'x-a', present: 'yes' }] }] },
      'match[0].headers[0].present',
      'must be true or false',
    ],
    ['timeout zero', { timeoutMs: 0 }, 'timeoutMs', 'must be at least 1 ms'],
    ['timeout fractional', { timeoutMs: 1.5 }, 'timeoutMs', 'must be whole milliseconds'],
    [
      'timeout overflowing timers',
      { timeoutMs: 3_000_000_000 },
      'timeoutMs',
      'must be at most 2000000000 ms',
    ],
    ['retries too many', { retries: { attempts: 11 } }, 'retries.attempts', 'must be between 0 and 10'],
    ['retryOn unknown', { retries: { retryOn: ['always'] } }, 'retries.retryOn[0]', /must be one of/],
    [
      'per-try timeout above timeout',
      { timeoutMs: 1000, retries: { perTryTimeoutMs: 2000 } },
      'retries.perTryTimeoutMs',
      'must not exceed timeoutMs (1000)',
    ],
    [
      'retriable codes missing',
      { retries: { retryOn: ['retriable-status-codes'] } },
      'retries.retriableStatusCodes',
      /at least one status/,
    ],
    [
      'retriable code out of range',
      { retries: { retriableStatusCodes: [700] } },
      'retries.retriableStatusCodes[0]',
      'must be between 100 and 599',
    ],
    [
      'backoff max below base',
      { retries: { backoff: { baseIntervalMs: 100, maxIntervalMs: 50 } } },
      'retries.backoff.maxIntervalMs',
      'must be at least baseIntervalMs',
    ],
    [
      'fault delay percent over 100',
      { fault: { delay: { fixedDelayMs: 10, percent: 101 } } },
      'fault.delay.percent',
      'must be between 0 and 100',
    ],
    [
      'fault delay without duration',
      { fault: { delay: { percent: 10 } } },
      'fault.delay.fixedDelayMs',
      'is required',
    ],
    [
      'fault abort with success status',
      { fault: { abort: { httpStatus: 200, percent: 1 } } },
      'fault.abort.httpStatus',
      'must be between 400 and 599',
    ],
    ['mirror percent negative', { mirror: { percent: -1 } }, 'mirror.percent', 'must be between 0 and 100'],
    [
      'set hop-by-hop header',
      { headers: { request: { set: { connection: 'close' } } } },
      'headers.request.set.connection',
      /managed by the proxy/,
    ],
    [
      'remove host header',
      { headers: { response: { remove: ['Host'] } } },
      'headers.response.remove[0]',
      /managed by the proxy/,
    ],
    [
      'header value with CRLF',
      { headers: { request: { set: { 'x-a': 'a\r\nb' } } } },
      'headers.request.set["x-a"]',
      'must not contain CR, LF or NUL',
    ],
    ['unknown field in retries', { retries: { tries: 3 } }, 'retries.tries', 'is not a known field'],
  ]);

  it('accepts a regex path with unicode mode semantics', () => {
    expect(
      RouteRuleSpec.safeParse({ name: 'r', service: 's', match: [{ path: { regex: '^/u/\\p{L}+$' } }] })
        .success,
    ).toBe(true);
  });
});

describe('traffic policy', () => {
  table(TrafficPolicySpec, { name: 'p', service: 's' }, [
    ['lb type unknown', { loadBalancer: { type: 'fastest' } }, 'loadBalancer.type', /must be "round_robin"/],
    [
      'ring hash without header',
      { loadBalancer: { type: 'ring_hash' } },
      'loadBalancer.hashHeader',
      'is required',
    ],
    [
      'ring sizes inverted',
      { loadBalancer: { type: 'ring_hash', hashHeader: 'x', minimumRingSize: 100, maximumRingSize: 10 } },
      'loadBalancer.maximumRingSize',
      'must be at least minimumRingSize',
    ],
    [
      'choice count one',
      { loadBalancer: { type: 'least_request', choiceCount: 1 } },
      'loadBalancer.choiceCount',
      'must be between 2 and 10',
    ],
    [
      'option of another balancer',
      { loadBalancer: { type: 'random', choiceCount: 2 } },
      'loadBalancer.choiceCount',
      'is not a known field',
    ],
    [
      'max connections zero',
      { connectionPool: { maxConnections: 0 } },
      'connectionPool.maxConnections',
      'must be between 1 and 10000000',
    ],
    [
      'max requests unbounded',
      { connectionPool: { maxRequests: 1e12 } },
      'connectionPool.maxRequests',
      'must be between 1 and 10000000',
    ],
    [
      'max retries negative',
      { connectionPool: { maxRetries: -1 } },
      'connectionPool.maxRetries',
      'must be between 0 and 10000000',
    ],
    [
      'budget percent over 100',
      { retryBudget: { budgetPercent: 150 } },
      'retryBudget.budgetPercent',
      'must be between 0 and 100',
    ],
    [
      'budget enabled not boolean',
      { retryBudget: { enabled: 'yes' } },
      'retryBudget.enabled',
      'must be true or false',
    ],
    [
      'ejection percent over 100',
      { outlierDetection: { maxEjectionPercent: 101 } },
      'outlierDetection.maxEjectionPercent',
      'must be between 0 and 100',
    ],
    [
      'max ejection below base',
      { outlierDetection: { baseEjectionTimeMs: 1000, maxEjectionTimeMs: 10 } },
      'outlierDetection.maxEjectionTimeMs',
      'must be at least baseEjectionTimeMs',
    ],
    [
      'stdev factor zero',
      { outlierDetection: { successRate: { stdevFactor: 0 } } },
      'outlierDetection.successRate.stdevFactor',
      'must be positive',
    ],
    ['subset with bad label', { subset: { 'bad key': 'v' } }, 'subset["bad key"]', /is invalid/],
  ]);
});

describe('helpers', () => {
  it('formats paths the way operators read them', () => {
    expect(formatPath(['destinations', 0, 'weight'])).toBe('destinations[0].weight');
    expect(formatPath(['labels', 'app.kubernetes.io/name'])).toBe('labels["app.kubernetes.io/name"]');
    expect(formatPath([])).toBe('');
  });

  it('subset keys are canonical and subsets match by label inclusion', () => {
    expect(subsetKey({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(subsetKey({})).toBe('');
    expect(matchesSubset({ version: 'v1', zone: 'a' }, { version: 'v1' })).toBe(true);
    expect(matchesSubset({ version: 'v2' }, { version: 'v1' })).toBe(false);
    expect(matchesSubset({}, {})).toBe(true);
  });
});
