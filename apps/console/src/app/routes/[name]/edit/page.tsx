import type { Metadata } from 'next';
import { RouteEditView } from '../../../../features/routes/RouteEditView';
import { appliedOf, openedFrom, type SearchParams } from '../../../../features/rules/params';

type Props = { params: Promise<{ name: string }>; searchParams: Promise<SearchParams> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { name } = await params;
  return { title: `Edit ${decodeURIComponent(name)} · Route rules · Trellis` };
}

export default async function RouteEditPage({ params, searchParams }: Props) {
  const { name } = await params;
  const query = await searchParams;
  return <RouteEditView name={decodeURIComponent(name)} applied={appliedOf(query)} {...openedFrom(query)} />;
}
