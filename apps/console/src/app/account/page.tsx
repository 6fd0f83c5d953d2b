import type { Metadata } from 'next';
import { PasswordView } from '../../features/auth/PasswordView';

export const metadata: Metadata = { title: 'Your account · Trellis' };

export default function AccountPage() {
  return <PasswordView />;
}
