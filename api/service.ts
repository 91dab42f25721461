/**
 * The whole service in one process, by role (ARCHITECTURE.md "Configuration", ROLE): open
 * Postgres (migrating it) and the queue store (Redis, or Postgres: worker/queueStore.ts), then start the partition workers (`worker`), the HTTP api
 * (`api`), or both (`all`). `close()` shuts down in the safe order: stop taking HTTP requests,
 * let workers finish their current job, close the queues, then the database.
 */
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { ManualClock, systemClock, type Clock } from '../worker/clock.ts';
import type { Config } from '../worker/config.ts';
import { PartitionWorkers } from '../worker/main.ts';
import { guardPartitionCount } from '../worker/partitionGuard.ts';
import { PartitionQueues } from '../worker/queues.ts';
import { openQueueStore } from '../worker/openQueueStore.ts';
import type { QueueStore } from '../worker/queueStore.ts';
import { Scheduler } from '../worker/scheduler.ts';
import { openOrm, type Orm } from '../worker/store/orm.ts';
import { OutcomeWaiter } from './intake/outcomeWaiter.ts';
import { ServiceMetrics } from './metrics.ts';
import { buildServer } from './server.ts';
import { buildWorkerServer } from './workerServer.ts';

export interface Service {
  config: Config;
  logger: Logger;
  orm: Orm;
  queueStore: QueueStore;
  clock: Clock;
  queues: PartitionQueues;
  app: FastifyInstance | undefined;
  workers: PartitionWorkers | undefined;
  /** The address the api listens on, when it does. */
  url: string | undefined;
  /** ROLE=worker: the address of its own metrics and health listener (WORKER_PORT). */
  workerUrl: string | undefined;
  close(): Promise<void>;
}

export async function startService(config: Config, options: { logger?: Logger; listen?: boolean } = {}): Promise<Service> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const clock: Clock = config.clock === 'manual' ? new ManualClock(config.clockStart ?? new Date()) : systemClock;
  const orm = await openOrm(config.databaseUrl);
  let queueStore: QueueStore;
  try {
    queueStore = await openQueueStore(config);
  } catch (error) {
    await orm.close();
    throw error;
  }
  try {
    await guardPartitionCount(queueStore, config.queuePrefix, config.partitions);
  } catch (error) {
    await queueStore.close();
    await orm.close();
    throw error;
  }
  const queues = await PartitionQueues.open(queueStore, config.partitions, config.queuePrefix);
  const runsApi = config.role !== 'worker';
  const runsWorkers = config.role !== 'api';
  const waiter = runsApi ? await OutcomeWaiter.open(queueStore, config.queuePrefix) : undefined;
  const metrics = new ServiceMetrics(queues, queueStore, orm);
  const workers = runsWorkers
    ? PartitionWorkers.start({
        orm,
        queueStore,
        clock,
        logger,
        partitions: config.partitions,
        queuePrefix: config.queuePrefix,
        gracePeriod: config.gracePeriod,
        jobLockMs: config.jobLockMs,
        onOutcome: waiter ? (outcome) => waiter.notify(outcome) : undefined,
        onJobFinished: (name, seconds, result) => metrics.observeJob(name, seconds, result),
      })
    : undefined;
  const scheduler = runsWorkers
    ? await Scheduler.start({ orm, queues, clock, partitions: config.partitions, queueStore, queuePrefix: config.queuePrefix, logger })
    : undefined;
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  if (waiter) {
    app = await buildServer({
      orm,
      queues,
      waiter,
      clock,
      logger,
      apiKeys: config.apiKeys,
      partitions: config.partitions,
      syncWaitMs: config.syncWaitMs,
      gracePeriod: config.gracePeriod,
      queueStore,
      workers,
      metrics,
      backlogMax: config.backlogMax,
      dashboard: { adminUser: config.adminUser, adminPassword: config.adminPassword, readOnly: config.adminReadOnly },
    });
    if (options.listen ?? true) url = await app.listen({ port: config.port, host: config.host });
  }
  // A worker-only process answers metrics and health on a port of its own.
  const workerApp = !app && workers ? buildWorkerServer({ orm, queueStore, workers, metrics, logger }) : undefined;
  const workerUrl = workerApp && (options.listen ?? true) ? await workerApp.listen({ port: config.workerPort, host: config.host }) : undefined;
  return {
    config,
    logger,
    orm,
    queueStore,
    clock,
    queues,
    app,
    workers,
    url,
    workerUrl,
    async close() {
      await app?.close();
      await workerApp?.close();
      await scheduler?.close();
      await workers?.close();
      await waiter?.close();
      await queues.close();
      await queueStore.close();
      await orm.close();
    },
  };
}
