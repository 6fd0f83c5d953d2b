/**
 * The built proxy logs with src/logger.ts instead of pino (scripts/build.mjs): its lines must be pino's, which
 * operators' log pipelines and the tests that read a proxy's output parse. Each case logs the same call with both
 * and compares the lines, the time aside.
 */
import { pino as realPino } from 'pino';
import { describe, expect, it } from 'vitest';
import { pino } from '../src/logger.ts';

type LogFn = (...args: unknown[]) => void;
interface Log extends Record<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', LogFn> {
  child(bindings: object): Log;
}
type Call = (log: Log) => void;

function linesOf(make: (sink: { write(line: string): void }) => unknown, call: Call): string[] {
  const lines: string[] = [];
  const log = make({ write: (line) => void lines.push(line) }) as Log;
  call(log);
  return lines.map((line) => line.replace(/"time":\d+/, '"time":0'));
}

function both(options: Parameters<typeof pino>[0], call: Call): { ours: string[]; theirs: string[] } {
  return {
    ours: linesOf((sink) => pino(options, sink), call),
    theirs: linesOf((sink) => realPino(options ?? {}, sink), call),
  };
}

class ConfigError extends Error {
  code = 'E_CONFIG';
  override name = 'ConfigError';
}

// Made once: both loggers must see the same errors (their stacks name the line that made them).
const configError = new ConfigError('bad file');
const typeError = new TypeError('boom');
const rangeError = new RangeError('out of range');
const plainError = new Error('e');
const chained = new Error('outer', { cause: new Error('inner', { cause: new Error('root') }) });
const aggregate = new AggregateError([new Error('a'), new Error('b')], 'all');
const underAnotherKey = new Error('x');

const CASES: [string, Parameters<typeof pino>[0], Call][] = [
  ['a message', { base: { service: 'trellis-proxy' } }, (log) => log.info('trellis-proxy is up')],
  [
    'fields and a message',
    { base: { service: 'trellis-proxy' } },
    (log) =>
      log.info({ revision: 7, listeners: ['a (inbound) 127.0.0.1:1'], nested: { a: [1, null] } }, 'applied'),
  ],
  ['the default base (pid, hostname)', undefined, (log) => log.warn({ n: 1 }, 'x')],
  ['no base', { base: null }, (log) => log.error('plain')],
  [
    'levels below the threshold are left out',
    { level: 'warn', base: {} },
    (log) => {
      log.debug('no');
      log.info('no');
      log.warn('yes');
      log.error('yes');
      log.fatal('yes');
    },
  ],
  [
    'trace and debug when asked',
    { level: 'trace', base: {} },
    (log) => {
      log.trace('t');
      log.debug('d');
    },
  ],
  ['silent', { level: 'silent', base: {} }, (log) => log.fatal('no')],
  [
    'an err field: type, message, stack, own fields',
    { base: { service: 's' } },
    (log) => log.error({ err: configError }, 'cannot read'),
  ],
  ['an err field and no message: the error message', {}, (log) => log.error({ err: typeError })],
  ['an Error alone', { base: {} }, (log) => log.fatal(rangeError)],
  ['an Error and a message', { base: {} }, (log) => log.error(plainError, 'while starting')],
  ['causes', { base: {} }, (log) => log.error({ err: chained })],
  ['an aggregate', { base: {} }, (log) => log.error({ err: aggregate })],
  [
    'an error under another key is what JSON makes of it',
    { base: {} },
    (log) => log.warn({ error: underAnotherKey }, 'm'),
  ],
  [
    'undefined, functions, infinite numbers, strings needing escapes',
    { base: {} },
    (log) =>
      log.info({ u: undefined, f: () => 1, inf: Number.POSITIVE_INFINITY, s: 'a"b\\c\n\u2028' }, 'q"uote'),
  ],
  [
    'a circular object',
    { base: {} },
    (log) => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      log.info({ o }, 'circular');
    },
  ],
  ['printf arguments', { base: {} }, (log) => log.info('%s took %d ms (%j) 100%%', 'apply', 12.5, { a: 1 })],
  ['a child', { base: { service: 's' } }, (log) => log.child({ worker: 2 }).info({ x: 1 }, 'from a child')],
  ['a number as the message', { base: {} }, (log) => log.info(42)],
];

describe('the logger the built proxy runs with', () => {
  for (const [name, options, call] of CASES) {
    it(`writes pino's line: ${name}`, () => {
      const { ours, theirs } = both(options, call);
      expect(ours).toEqual(theirs);
    });
  }

  it('knows its level, as pino does', () => {
    const log = pino({ level: 'warn' }, { write: () => {} });
    expect(log.level).toBe('warn');
    expect(log.isLevelEnabled('error')).toBe(true);
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(() => pino({ level: 'loud' })).toThrow(/unknown level/);
  });
});
