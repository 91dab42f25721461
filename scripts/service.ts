/**
 * The whole service in one process, by role (ARCHITECTURE.md "Configuration", ROLE): open
 * Postgres (migrating it) and the queue store (Redis, or Postgres: worker/jobs/queueStore.ts), then start the partition workers (`worker`), the HTTP api
 * (`api`), or both (`all`). `close()` shuts down in the safe order: stop taking HTTP requests,
 * let workers finish their current job, close the queues, then the database. Every step is
 * bounded, so the whole takes at most SHUTDOWN_BOUND_MS whatever is unreachable (a BullMQ worker
 * waits forever for a Redis that is down): a step that overruns is logged and left behind, and
 * closing the queue store ends its connections, which releases whatever still waits on them.
 * `close()` never throws.
 */
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { ManualClock, systemClock, type Clock } from '../worker/runtime/clock.ts';
import type { Config } from '../worker/runtime/config.ts';
import { PartitionWorkers } from '../worker/main.ts';
import { guardPartitionCount, PartitionLayoutWatch } from '../worker/jobs/partitionGuard.ts';
import { PartitionQueues } from '../worker/jobs/queues.ts';
import { openQueueStore } from '../worker/jobs/openQueueStore.ts';
import type { QueueStore } from '../worker/jobs/queueStore.ts';
import { Scheduler } from '../worker/sweeps/scheduler.ts';
import { runSweeps, waitForJobs, type SweepDeps } from '../worker/sweeps/runSweeps.ts';
import { openOrm, type Orm } from '../worker/store/orm.ts';
import { OutcomeWaiter } from '../api/intake/outcomeWaiter.ts';
import { ServiceMetrics } from '../api/metrics.ts';
import { buildServer } from '../api/server.ts';
import { buildWorkerServer } from '../api/workerServer.ts';
import { withTimeout } from '../api/withTimeout.ts';
import { renderWebhookEvent } from '../api/wire/webhookEvent.ts';
import { Outbox } from '../worker/delivery/outbox.ts';
import { WebhookDeliveryLoop } from '../worker/delivery/deliveryLoop.ts';
import {
  CONFIGURED_ENDPOINT_ID,
  upsertConfiguredEndpoint,
} from '../worker/store/webhookEndpoints.ts';

/** The longest `close()` takes: within `docker stop`'s default grace of 10 s (Kubernetes gives 30 s). */
export const SHUTDOWN_BOUND_MS = 10_000;
/**
 * Each step's bound; they add up to less than SHUTDOWN_BOUND_MS (9.5 s with the queue store
 * closed twice). HTTP requests waiting for an outcome are answered 202 (their write is durable)
 * after HTTP_DRAIN_MS, so HTTP closes soon after.
 */
const STEP_BOUND_MS = {
  http: 3_000,
  workers: 3_500,
  waiter: 500,
  queues: 500,
  queueStore: 500,
  database: 1_000,
} as const;
const HTTP_DRAIN_MS = 1_000;

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
  /** Where a transaction writes its webhook events (rendered with Orb's payload shapes). */
  outbox: Outbox;
  close(): Promise<void>;
}

