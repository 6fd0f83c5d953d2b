/**
 * Unified diffs of two texts, line by line (longest common subsequence; manifests are a few hundred lines at
 * most), with three lines of context like `diff -u`, colored only when asked (on a terminal).
 */

type Op = { type: ' ' | '-' | '+'; line: string };

function lines(text: string): string[] {
  if (text === '') return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

function operations(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as number[];
    const below = lcs[i + 1] as number[];
    for (let j = m - 1; j >= 0; j--) {
      row[j] =
        a[i] === b[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ type: ' ', line: a[i] as string });
      i++;
      j++;
    } else if (i < n && (j >= m || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      ops.push({ type: '-', line: a[i] as string });
      i++;
    } else {
      ops.push({ type: '+', line: b[j] as string });
      j++;
    }
  }
  return ops;
}

const COLORS = { '-': '\x1b[31m', '+': '\x1b[32m', '@': '\x1b[36m', header: '\x1b[1m', reset: '\x1b[0m' };

/** The unified diff of `before` and `after`, or '' when they are equal. */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { before: string; after: string },
  options: { color?: boolean; context?: number } = {},
): string {
  const context = options.context ?? 3;
  const a = lines(before);
  const b = lines(after);
  const ops = operations(a, b);
  if (ops.every((op) => op.type === ' ')) return '';
  const paint = (color: string, text: string) => (options.color ? `${color}${text}${COLORS.reset}` : text);

  const out = [paint(COLORS.header, `--- ${labels.before}`), paint(COLORS.header, `+++ ${labels.after}`)];
  // Positions (in ops) of changes, grouped into hunks whose context overlaps.
  const changed = ops.flatMap((op, k) => (op.type === ' ' ? [] : [k]));
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && (changed[end + 1] as number) - (changed[end] as number) <= 2 * context)
      end++;
    const from = Math.max(0, (changed[start] as number) - context);
    const to = Math.min(ops.length - 1, (changed[end] as number) + context);
    let aStart = 0;
    let bStart = 0;
    for (let k = 0; k < from; k++) {
      if (ops[k]?.type !== '+') aStart++;
      if (ops[k]?.type !== '-') bStart++;
    }
    const hunk = ops.slice(from, to + 1);
    const aLen = hunk.filter((op) => op.type !== '+').length;
    const bLen = hunk.filter((op) => op.type !== '-').length;
    const range = (s: number, len: number) => `${len === 0 ? s : s + 1},${len}`;
    out.push(paint(COLORS['@'], `@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@`));
    for (const op of hunk) {
      const text = `${op.type}${op.line}`;
      out.push(op.type === ' ' ? text : paint(COLORS[op.type], text));
    }
    start = end + 1;
  }
  return `${out.join('\n')}\n`;
}
