/**
 * The header row of the console's tables, so each list names its columns the same way: numeric columns are
 * right-aligned like their cells, and a trailing column of row actions is named for screen readers only.
 */
export type Column = string | { label: string; num: true };

/** A numeric column. */
export const num = (label: string): Column => ({ label, num: true });

export function TableHead({ columns, actions = false }: { columns: readonly Column[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) =>
          typeof c === 'string' ? (
            <th key={c} scope="col">
              {c}
            </th>
          ) : (
            <th key={c.label} scope="col" className="num">
              {c.label}
            </th>
          ),
        )}
        {actions ? (
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}
