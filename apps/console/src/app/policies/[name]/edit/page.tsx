import type { Metadata } from 'next';
import { PolicyEditView } from '../../../../features/policies/PolicyEditView';
import { appliedOf, openedFrom, type SearchParams } from '../../../../features/rules/params';

type Props = { params: Promise<{ name: string }>; searchParams: Promise<SearchParams> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { name } = await params;
  return { title: `Edit ${decodeURIComponent(name)} · Traffic policies · Trellis` };
}

export default async function PolicyEditPage({ params, searchParams }: Props) {
  const { name } = await params;
  const query = await searchParams;
  return <PolicyEditView name={decodeURIComponent(name)} applied={appliedOf(query)} {...openedFrom(query)} />;
}
