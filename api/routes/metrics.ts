/**
 * `GET /metrics`: the service's Prometheus metrics as text (api/metrics.ts). No auth, so that a
 * scraper needs no API key: expose the port only on a private network, or scrape through one.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../metrics.ts';

export function registerMetricsRoute(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['Operations'], security: [] } },
    async (_request, reply) => {
      const text = await metrics.scrape();
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text);
    },
  );
}
