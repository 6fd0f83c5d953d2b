/**
 * The console server's front door, for every request but its static files:
 * - `/api/v1/...` is rewritten to the control plane (TRELLIS_CONSOLE_CONTROL_URL, read when the server runs), so
 *   the browser needs no CORS and no second address, and the control plane's session cookie is the console's. The
 *   browser's address goes with it as X-Forwarded-For (see forwardedHeaders), so that the control plane limits
 *   failed logins per browser rather than per console.
 * - A page asked for without the session cookie is sent to the login page (and back afterwards), before anything
 *   renders; a cookie of an ended session is found out by the page's first API call (a 401, same redirect).
 * - Every page gets its Content-Security-Policy with a fresh nonce (src/security.ts), which Next reads from the
 *   request's own CSP header and puts on its scripts.
 */
import { SESSION_COOKIE } from '@trellis/schema';
import { type NextRequest, NextResponse } from 'next/server';
import { consoleConfig } from './config';
import { LOGIN_PAGE, loginPath } from './lib/login';
import { contentSecurityPolicy, newNonce } from './security';

/** The browser's address as the console's server saw its socket (scripts/serve.mjs sets it on every request). */
export const CLIENT_ADDRESS_HEADER = 'x-trellis-client-address';

/**
 * The headers an API call is sent to the control plane with: X-Forwarded-For is the address the console's server
 * stamped, never one the browser sent; without a stamp (`next dev`) none is sent, and the control plane sees the
 * console's own address.
 */
export function forwardedHeaders(incoming: Headers): Headers {
  const headers = new Headers(incoming);
  const client = headers.get(CLIENT_ADDRESS_HEADER);
  headers.delete(CLIENT_ADDRESS_HEADER);
  if (client) headers.set('x-forwarded-for', client);
  else headers.delete('x-forwarded-for');
  return headers;
}

export function proxy(request: NextRequest) {
  const { pathname, search } = request.nextUrl;
  if (pathname === '/api/v1' || pathname.startsWith('/api/v1/')) {
    return NextResponse.rewrite(new URL(`${consoleConfig().controlUrl}${pathname}${search}`), {
      request: { headers: forwardedHeaders(request.headers) },
    });
  }
  if (pathname !== LOGIN_PAGE && !request.cookies.has(SESSION_COOKIE)) {
    return NextResponse.redirect(new URL(loginPath(`${pathname}${search}`), request.url));
  }
  const csp = contentSecurityPolicy(newNonce(), process.env.NODE_ENV === 'development');
  const headers = new Headers(request.headers);
  headers.set('content-security-policy', csp);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set('content-security-policy', csp);
  return response;
}

export const config = {
  matcher: ['/api/v1/:path*', '/((?!_next/static|_next/image|favicon.ico|icon.svg).*)'],
};
