import { ApiError } from './api';

/**
 * What a page shows when the control plane cannot be read; the queries keep retrying, so it goes away by itself.
 * A refusal for the role says so plainly (the role cannot change by retrying); a 401 is on its way to the login page.
 */
export function ErrorBanner({ error }: { error: Error }) {
  if (error instanceof ApiError && error.status === 403) {
    return (
      <div role="alert" className="banner" data-testid="forbidden">
        Your role may not do this. {error.message}
      </div>
    );
  }
  if (error instanceof ApiError && error.status === 401) {
    return (
      <div role="alert" className="banner" data-testid="error-banner">
        You are not signed in; going to the login page…
      </div>
    );
  }
  const unreachable = error instanceof ApiError && (error.status === 0 || error.status >= 500);
  return (
    <div role="alert" className="banner" data-testid="error-banner">
      {unreachable ? 'The control plane is unreachable; retrying. ' : ''}
      {error.message}
    </div>
  );
}
