import type { Metadata } from 'next';
import { AuthzCreateView } from '../../../features/authz/AuthzViews';
import { param, type SearchParams } from '../../../features/rules/params';

export const metadata: Metadata = { title: 'New authorization policy · Trellis' };

export default async function NewAuthorizationPage({
  searchParams,
}: {
  searchParams: Promise<SearchParams>;
}) {
  const query = await searchParams;
  const action = param(query, 'action');
  return (
    <AuthzCreateView
      destination={param(query, 'destination')}
      source={param(query, 'source')}
      action={action === 'allow' || action === 'deny' ? action : undefined}
    />
  );
}
