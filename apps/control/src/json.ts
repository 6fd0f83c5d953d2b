/**
 * The one way the control plane reads JSON from outside (REST bodies, proxy stream messages). Nesting is limited
 * before JSON.parse builds anything: a deeply nested value costs whatever walks it later (validation, the storable
 * check, logging) time or stack in proportion to its depth, and no Trellis document nests more than a few levels.
 * The limit is found by one pass over the text, so a body of any size costs time linear in its length; keys
 * `__proto__` and `constructor.prototype` are refused, since they would set prototypes where the value is spread.
 */
import secureJson from 'secure-json-parse';
import { TrellisError } from './errors.ts';

/** Default deepest nesting of arrays and objects accepted (TRELLIS_JSON_MAX_DEPTH). */
export const DEFAULT_JSON_MAX_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const BYTE_ORDER_MARK = 0xfeff;
/** `safe`: scan answers null instead of throwing, so a refusal is told apart from a syntax error by where. */
const POLLUTION = { protoAction: 'error', constructorAction: 'error', safe: true } as const;

/**
 * Whether `text` opens more than `maxDepth` arrays and objects inside one another; brackets inside strings do not
 * count. Text that is not JSON gives some answer either way: JSON.parse refuses it next.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      if (depth > maxDepth) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/**
 * Parses JSON text from a client. Throws TRELLIS_ERR_TOO_DEEP when it nests deeper than `maxDepth`, and
 * TRELLIS_ERR_MALFORMED_JSON when it is not JSON or carries a prototype-polluting key.
 */
export function parseJsonText(text: string, maxDepth: number = DEFAULT_JSON_MAX_DEPTH): unknown {
  if (nestsDeeperThan(text, maxDepth)) {
    throw new TrellisError(
      'TRELLIS_ERR_TOO_DEEP',
      `arrays and objects are nested more than ${maxDepth} levels deep; the limit is ${maxDepth}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text);
  } catch (error) {
    throw new TrellisError('TRELLIS_ERR_MALFORMED_JSON', `not valid JSON: ${(error as Error).message}`);
  }
  if (value !== null && typeof value === 'object' && secureJson.scan(value, POLLUTION) === null) {
    throw new TrellisError(
      'TRELLIS_ERR_MALFORMED_JSON',
      'the keys "__proto__" and "constructor.prototype" are not allowed',
    );
  }
  return value;
}
