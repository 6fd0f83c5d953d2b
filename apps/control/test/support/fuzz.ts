/**
 * What the fuzz tests send (fast-check arbitraries): strings operators and attackers actually send, any JSON
 * value with deep nesting and prototype-pollution keys, valid bodies with one field mutated. Runs are bounded
 * (FUZZ_RUNS per property, default 60) and seeded (FUZZ_SEED; fast-check prints the seed of a failure) so that a
 * failure can be replayed.
 */
import fc from 'fast-check';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** Each fuzz test's time limit, grown with the number of runs. */
export const FUZZ_TIMEOUT_MS = Math.max(30_000, RUNS * 1000);

/** Strings operators and attackers actually send: unicode edge cases, control characters, huge ones. */
export const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    'x\ud83d',
    '\u202eevil',
    'e\u0301',
    '👩‍👩‍👧‍👦',
    '𝕋𝕣𝕖𝕝𝕝𝕚𝕤',
    '../../etc/passwd',
    '%00',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a log-injection probe, sent as text on purpose
    '${jndi:ldap://x}',
    '\'; DROP TABLE "Service"; --',
    '__proto__',
    'constructor',
    'prototype',
    'a'.repeat(300),
    'b'.repeat(70_000),
  ),
);

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Any JSON value, including deep nesting and pollution keys. */
export const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, 65_536, 1.5),
    nastyString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom(...POLLUTION_KEYS)), tie('value'), {
      maxKeys: 5,
    }),
  ),
})).value;

export const deepNesting = fc.integer({ min: 100, max: 5000 }).map((depth) => {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
});

/** The paths to every value inside `value` (objects and arrays), the empty path excluded. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...at, k], ...paths(v, [...at, k])]);
}

/** A deep copy of `value` with the value at `path` replaced. */
function replaced(value: unknown, path: (string | number)[], by: unknown): unknown {
  if (path.length === 0) return by;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<
    string | number,
    unknown
  >;
  copy[head] = replaced(copy[head], rest, by);
  return copy;
}

/**
 * A valid body with one field replaced (at any depth), removed, or a pollution key added at the top or one level
 * down.
 */
export function mutated(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(valid);
  return fc.oneof(
    fc
      .record({ path: fc.constantFrom(...paths(valid)), value: fc.oneof(anyJson, nastyString) })
      .map(({ path, value }) => JSON.stringify(replaced(valid, path, value))),
    fc
      .record({ key: fc.constantFrom(...keys), value: anyJson })
      .map(({ key, value }) => JSON.stringify({ ...valid, [key]: value })),
    fc.constantFrom(...keys).map((key) => {
      const { [key]: _dropped, ...rest } = valid;
      return JSON.stringify(rest);
    }),
    fc
      .record({ key: fc.constantFrom(...POLLUTION_KEYS), value: anyJson, nested: fc.boolean() })
      .map(({ key, value, nested }) => {
        // Written as text: an object literal with "__proto__" would set the prototype, not a key.
        const inner = `"${key}":${JSON.stringify(value ?? { admin: true })}`;
        const body = JSON.stringify(valid);
        if (!nested) return `{${inner},${body.slice(1)}`;
        return body.replace(/^\{"(\w+)":/, `{"labels":{${inner}},"$1":`);
      }),
    fc
      .record({ key: fc.constantFrom(...keys), value: nastyString })
      .map(({ key, value }) => JSON.stringify({ ...valid, [key]: value })),
  );
}

export function bodyFor(valid: Record<string, unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: mutated(valid) },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: deepNesting },
    {
      weight: 1,
      arbitrary: fc.constantFrom(JSON.stringify(valid), '', '{', '[]', 'null', '"x"', '{"a":1}}'),
    },
  );
}

/** Percent-encodes any string; lone surrogates become their (invalid UTF-8) WTF-8 bytes, a case worth sending. */
export function pct(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/** Query strings a URLSearchParams would never write: repeated keys, brackets, broken percent-encoding. */
export const rawQuery = fc.constantFrom(
  '?limit=1&limit=2',
  '?cursor=a&cursor=b&kind=config&kind=endpoints',
  '?limit[]=1',
  '?__proto__[admin]=1',
  '?constructor[prototype][admin]=1',
  '?limit=%ZZ',
  '?cursor=%E0%A4%A',
  '?cursor=%C0%AF',
  '?scope',
  '?=1',
  '?&&&',
  `?limit=${'9'.repeat(5000)}`,
);

/** Header values a client can actually send (visible ASCII), random and hostile. */
export const headerValue = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e]{0,80}$/),
  fc.constantFrom('', 'x', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Bearer ${'t'.repeat(4096)}`),
);

/**
 * Checks a property for FUZZ_RUNS runs (or `share` of them, at least 10, for properties whose every run costs a
 * password hash), from FUZZ_SEED when set.
 */
export function run<Ts>(property: fc.IAsyncPropertyWithHooks<Ts>, share = 1): Promise<void> {
  const numRuns = share === 1 ? RUNS : Math.max(10, Math.ceil(RUNS * share));
  return fc.assert(property, { numRuns, seed: SEED, endOnFailure: true });
}
