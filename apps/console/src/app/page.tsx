import { TopologyView } from '../features/topology/TopologyView';

export default function TopologyPage() {
  return <TopologyView />;
}
