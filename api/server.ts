/**
 * The HTTP edge. `buildServer(deps)` assembles Fastify with Orb's conventions (Bearer auth,
 * exact-number JSON, RFC 7807 errors) and every route; tests build it against real Postgres and
 * Redis with their own database and queue prefix.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import type { Duration } from 'luxon';
import type { Logger } from 'pino';
import { ManualClock, type Clock } from '../worker/runtime/clock.ts';
import type { PartitionQueues } from '../worker/jobs/queues.ts';
import type { Orm } from '../worker/store/orm.ts';
import { registerBearerAuth } from './auth.ts';
import {
  DASHBOARD_PATH,
  registerAdminDashboard,
  type DashboardOptions,
} from './routes/adminDashboard.ts';
import { WEBHOOKS_PAGE_PATH } from './routes/adminWebhooks.ts';
import { CustomerResolver } from './customerResolver.ts';
import { registerErrorHandlers } from './errors.ts';
import { sendFrameworkProblem } from './frameworkProblem.ts';
import { BacklogGate } from './intake/backlogGate.ts';
import type { OutcomeWaiter } from './intake/outcomeWaiter.ts';
import { DeferredEnqueues } from './intake/deferredEnqueues.ts';
import { UsageCoalescer } from './intake/usageCoalescer.ts';
import { registerJsonBodyParser } from './jsonBody.ts';
import { registerNulGuard } from './nulGuard.ts';
import { registerOpenApi } from './openApi.ts';
import type { ServiceMetrics } from './metrics.ts';
import { registerAlertRoutes } from './routes/alerts.ts';
import { registerBalanceTransactionRoutes } from './routes/balanceTransactions.ts';
import { registerCreditBlockRoutes } from './routes/creditBlocks.ts';
import { registerCreditRoutes } from './routes/credits.ts';
import { registerCustomerRoutes } from './routes/customers.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerFailedJobRoutes } from './routes/failedJobs.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerLedgerRoutes } from './routes/ledger.ts';
import { registerLedgerEntryRoutes } from './routes/ledgerEntries.ts';
import { registerLedgerRequestRoutes } from './routes/ledgerRequests.ts';
import { registerIngestRoute } from './routes/ingest.ts';
import { registerInvoiceRoutes } from './routes/invoices.ts';
import { registerMetricsRoute } from './routes/metrics.ts';
import { registerPingRoute } from './routes/ping.ts';
import { registerTestClockRoutes, type CatchUp } from './routes/testClock.ts';
import { registerTopUpRoutes } from './routes/topUps.ts';
import { registerUsagePriceRoutes } from './routes/usagePrices.ts';
import { registerWebhookEndpointRoutes } from './routes/webhookEndpoints.ts';
import { registerWebhookEventRoutes } from './routes/webhookEvents.ts';
import type { OutboxWriter } from '../worker/jobs/webhookEvents.ts';
import { wireSerializerCompiler } from './wire/serializer.ts';
import type { QueueStore } from '../worker/jobs/queueStore.ts';

/** Orb's bodies are small; 1 MiB leaves room for large ingest batches later. */
const BODY_BYTES_MAX = 1_048_576;
/** For orchestrators and scrapers, which carry no API key (README "Operating"). */
/** Routes without an API key; the dashboard has its own basic auth. */
const PUBLIC_PATHS = [
  '/health/live',
  '/health/ready',
  '/metrics',
  '/openapi.json',
  '/docs',
  DASHBOARD_PATH,
  WEBHOOKS_PAGE_PATH,
];

