import type { Metadata } from 'next';
import { RouteEditView } from '../../../../features/routes/RouteEditView';

type Params = { params: Promise<{ name: string }> };

export async function generateMetadata({ params }: Params): Promise<Metadata> {
  const { name } = await params;
  return { title: `Edit ${decodeURIComponent(name)} · Route rules · Trellis` };
}

export default async function RouteEditPage({ params }: Params) {
  const { name } = await params;
  return <RouteEditView name={decodeURIComponent(name)} />;
}
