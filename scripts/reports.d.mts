export interface ReportFailure {
  where: string;
  name: string;
  error: string;
}
export interface ReportSummary {
  passed: number;
  failed: number;
  skipped: number;
  files: number;
  failures: ReportFailure[];
}
export function readReport(kind: 'vitest' | 'playwright', json: unknown, root: string): ReportSummary;
