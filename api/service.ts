/**
 * The whole service in one process, by role (ARCHITECTURE.md "Configuration", ROLE): open
 * Postgres (migrating it) and Redis, then start the partition workers (`worker`), the HTTP api
 * (`api`), or both (`all`). `close()` shuts down in the safe order: stop taking HTTP requests,
 * let workers finish their current job, close the queues, then the database.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { ManualClock, systemClock, type Clock } from '../worker/clock.ts';
import type { Config } from '../worker/config.ts';
import { PartitionWorkers } from '../worker/main.ts';
import { guardPartitionCount } from '../worker/partitionGuard.ts';
import { PartitionQueues } from '../worker/queues.ts';
import { Scheduler } from '../worker/scheduler.ts';
import { openRedis } from '../worker/redis.ts';
import { openOrm, type Orm } from '../worker/store/orm.ts';
import { OutcomeWaiter } from './intake/outcomeWaiter.ts';
import { ServiceMetrics } from './metrics.ts';
import { buildServer } from './server.ts';

export interface Service {
  config: Config;
  logger: Logger;
  orm: Orm;
  redis: Redis;
  clock: Clock;
  queues: PartitionQueues;
  app: FastifyInstance | undefined;
  workers: PartitionWorkers | undefined;
  /** The address the api listens on, when it does. */
  url: string | undefined;
  close(): Promise<void>;
}

export async function startService(config: Config, options: { logger?: Logger; listen?: boolean } = {}): Promise<Service> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const clock: Clock = config.clock === 'manual' ? new ManualClock(config.clockStart ?? new Date()) : systemClock;
  const orm = await openOrm(config.databaseUrl);
  let redis: Redis;
  try {
    redis = await openRedis(config.redisUrl);
  } catch (error) {
    await orm.close();
    throw error;
  }
  try {
    await guardPartitionCount(redis, config.queuePrefix, config.partitions);
  } catch (error) {
    redis.disconnect();
    await orm.close();
    throw error;
  }
  const queues = await PartitionQueues.open(redis, config.partitions, config.queuePrefix);
  const runsApi = config.role !== 'worker';
  const runsWorkers = config.role !== 'api';
  const waiter = runsApi ? await OutcomeWaiter.open(config.redisUrl, config.queuePrefix) : undefined;
  const metrics = new ServiceMetrics(queues, redis);
  const workers = runsWorkers
    ? PartitionWorkers.start({
        orm,
        redis,
        clock,
        logger,
        partitions: config.partitions,
        queuePrefix: config.queuePrefix,
        gracePeriod: config.gracePeriod,
        onOutcome: waiter ? (outcome) => waiter.notify(outcome) : undefined,
        onJobFinished: (name, seconds, result) => metrics.observeJob(name, seconds, result),
      })
    : undefined;
  const scheduler = runsWorkers
    ? await Scheduler.start({ orm, queues, clock, partitions: config.partitions, redis, queuePrefix: config.queuePrefix, logger })
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
      redis,
      workers,
      metrics,
      backlogMax: config.backlogMax,
      dashboard: { adminUser: config.adminUser, adminPassword: config.adminPassword, readOnly: config.adminReadOnly },
    });
    if (options.listen ?? true) url = await app.listen({ port: config.port, host: config.host });
  }
  return {
    config,
    logger,
    orm,
    redis,
    clock,
    queues,
    app,
    workers,
    url,
    async close() {
      await app?.close();
      await scheduler?.close();
      await workers?.close();
      await waiter?.close();
      await queues.close();
      redis.disconnect();
      await orm.close();
    },
  };
}
