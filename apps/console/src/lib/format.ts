/** Numbers as the console shows them. Rates are fractions (0–1); latencies are milliseconds. */

export function formatRps(rps: number): string {
  if (rps === 0) return '0';
  if (rps < 10) return rps.toFixed(1);
  return Math.round(rps).toLocaleString('en-US');
}

export function formatPercent(fraction: number | null, digits = 1): string {
  if (fraction === null) return '–';
  return `${(fraction * 100).toFixed(digits)} %`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
