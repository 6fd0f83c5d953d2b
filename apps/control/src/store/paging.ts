/** Keyset pagination: an opaque cursor holding the sort key of the last item of the previous page. */
import type { Page } from '@trellis/schema';
import { TrellisError } from '../errors.ts';

export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<K extends 'string' | 'number'>(
  cursor: string | undefined,
  kind: K,
): (K extends 'string' ? string : number) | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof key === kind) return key as K extends 'string' ? string : number;
  } catch {}
  throw new TrellisError('TRELLIS_ERR_VALIDATION', 'cursor: is not a cursor this API returned', {
    errors: [{ path: 'cursor', message: 'is not a cursor this API returned' }],
  });
}

/** Turns `limit + 1` fetched rows into a page and the cursor for the next one. */
export function paginate<T>(rows: T[], limit: number, keyOf: (item: T) => string | number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
