/**
 * What the history page compares: the configuration at a revision against the current one, resource by resource
 * (services, route rules, traffic policies, authorization policies, matched by name), and for each resource that differs its two JSON
 * documents side by side, line against line, with the lines that differ marked. Pure functions, so the page only
 * renders and the tests need no browser.
 */
import type { MeshConfig } from '@trellis/schema';

export interface Line {
  /** 1-based line number in its document. */
  number: number;
  text: string;
  /** The line is not in the other document at this place. */
  changed: boolean;
}

/** One row of a side-by-side diff; a side is null where the other document has a line the first lacks. */
export interface DiffRow {
  left: Line | null;
  right: Line | null;
}

type Op = { kind: 'same'; a: number; b: number } | { kind: 'del'; a: number } | { kind: 'add'; b: number };

/** The edit script from `a` to `b` along a longest common subsequence of lines. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i * (m + 1) + j]: length of the LCS of a[i..] and b[j..].
  const lcs = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => lcs[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: 'same', a: i++, b: j++ });
    else if (j < m && (i === n || at(i, j + 1) > at(i + 1, j))) ops.push({ kind: 'add', b: j++ });
    else ops.push({ kind: 'del', a: i++ });
  }
  return ops;
}

/**
 * Lines of `left` and `right` aligned for a side-by-side view: common lines face each other; between two of them,
 * the lines only on the left face the lines only on the right, pair by pair, and the surplus of either side faces
 * an empty cell.
 */
export function diffLines(left: readonly string[], right: readonly string[]): DiffRow[] {
  const rows: DiffRow[] = [];
  let dels: number[] = [];
  let adds: number[] = [];
  const flush = () => {
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) {
      const a = dels[k];
      const b = adds[k];
      rows.push({
        left: a === undefined ? null : { number: a + 1, text: left[a] ?? '', changed: true },
        right: b === undefined ? null : { number: b + 1, text: right[b] ?? '', changed: true },
      });
    }
    dels = [];
    adds = [];
  };
  for (const op of editScript(left, right)) {
    if (op.kind === 'del') dels.push(op.a);
    else if (op.kind === 'add') adds.push(op.b);
    else {
      flush();
      rows.push({
        left: { number: op.a + 1, text: left[op.a] ?? '', changed: false },
        right: { number: op.b + 1, text: right[op.b] ?? '', changed: false },
      });
    }
  }
  flush();
  return rows;
}

const META = new Set(['id', 'version', 'createdAt', 'updatedAt']);

/** A resource as the diff shows it: pretty JSON, without the bookkeeping fields (id, version, timestamps). */
export function documentOf(resource: object): string[] {
  const spec = Object.fromEntries(Object.entries(resource).filter(([key]) => !META.has(key)));
  return JSON.stringify(spec, null, 2).split('\n');
}

export type ResourceKind = 'service' | 'route' | 'policy' | 'authorization-policy';

/** Relative to the revision shown: "added" exists now but did not then, "removed" existed then but not now. */
export type ResourceChange = 'added' | 'removed' | 'changed';

export interface ResourceDiff {
  kind: ResourceKind;
  name: string;
  change: ResourceChange;
  rows: DiffRow[];
}

type Field = 'services' | 'routes' | 'policies' | 'authorizationPolicies';

const KINDS: { kind: ResourceKind; field: Field }[] = [
  { kind: 'service', field: 'services' },
  { kind: 'route', field: 'routes' },
  { kind: 'policy', field: 'policies' },
  { kind: 'authorization-policy', field: 'authorizationPolicies' },
];

/** A configuration as compared; one stored before authorization policies existed has none. */
type Compared = Pick<MeshConfig, 'services' | 'routes' | 'policies'> &
  Partial<Pick<MeshConfig, 'authorizationPolicies'>>;

/**
 * Every resource that differs between `then` (the configuration at the revision shown, left) and `now` (the
 * current one, right), services first, then routes, traffic policies and authorization policies, each by name.
 */
export function diffConfigs(then: Compared, now: Compared): ResourceDiff[] {
  const out: ResourceDiff[] = [];
  for (const { kind, field } of KINDS) {
    const before = new Map<string, object>((then[field] ?? []).map((r) => [r.name, r]));
    const after = new Map<string, object>((now[field] ?? []).map((r) => [r.name, r]));
    const names = [...new Set([...before.keys(), ...after.keys()])].sort();
    for (const name of names) {
      const a = before.get(name);
      const b = after.get(name);
      const left = a ? documentOf(a) : [];
      const right = b ? documentOf(b) : [];
      if (a && b && left.join('\n') === right.join('\n')) continue;
      out.push({
        kind,
        name,
        change: !a ? 'added' : !b ? 'removed' : 'changed',
        rows: diffLines(left, right),
      });
    }
  }
  return out;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function relativeTime(iso: string, now: number): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}
