'use client';

/**
 * The panel that opens beside the graph for a selected service or edge. Focus moves into it when it opens (so a
 * keyboard or screen-reader user lands on what they picked) and goes back where it was when it closes; Escape or
 * the close button closes it.
 */
import { type ReactNode, useEffect, useRef } from 'react';

export function SidePanel({
  label,
  title,
  onClose,
  testId,
  children,
}: {
  /** The panel's accessible name, like "Service service-c". */
  label: string;
  title: ReactNode;
  onClose: () => void;
  testId: string;
  children: ReactNode;
}) {
  const ref = useRef<HTMLElement>(null);

  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    ref.current?.focus();
    return () => {
      if (before?.isConnected) before.focus({ preventScroll: true });
    };
  }, []);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);

  return (
    <aside ref={ref} className="side-panel" aria-label={label} tabIndex={-1} data-testid={testId}>
      <header className="side-panel-header">
        <h2>{title}</h2>
        <button type="button" className="button close" aria-label="Close panel" onClick={onClose}>
          ×
        </button>
      </header>
      {children}
    </aside>
  );
}

export function PanelStat({ label, value, testId }: { label: string; value: ReactNode; testId: string }) {
  return (
    <div className="panel-stat">
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}
