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

/** A valid body with one field replaced, removed, or a pollution key added at the top or one level down. */
export function mutated(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(valid);
  return fc.oneof(
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
    { weight: 1, arbitrary: fc.constantFrom(JSON.stringify(valid), '{', '[]', 'null', '"x"', '{"a":1}}') },
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

/** Checks a property for FUZZ_RUNS runs, from FUZZ_SEED when set. */
export function run<Ts>(property: fc.IAsyncPropertyWithHooks<Ts>): Promise<void> {
  return fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: true });
}