export async function startService(
  config: Config,
  options: {
    logger?: Logger;
    listen?: boolean;
    /**
     * The recorded partition count changed under this running process (worker/jobs/partitionGuard.ts),
     * which must stop: given, it is told (scripts/start.ts stops and exits non-zero, for a restart);
     * not given, the service closes itself.
     */
    onPartitionCountChanged?: (recorded: number) => void;
  } = {},
): Promise<Service> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const clock: Clock =
    config.clock === 'manual' ? new ManualClock(config.clockStart ?? new Date()) : systemClock;
  const orm = await openOrm(config.databaseUrl);
  let queueStore: QueueStore;
  try {
    queueStore = await openQueueStore(config, logger);
  } catch (error) {
    await orm.close();
    throw error;
  }
  try {
    await guardPartitionCount(orm, queueStore, config.queuePrefix, config.partitions);
  } catch (error) {
    await queueStore.close();
    await orm.close();
    throw error;
  }
  const queues = await PartitionQueues.open(queueStore, config.partitions, config.queuePrefix);
  const retention = {
    idempotencyKeys: config.idempotencyKeyRetention,
    requests: config.requestRetention,
    webhookEvents: config.webhooks.retention,
  };
  // What the sweeps read, for the scheduler and the test clock alike.
  const sweepDeps: SweepDeps = {
    orm,
    queues,
    clock,
    partitions: config.partitions,
    retention,
    strandedAfterMs: config.strandedAfterMs,
  };
  // The test clock's catch-up (api/routes/testClock.ts): the api takes the sweeps as a function.
  const catchUp = async (timeoutMs: number) => {
    const jobs = await runSweeps(sweepDeps);
    return { jobsRun: jobs.length, finished: await waitForJobs(queues, jobs, timeoutMs) };
  };
  const outbox = new Outbox(renderWebhookEvent);
  await upsertConfiguredEndpoint(
    orm.em.fork(),
    CONFIGURED_ENDPOINT_ID,
    config.webhooks.configuredEndpoint,
    new Date(),
  );
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
        outbox,
        jobLockMs: config.jobLockMs,
        onOutcome: waiter ? (outcome) => waiter.notify(outcome) : undefined,
        onJobFinished: (name, seconds, result) => metrics.observeJob(name, seconds, result),
      })
    : undefined;
  const webhookDelivery = runsWorkers
    ? await WebhookDeliveryLoop.start({
        orm,
        databaseUrl: config.databaseUrl,
        logger,
        config: config.webhooks,
        observer: {
          onAttempt: (outcome, lagSeconds) => metrics.observeWebhookAttempt(outcome, lagSeconds),
        },
      })
    : undefined;
  const scheduler = runsWorkers
    ? await Scheduler.start({
        ...sweepDeps,
        sweepEveryMs: config.sweepEveryMs,
        queueStore,
        queuePrefix: config.queuePrefix,
        logger,
      })
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
      catchUp,
      queueStore,
      workers,
      metrics,
      backlogMax: config.backlogMax,
      webhooks: { outbox, allowPrivateNetworks: config.webhooks.allowPrivateNetworks },
      dashboard: {
        adminUser: config.adminUser,
        adminPassword: config.adminPassword,
        readOnly: config.adminReadOnly,
      },
    });
    if (options.listen ?? true) url = await app.listen({ port: config.port, host: config.host });
  }
  // A worker-only process answers metrics and health on a port of its own.
  const workerApp =
    !app && workers ? buildWorkerServer({ orm, queueStore, workers, metrics, logger }) : undefined;
  const workerUrl =
    workerApp && (options.listen ?? true)
      ? await workerApp.listen({ port: config.workerPort, host: config.host })
      : undefined;
  let closing: Promise<void> | undefined;
  let layoutWatch: PartitionLayoutWatch | undefined;
  const service: Service = {
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
    outbox,
    // Once: the service may close itself (a changed partition count) before its owner closes it.
    close: () => (closing ??= closeOnce()),
  };
  async function closeOnce(): Promise<void> {
    await layoutWatch?.stop();
    const step = async (name: keyof typeof STEP_BOUND_MS, work: () => Promise<unknown>) => {
      try {
        await withTimeout(work(), STEP_BOUND_MS[name], `shutdown step ${name}`);
      } catch (error) {
        logger.warn(
          { step: name, reason: (error as Error).message },
          'shutdown step did not finish; going on without it',
        );
      }
    };
    // Requests still waiting for an outcome get their 202 now rather than at SYNC_WAIT_MS.
    const drained = setTimeout(() => waiter?.releaseAll(), HTTP_DRAIN_MS);
    await step('http', async () => app?.close());
    await step('http', async () => workerApp?.close());
    clearTimeout(drained);
    // Connections still open past the bound (a client that never finishes) are cut.
    app?.server.closeAllConnections();
    // With Redis away no job can complete and BullMQ's graceful close would wait for it
    // forever: force-close the workers (they stop at once) and end the connections first.
    const force = !queueStore.reachable();
    if (force) await step('queueStore', () => queueStore.close());
    await step('workers', () =>
      Promise.all([
        scheduler?.close({ force }),
        workers?.close({ force }),
        webhookDelivery?.close(),
      ]),
    );
    await step('waiter', async () => waiter?.close());
    await step('queues', () => queues.close());
    await step('queueStore', () => queueStore.close());
    await step('database', () => orm.close());
  }
  // Every process, api or worker, stops within a second of the count changing under it.
  layoutWatch = PartitionLayoutWatch.start({
    orm,
    queuePrefix: config.queuePrefix,
    partitions: config.partitions,
    logger,
    onChanged: (recorded) =>
      options.onPartitionCountChanged
        ? options.onPartitionCountChanged(recorded)
        : void service.close(),
  });
  return service;
}
