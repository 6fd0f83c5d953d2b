/** How the CLI prints: aligned tables like kubectl's, YAML and JSON, and short ages ("5m", "3h"). */
import { stringify } from 'yaml';

/** Columns separated by three spaces, each as wide as its widest cell; headers upper-case. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return `${[line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n')}\n`;
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Several documents as one multi-document YAML stream. */
export function toYamlDocuments(values: readonly unknown[]): string {
  return values.map(toYaml).join('---\n');
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '<none>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/** `k1=v1,k2=v2`, or `<all>` / `<none>` for an empty set as the context needs. */
export function labelsText(labels: Record<string, string> | undefined, empty = '<none>'): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? empty : entries.map(([k, v]) => `${k}=${v}`).join(',');
}
