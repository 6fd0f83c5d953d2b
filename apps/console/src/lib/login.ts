/**
 * Where the browser goes to sign in, and where it may be sent back to afterwards. Shared by the API client (a 401
 * in the browser) and the server's proxy (a page asked for without a session cookie), so both send it the same way.
 */
export const LOGIN_PAGE = '/login';

/** Where a login may send the browser: a path of the console itself (never the login page), else `/`. */
export function safeNext(next: string | null | undefined): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (next === LOGIN_PAGE || next.startsWith(`${LOGIN_PAGE}?`) || next.startsWith(`${LOGIN_PAGE}/`))
    return '/';
  return next;
}

/**
 * The login page's address that leads back to `current` (a path with its query) after signing in. A path that is
 * not the console's own (`//host`, `/\host`) is dropped, so a crafted link cannot send the browser elsewhere.
 */
export function loginPath(current: string): string {
  const next = safeNext(current);
  return next === '/' ? LOGIN_PAGE : `${LOGIN_PAGE}?${new URLSearchParams({ next })}`;
}
