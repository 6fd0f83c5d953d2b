'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import type { Capability } from '../features/auth/form';
import { useSession } from '../features/auth/session';

const LINKS: { href: string; label: string; needs: Capability }[] = [
  { href: '/', label: 'Topology', needs: 'read' },
  { href: '/services', label: 'Services', needs: 'read' },
  { href: '/authorization', label: 'Authorization', needs: 'read' },
  { href: '/proxies', label: 'Proxies', needs: 'read' },
  { href: '/history', label: 'History', needs: 'read' },
  { href: '/settings', label: 'Mesh settings', needs: 'read' },
  { href: '/admin/users', label: 'Users', needs: 'admin' },
  { href: '/admin/tokens', label: 'API tokens', needs: 'admin' },
  { href: '/admin/join-tokens', label: 'Join tokens', needs: 'admin' },
];

/** The main navigation: the pages the signed-in role may open (none before signing in). */
export function Nav() {
  const pathname = usePathname();
  const { can } = useSession();
  return (
    <nav aria-label="Main" className="nav">
      <span className="brand">Trellis</span>
      {LINKS.filter((l) => can(l.needs)).map((l) => (
        <Link key={l.href} href={l.href} aria-current={pathname === l.href ? 'page' : undefined}>
          {l.label}
        </Link>
      ))}
      {/* The control plane's OpenAPI reference, reached through the console's /api/v1 forwarding: a plain link,
          since it is not a page of this app. */}
      {can('read') ? <a href="/api/v1/docs">API reference</a> : null}
    </nav>
  );
}
