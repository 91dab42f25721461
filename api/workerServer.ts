/**
 * The HTTP listener of a ROLE=worker process, on WORKER_PORT: `/metrics` (the same registry and
 * names as the api's, api/metrics.ts, with the job metrics only a worker has) and `/health/live`,
 * `/health/ready` (api/routes/health.ts, `workers` meaning this process's own). No auth and no
 * other route: expose it only where the scraper and the orchestrator are.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { QueueStore } from '../worker/jobs/queueStore.ts';
import type { Orm } from '../worker/store/orm.ts';
import type { ServiceMetrics } from './metrics.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoute } from './routes/metrics.ts';

export interface WorkerServerDeps {
  orm: Orm;
  queueStore: QueueStore;
  workers: { isRunning(): boolean };
  metrics: ServiceMetrics;
  logger: Logger;
}

export function buildWorkerServer(deps: WorkerServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  registerHealthRoutes(app, { orm: deps.orm, queueStore: deps.queueStore, workers: deps.workers });
  registerMetricsRoute(app, deps.metrics);
  return app;
}
