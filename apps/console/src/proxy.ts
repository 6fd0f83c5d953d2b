/**
 * The console's REST calls go to its own origin, `/api/v1/...`, and are rewritten here to the control plane
 * (TRELLIS_CONSOLE_CONTROL_URL, read when the server runs), so the browser needs no CORS and no second address.
 */
import { type NextRequest, NextResponse } from 'next/server';
import { consoleConfig } from './config';

export function proxy(request: NextRequest) {
  const { pathname, search } = request.nextUrl;
  return NextResponse.rewrite(new URL(`${consoleConfig().controlUrl}${pathname}${search}`));
}

export const config = { matcher: '/api/v1/:path*' };
