/**
 * GET /api/v1/topology (the live view over the registry) and GET /api/v1/metrics (time series from the stored
 * buckets plus what is not yet written). Queries are validated with the shared schema; bad ones are 400s that
 * name the parameter.
 */
import { API_PREFIX, MetricsQuery, type MetricsSeries, type Topology } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { parseWith } from '../../errors.ts';
import type { TelemetryPipeline } from '../../telemetry/pipeline.ts';
import { metricsSeries, resolveMetricsQuery } from '../../telemetry/query.ts';

export function registerTelemetryRoutes(
  app: FastifyInstance,
  telemetry: TelemetryPipeline,
  clock: () => Date,
) {
  app.get(`${API_PREFIX}/topology`, async (): Promise<Topology> => telemetry.topology());

  app.get(`${API_PREFIX}/metrics`, async (req): Promise<MetricsSeries> => {
    const query = parseWith(MetricsQuery, req.query);
    const resolved = resolveMetricsQuery(query, clock().getTime(), telemetry.store.fineHorizon());
    return metricsSeries(telemetry.store, resolved);
  });
}
