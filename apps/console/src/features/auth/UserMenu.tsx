'use client';

/**
 * The header's user menu: who is signed in and with which role, the password change and the logout. The logout
 * ends the session on the control plane, drops everything cached and leaves for the login page.
 */
import { useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { LOGIN_PAGE } from '../../lib/api';
import { ROLE_TEXT } from './form';
import { logout } from './queries';
import { useSession } from './session';

export function UserMenu() {
  const { me } = useSession();
  const client = useQueryClient();
  const [leaving, setLeaving] = useState(false);
  const menu = useRef<HTMLDetailsElement>(null);
  const pathname = usePathname();
  // A page opened from the menu closes it; the menu lives in the layout, which stays.
  useEffect(() => {
    if (menu.current && pathname) menu.current.open = false;
  }, [pathname]);
  if (!me) return null;
  const name = me.username ?? me.tokenName ?? 'token';
  const signOut = async () => {
    setLeaving(true);
    try {
      await logout();
    } catch {
      // the session may be gone already; the login page is where to go either way
    }
    client.clear();
    window.location.assign(LOGIN_PAGE);
  };
  return (
    <details ref={menu} className="user-menu" data-testid="user-menu">
      <summary aria-label={`User menu: ${name}, ${me.role}`}>
        <span data-testid="user-name">{name}</span>{' '}
        <span className={`badge role-${me.role}`} data-testid="user-role">
          {me.role}
        </span>
      </summary>
      <div className="user-menu-body panel">
        <p className="small muted">{ROLE_TEXT[me.role]}</p>
        {me.kind === 'session' ? <Link href="/account">Change password</Link> : null}
        <button type="button" className="button" onClick={signOut} disabled={leaving}>
          {leaving ? 'Signing out…' : 'Sign out'}
        </button>
      </div>
    </details>
  );
}
