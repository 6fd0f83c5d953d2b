'use client';

import type { Me } from '@trellis/schema';
/**
 * Who is signed in, for every component: the identity `GET /api/v1/auth/me` gives (read once per page load, and
 * again after a login), and what its role allows. Buttons that change something ask `useCan` and are not shown to a
 * role the API would refuse; the API's own check stays the one that counts.
 */
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { createContext, type ReactNode, useContext, useMemo } from 'react';
import { LOGIN_PAGE } from '../../lib/api';
import { allowed, type Capability } from './form';
import { useMe } from './queries';

export interface Session {
  me: Me | undefined;
  /** `me` is being read. */
  pending: boolean;
  error: Error | null;
  can: (what: Capability) => boolean;
}

const SessionContext = createContext<Session>({
  me: undefined,
  pending: true,
  error: null,
  can: () => false,
});

export function SessionProvider({ children }: { children: ReactNode }) {
  const onLoginPage = usePathname() === LOGIN_PAGE;
  const me = useMe(!onLoginPage);
  const data = onLoginPage ? undefined : me.data;
  const session = useMemo<Session>(
    () => ({
      me: data,
      pending: !onLoginPage && me.isPending,
      error: me.error,
      can: (what) => allowed(data?.role, what),
    }),
    [data, onLoginPage, me.isPending, me.error],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  return useContext(SessionContext);
}

/** Whether the signed-in role may do `what` (false while it is not known). */
export function useCan(what: Capability): boolean {
  return useSession().can(what);
}

/** `children` for a role that may do `what`; `otherwise` (default nothing) for the others. */
export function IfAllowed({
  what,
  children,
  otherwise = null,
}: {
  what: Capability;
  children: ReactNode;
  otherwise?: ReactNode;
}) {
  return useCan(what) ? children : otherwise;
}

/** A "New …" link under a list, for the roles that may create what it lists. */
export function NewLink({ href, children }: { href: string; children: ReactNode }) {
  return (
    <IfAllowed what="edit">
      <p className="small">
        <Link href={href}>{children}</Link>
      </p>
    </IfAllowed>
  );
}

/** The note a read-only page shows a role that may not change it. */
export function ReadOnlyNote({ what }: { what: string }) {
  const { me } = useSession();
  if (!me) return null;
  return (
    <p className="banner note" data-testid="read-only-note">
      You are signed in as {me.username ?? me.tokenName} with the {me.role} role: you can read {what} but not
      change it.
    </p>
  );
}
