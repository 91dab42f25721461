/**
 * The worker role: one BullMQ Worker per partition queue. Global concurrency 1 on each queue means
 * one job per partition runs at a time across every worker process, so a customer's writes are
 * applied one at a time, in the order accepted. Processors are looked up by job name in the
 * catalog; a ledger or balance request's outcome is also announced to waiting HTTP requests.
 */
import type { Job, Queue, Worker } from 'bullmq';
import type { Duration } from 'luxon';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { publishOutcome, type RequestOutcome } from './outcomeChannel.ts';
import { partitionQueueName } from './partition.ts';
import type { QueueStore } from './queueStore.ts';
import { applyBalanceTransaction } from './processors/applyBalanceTransaction.ts';
import { applyLedgerRequest, type ProcessorDeps } from './processors/applyLedgerRequest.ts';
import { applyUsage } from './processors/applyUsage.ts';
import { catchUpLedger } from './processors/catchUpLedger.ts';
import { changeInvoice } from './processors/changeInvoice.ts';
import { closeUsageDays } from './processors/closeUsageDays.ts';
import { deprecateEvent } from './processors/deprecateEvent.ts';
import type { JobName } from './queues.ts';
import type { Orm } from './store/orm.ts';
import { followingUsageJobs, removeFollowers } from './usageFollowers.ts';

/**
 * A job whose worker died (its lock lapsed) runs again: every processor is idempotent, so that is
 * safe however often it happens. BullMQ's default fails the job at its second stall, which would
 * strand a ledger request behind a few crashes in a row; only a job that keeps killing its
 * worker should end as a dead letter.
 */
const STALLS_MAX = 10;

export interface WorkerDeps {
  orm: Orm;
  queueStore: QueueStore;
  clock: Clock;
  logger: Logger;
  partitions: number;
  queuePrefix: string;
  /** How long after its end a usage day stays open to late events (GRACE_PERIOD). */
  gracePeriod: Duration;
  /** JOB_LOCK_MS: a dead worker's job runs again after one to two of these. */
  jobLockMs: number;
  /** Called in-process when a request finishes, so that an api in the same process answers at once. */
  /** Answers true when a request waiting in this process took the outcome: no one else waits for it. */
  onOutcome?: (outcome: RequestOutcome) => boolean;
  /**
   * Called after every job with its run time and its result (undefined when it threw), for
   * metrics; it must not throw. The worker knows nothing of how it is measured.
   */
  onJobFinished?: (name: string, seconds: number, result: unknown) => void;
}

/** Events one usage transaction takes at most, its own job and the ones behind it together. */
const USAGE_EVENTS_PER_TRANSACTION_MAX = 5_000;

/** Tells the HTTP requests waiting on a finished request its outcome, and returns it. */
function announce<T extends RequestOutcome>(deps: WorkerDeps, logger: Logger, outcome: T): T {
  // A request is accepted by one api process; when that is this one, nobody else is listening.
  if (deps.onOutcome?.(outcome)) return outcome;
  // Not awaited: the partition need not wait for the announcement to move on.
  void publishOutcome(deps.queueStore, deps.queuePrefix, outcome).catch((error: unknown) => {
    logger.warn({ err: error, requestId: outcome.requestId }, 'outcome not published; a waiting client will poll');
  });
  return outcome;
}

/** What a processor gets besides its data: the job, its queue, and a logger bound to the job. */
interface JobContext {
  job: Job;
  queue: Queue;
  logger: Logger;
}

type Processor = (data: unknown, context: JobContext) => Promise<unknown>;

function processorsFor(deps: WorkerDeps): Record<JobName, Processor> {
  const base = { orm: deps.orm, clock: deps.clock };
  const withLogger = (logger: Logger): ProcessorDeps => ({ ...base, logger });
  const usageDeps = (logger: Logger) => ({ ...base, logger, gracePeriod: deps.gracePeriod });
  return {
    'ledger.apply': async (data, { logger }) => announce(deps, logger, await applyLedgerRequest(data, withLogger(logger))),
    'balance.apply': async (data, { logger }) => announce(deps, logger, await applyBalanceTransaction(data, withLogger(logger))),
    'ledger.catchUp': (data, { logger }) => catchUpLedger(data, withLogger(logger)),
    'usage.apply': async (data, { job, queue, logger }) => {
      const followers = await followingUsageJobs(queue, USAGE_EVENTS_PER_TRANSACTION_MAX, job.data?.events?.length ?? 0);
      const result = await applyUsage([data, ...followers.map((follower) => follower.data)], usageDeps(logger));
      await removeFollowers(followers);
      return { ...result, jobs: 1 + followers.length };
    },
    'usage.closeDays': (data, { logger }) => closeUsageDays(data, withLogger(logger)),
    'usage.deprecate': (data, { logger }) => deprecateEvent(data, usageDeps(logger)),
    'invoice.change': (data, { logger }) => changeInvoice(data, withLogger(logger)),
  };
}

function jobLogger(logger: Logger, job: Job, partition: number): Logger {
  const reqId = (job.data as { httpRequestId?: unknown } | undefined)?.httpRequestId;
  return logger.child({ jobId: job.id, jobName: job.name, partition, ...(typeof reqId === 'string' && { reqId }) });
}

export class PartitionWorkers {
  private workers: Worker[] = [];
  private queues: Queue[] = [];
  /**
   * Set once closing starts: connection errors from then on are the shutdown itself (BullMQ's
   * PostgreSQL backend reports its connections ending), not news for the log.
   */
  private closing = false;

  static start(deps: WorkerDeps): PartitionWorkers {
    const started = new PartitionWorkers();
    const processors = processorsFor(deps);
    // A Redis outage is logged once by the queue store (lost, back), not once per partition per retry.
    const logError = (message: string, partition: number) => (error: Error) => {
      if (!started.closing && !deps.queueStore.absorbConnectionError(error)) deps.logger.error({ err: error, partition }, message);
    };
    const workers = Array.from({ length: deps.partitions }, (_, partition) => {
      const queue = deps.queueStore.queue(partitionQueueName(partition), deps.queuePrefix);
      queue.on('error', logError('queue error', partition));
      started.queues.push(queue);
      const worker = deps.queueStore.worker(
        partitionQueueName(partition),
        deps.queuePrefix,
        async (job: Job) => {
          const processor = processors[job.name as JobName];
          if (!processor) throw new Error(`no processor for job ${job.name}`);
          const startedAt = performance.now();
          let result: unknown;
          try {
            result = await processor(job.data, { job, queue, logger: jobLogger(deps.logger, job, partition) });
            return result;
          } finally {
            deps.onJobFinished?.(job.name, (performance.now() - startedAt) / 1000, result);
          }
        },
        { concurrency: 1, lockDuration: deps.jobLockMs, stalledInterval: deps.jobLockMs, maxStalledCount: STALLS_MAX },
      );
      worker.on('error', logError('worker error', partition));
      worker.on('failed', (job, error) => (job ? jobLogger(deps.logger, job, partition) : deps.logger.child({ partition })).error({ err: error }, 'job failed'));
      return worker;
    });
    started.workers = workers;
    return started;
  }

  /**
   * Lets every current job finish, then stops taking new ones. `force` (Redis unreachable: no job
   * can complete, and BullMQ's graceful close would wait for it) stops at once.
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((worker) => worker.close(options.force ?? false)));
    await Promise.all(this.queues.map((queue) => queue.close()));
  }

  isRunning(): boolean {
    return this.workers.every((worker) => worker.isRunning());
  }
}