export interface ServerDeps {
  orm: Orm;
  queues: PartitionQueues;
  waiter: OutcomeWaiter;
  clock: Clock;
  logger: Logger;
  apiKeys: readonly string[];
  partitions: number;
  syncWaitMs: number;
  gracePeriod: Duration;
  /** What the test clock runs after moving time (the sweeps, wired by scripts/service.ts). */
  catchUp: CatchUp;
  queueStore: QueueStore;
  /** The workers of this process, for readiness; undefined when it runs none (ROLE=api). */
  workers: { isRunning(): boolean } | undefined;
  metrics: ServiceMetrics;
  /** BACKLOG_MAX: waiting jobs on a partition at which intake answers 429. */
  backlogMax: number;
  /** Where webhook events are written, and whether endpoints may be private (worker/delivery/). */
  webhooks: { outbox: OutboxWriter; allowPrivateNetworks: boolean };
  /** The queue dashboard: off without both credentials. */
  dashboard?: Omit<DashboardOptions, 'queues' | 'orm' | 'clock'>;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_BYTES_MAX,
    // Per-request log lines would dominate a busy ledger's logs; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    routerOptions: { ignoreTrailingSlash: true },
    // Routing failures (bad percent-encoding, over-long ids) answer RFC 7807 bodies too.
    frameworkErrors: sendFrameworkProblem,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document the wire shapes (api/wire/*); bodies are written by JSON.stringify.
  app.setSerializerCompiler(wireSerializerCompiler);
  registerJsonBodyParser(app);
  registerErrorHandlers(app);
  // Before any route: it collects the routes as they are added.
  await registerOpenApi(app);
  registerBearerAuth(app, deps.apiKeys, PUBLIC_PATHS);
  registerNulGuard(app);
  deps.metrics.registerHttpTiming(app);
  const backlog = new BacklogGate(deps.queues, deps.backlogMax, deps.metrics);
  const customers = new CustomerResolver(deps.orm);
  // Writes accepted while Redis is unreachable wait here for it (api/intake/deferredEnqueues.ts).
  const deferred = new DeferredEnqueues(deps.queues, deps.logger);
  const intake = {
    orm: deps.orm,
    queues: deps.queues,
    waiter: deps.waiter,
    clock: deps.clock,
    partitions: deps.partitions,
    syncWaitMs: deps.syncWaitMs,
    backlog,
    deferred,
  };
  const coalescer = new UsageCoalescer(deps.queues, deferred);
  // Buffered usage is flushed to the queues before the queues close: nothing accepted is dropped.
  app.addHook('onClose', () =>
    Promise.all([coalescer.close(), deferred.close()]).then(() => undefined),
  );
  const usage = {
    orm: deps.orm,
    clock: deps.clock,
    customers,
    coalescer,
    partitions: deps.partitions,
    gracePeriod: deps.gracePeriod,
    backlog,
    metrics: deps.metrics,
  };
  registerPingRoute(app);
  registerHealthRoutes(app, { orm: deps.orm, queueStore: deps.queueStore, workers: deps.workers });
  registerMetricsRoute(app, deps.metrics);
  registerDocsRoutes(app);
  registerFailedJobRoutes(app, {
    queueStore: deps.queueStore,
    queues: deps.queues,
    partitions: deps.partitions,
  });
  registerCustomerRoutes(app, {
    orm: deps.orm,
    clock: deps.clock,
    usage,
    outbox: deps.webhooks.outbox,
  });
  registerIngestRoute(app, usage);
  registerEventRoutes(app, { orm: deps.orm, clock: deps.clock, intake, customers });
  registerInvoiceRoutes(app, { orm: deps.orm, intake, customers });
  registerLedgerEntryRoutes(app, { intake, customers });
  registerBalanceTransactionRoutes(app, { intake, customers });
  registerLedgerRoutes(app, { orm: deps.orm });
  registerCreditRoutes(app, { orm: deps.orm, clock: deps.clock });
  registerLedgerRequestRoutes(app, { orm: deps.orm, queues: deps.queues });
  registerCreditBlockRoutes(app, { orm: deps.orm });
  registerUsagePriceRoutes(app, { orm: deps.orm, clock: deps.clock });
  registerTopUpRoutes(app, { orm: deps.orm, clock: deps.clock, customers, intake });
  registerAlertRoutes(app, { orm: deps.orm, customers, intake });
  registerWebhookEndpointRoutes(app, { orm: deps.orm, clock: deps.clock, ...deps.webhooks });
  registerWebhookEventRoutes(app, { orm: deps.orm });
  if (deps.dashboard)
    await registerAdminDashboard(app, {
      ...deps.dashboard,
      queues: deps.queues,
      orm: deps.orm,
      clock: deps.clock,
    });
  if (deps.clock instanceof ManualClock) {
    registerTestClockRoutes(app, { clock: deps.clock, catchUp: deps.catchUp });
  }
  await app.ready();
  return app;
}
