/**
 * The HTTP edge. `buildServer(deps)` assembles Fastify with Orb's conventions (Bearer auth,
 * exact-number JSON, RFC 7807 errors) and every route; tests build it against real Postgres and
 * Redis with their own database and queue prefix.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Duration } from 'luxon';
import type { Logger } from 'pino';
import { ManualClock, type Clock } from '../worker/clock.ts';
import type { PartitionQueues } from '../worker/queues.ts';
import type { Orm } from '../worker/store/orm.ts';
import { registerBearerAuth } from './auth.ts';
import { CustomerResolver } from './customerResolver.ts';
import { registerErrorHandlers } from './errors.ts';
import type { OutcomeWaiter } from './intake/outcomeWaiter.ts';
import { UsageCoalescer } from './intake/usageCoalescer.ts';
import { registerJsonBodyParser } from './jsonBody.ts';
import { registerCreditBlockRoutes } from './routes/creditBlocks.ts';
import { registerCreditRoutes } from './routes/credits.ts';
import { registerCustomerRoutes } from './routes/customers.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerLedgerRoutes } from './routes/ledger.ts';
import { registerLedgerEntryRoutes } from './routes/ledgerEntries.ts';
import { registerLedgerRequestRoutes } from './routes/ledgerRequests.ts';
import { registerIngestRoute } from './routes/ingest.ts';
import { registerPingRoute } from './routes/ping.ts';
import { registerTestClockRoutes } from './routes/testClock.ts';
import { registerUsagePriceRoutes } from './routes/usagePrices.ts';

/** Orb's bodies are small; 1 MiB leaves room for large ingest batches later. */
const BODY_BYTES_MAX = 1_048_576;

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
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_BYTES_MAX,
    // Per-request log lines would dominate a busy ledger's logs; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    routerOptions: { ignoreTrailingSlash: true },
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerJsonBodyParser(app);
  registerErrorHandlers(app);
  registerBearerAuth(app, deps.apiKeys);
  const customers = new CustomerResolver(deps.orm);
  const intake = {
    orm: deps.orm,
    queues: deps.queues,
    waiter: deps.waiter,
    clock: deps.clock,
    partitions: deps.partitions,
    syncWaitMs: deps.syncWaitMs,
  };
  const coalescer = new UsageCoalescer(deps.queues, () => deps.clock.now());
  // Buffered usage is flushed to Redis before the queues close: nothing accepted is dropped.
  app.addHook('onClose', () => coalescer.close());
  const usage = { orm: deps.orm, clock: deps.clock, customers, coalescer, partitions: deps.partitions, gracePeriod: deps.gracePeriod };
  registerPingRoute(app);
  registerCustomerRoutes(app, { orm: deps.orm, clock: deps.clock, usage });
  registerIngestRoute(app, usage);
  registerEventRoutes(app, { orm: deps.orm, clock: deps.clock, queues: deps.queues, partitions: deps.partitions });
  registerLedgerEntryRoutes(app, { intake, customers });
  registerLedgerRoutes(app, { orm: deps.orm, customers });
  registerCreditRoutes(app, { orm: deps.orm, customers, clock: deps.clock });
  registerLedgerRequestRoutes(app, { orm: deps.orm, queues: deps.queues });
  registerCreditBlockRoutes(app, { orm: deps.orm });
  registerUsagePriceRoutes(app, { orm: deps.orm, clock: deps.clock });
  if (deps.clock instanceof ManualClock) {
    registerTestClockRoutes(app, { orm: deps.orm, queues: deps.queues, clock: deps.clock, partitions: deps.partitions });
  }
  await app.ready();
  return app;
}
