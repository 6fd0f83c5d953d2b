import type { Metadata } from 'next';
import { AuthzEditView } from '../../../../features/authz/AuthzViews';
import { appliedOf, type SearchParams } from '../../../../features/rules/params';

type Props = { params: Promise<{ name: string }>; searchParams: Promise<SearchParams> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { name } = await params;
  return { title: `${decodeURIComponent(name)} · Authorization · Trellis` };
}

export default async function AuthorizationEditPage({ params, searchParams }: Props) {
  const { name } = await params;
  return <AuthzEditView name={decodeURIComponent(name)} applied={appliedOf(await searchParams)} />;
}
