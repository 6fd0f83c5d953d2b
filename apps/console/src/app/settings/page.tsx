import type { Metadata } from 'next';
import { MeshSettingsView } from '../../features/settings/MeshSettingsView';

export const metadata: Metadata = { title: 'Mesh settings · Trellis' };

export default function Page() {
  return <MeshSettingsView />;
}
