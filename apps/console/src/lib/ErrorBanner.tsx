'use client';

import { useQueryClient } from '@tanstack/react-query';
import { ApiError, isUnreachable } from './api';

/**
 * What a page shows when the control plane cannot be read. When it cannot be reached or does not answer, a Retry
 * button reads everything on the page again (pages that poll also recover by themselves). A refusal for the role
 * says so plainly (the role cannot change by retrying); a 401 is on its way to the login page.
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
  if (isUnreachable(error)) return <Unreachable error={error} />;
  return (
    <div role="alert" className="banner" data-testid="error-banner">
      {error.message}
    </div>
  );
}

function Unreachable({ error }: { error: Error }) {
  const client = useQueryClient();
  return (
    <div role="alert" className="banner" data-testid="error-banner">
      The control plane is unreachable: {error.message}.{' '}
      <button type="button" className="button" onClick={() => void client.refetchQueries({ type: 'active' })}>
        Retry
      </button>
    </div>
  );
}
