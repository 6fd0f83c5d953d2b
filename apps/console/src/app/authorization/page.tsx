import type { Metadata } from 'next';
import { AuthzListView } from '../../features/authz/AuthzViews';

export const metadata: Metadata = { title: 'Authorization · Trellis' };

export default function AuthorizationPage() {
  return <AuthzListView />;
}
