import { ApiError } from './api';

/** What a page shows when the control plane cannot be read; the queries keep retrying, so it goes away by itself. */
export function ErrorBanner({ error }: { error: Error }) {
  const unreachable = error instanceof ApiError && (error.status === 0 || error.status >= 500);
  return (
    <div role="alert" className="banner" data-testid="error-banner">
      {unreachable ? 'The control plane is unreachable; retrying. ' : ''}
      {error.message}
    </div>
  );
}
