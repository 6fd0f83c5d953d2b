import type { Metadata } from 'next';
import { UsersView } from '../../../features/admin/AdminViews';

export const metadata: Metadata = { title: 'Users · Trellis' };

export default function Page() {
  return <UsersView />;
}
