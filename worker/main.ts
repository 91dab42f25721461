/**
 * The worker role: one BullMQ Worker per partition queue. Global concurrency 1 on each queue means
 * one job per partition runs at a time across every worker process, so a customer's writes are
 * applied one at a time, in the order accepted. Processors are looked up by job name in the
 * catalog; a ledger or balance request's outcome is also announced to waiting HTTP requests.
 *
 * Takeover: a job whose worker died runs again elsewhere once its lock (JOB_LOCK_MS, renewed every
 * half of it) has lapsed and a stalled check (every quarter of it, across all processes) has seen
 * it: within 1.25 JOB_LOCK_MS of the death. Every applying transaction is fenced
 * (worker/partitionFence.ts), so a worker that wakes after its successor started applies nothing;
 * its job is then left to BullMQ, neither completed nor failed. Each process records a heartbeat
 * every second (worker/store/workerHeartbeats.ts) that the api's readiness reads.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WaitingError, type Job, type Queue, type Worker } from 'bullmq';
import type { Duration } from 'luxon';
import type { Logger } from 'pino';
import type { Clock } from './runtime/clock.ts';
import { PartitionFence, type JobFence } from './partitionFence.ts';
import { publishOutcome } from './jobs/outcomeChannel.ts';
import type { RequestOutcome } from './jobs/requestOutcome.ts';
import { partitionQueueName } from './jobs/partition.ts';
import type { QueueStore } from './jobs/queueStore.ts';
import { isRedisConnectionError } from './jobs/redis.ts';
import { applyRequest, applyRequestGroup } from './processors/applyRequests.ts';
import type { ProcessorDeps } from './processors/processorDeps.ts';
import { applyUsage } from './processors/applyUsage.ts';
import { catchUpLedger } from './processors/catchUpLedger.ts';
import { closeUsageDays } from './processors/closeUsageDays.ts';
import { recordLegacyRequest } from './processors/legacyRequests.ts';
import type { JobName } from './jobs/queues.ts';
import type { Orm } from './store/orm.ts';
import type { OutboxWriter } from './jobs/webhookEvents.ts';
import { HEARTBEAT_EVERY_MS, recordHeartbeat, removeHeartbeat } from './store/workerHeartbeats.ts';
import { followingUsageJobs, removeFollowers } from './jobs/usageFollowers.ts';
import { followingLedgerJobs } from './jobs/ledgerFollowers.ts';

/**
 * A job whose worker died (its lock lapsed) runs again: every processor is idempotent, so that is
 * safe however often it happens. BullMQ's default fails the job at its second stall, which would
 * strand a ledger request behind a few crashes in a row; only a job that keeps killing its
 * worker should end as a dead letter.
 */
const STALLS_MAX = 10;
/** How often, as a share of JOB_LOCK_MS, some process looks for jobs whose lock has lapsed. */
const STALLED_CHECKS_PER_LOCK = 4;
const STALLED_INTERVAL_MIN_MS = 250;

export interface WorkerDeps {
  orm: Orm;
  queueStore: QueueStore;
  clock: Clock;
  logger: Logger;
  partitions: number;
  queuePrefix: string;
  /** How long after its end a usage day stays open to late events (GRACE_PERIOD). */
  gracePeriod: Duration;
  /** Where each transaction writes the webhook events of its changes. */
  outbox: OutboxWriter;
  /** JOB_LOCK_MS: a dead worker's job runs again within 1.25 of these. */
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
    logger.warn(
      { err: error, requestId: outcome.requestId },
      'outcome not published; a waiting client will poll',
    );
  });
  return outcome;
}

/** What a processor gets besides its data: the job, its queue, a logger bound to the job, its fence. */
interface JobContext {
  job: Job;
  queue: Queue;
  logger: Logger;
  fence: JobFence;
}

type Processor = (data: unknown, context: JobContext) => Promise<unknown>;

function processorsFor(deps: WorkerDeps): Record<JobName, Processor> {
  const base = { orm: deps.orm, clock: deps.clock, outbox: deps.outbox };
  const withLogger = ({ logger, fence }: JobContext): ProcessorDeps => ({ ...base, logger, fence });
  const usageDeps = ({ logger, fence }: JobContext) => ({
    ...base,
    logger,
    fence,
    gracePeriod: deps.gracePeriod,
  });
  /**
   * A request job takes the run of request jobs waiting behind it (group commit,
   * worker/jobs/ledgerFollowers.ts) and applies them with itself in one transaction.
   */
  const applyGroup: Processor = async (data, context) => {
    const startedAt = performance.now();
    // Read while the group's transaction begins (applyRequests awaits them after the fence).
    const following = followingLedgerJobs(context.queue);
    // A fenced-out worker throws here and removes nothing: its successor takes the followers too.
    const group = await applyRequestGroup(
      following.then((followers) => [data, ...followers.map((follower) => follower.data)]),
      usageDeps(context),
    );
    const [outcome, ...followed] = group.outcomes;
    const followers = await following;
    if (!outcome) throw new Error('a request group answered no outcome');
    // Answered as soon as committed, before the followers' jobs are removed: a removal lost runs
    // them again, to their stored outcomes, so nobody's answer need wait for it.
    const announced = announce(deps, context.logger, outcome);
    // Each follower is a job finished too (its outcome and entries count in the metrics), with
    // an equal share of the group's time.
    const shareSeconds = (performance.now() - startedAt) / 1000 / (1 + followers.length);
    for (const each of followed) {
      deps.onJobFinished?.('ledger.apply', shareSeconds, announce(deps, context.logger, each));
    }
    // Earlier requests of these customers whose jobs were elsewhere (lost with Redis, or on
    // another partition): applied here, answered now; their own jobs answer the stored outcome.
    if (group.pulledForward.length > 0)
      context.logger.info(
        { requests: group.pulledForward.length },
        'applied earlier-accepted requests of these customers whose jobs were elsewhere',
      );
    for (const pulled of group.pulledForward) announce(deps, context.logger, pulled);
    await removeFollowers(followers);
    return { ...announced, jobs: 1 + followers.length };
  };
  return {
    'ledger.apply': applyGroup,
    'balance.apply': applyGroup,
    'ledger.catchUp': (data, context) => catchUpLedger(data, withLogger(context)),
    'usage.apply': async (data, context) => {
      const { job, queue } = context;
      const followers = await followingUsageJobs(
        queue,
        USAGE_EVENTS_PER_TRANSACTION_MAX,
        job.data?.events?.length ?? 0,
      );
      // A fenced-out worker throws here and removes nothing: its successor takes the followers too.
      const result = await applyUsage(
        [data, ...followers.map((follower) => follower.data)],
        usageDeps(context),
      );
      await removeFollowers(followers);
      return { ...result, jobs: 1 + followers.length };
    },
    'usage.closeDays': (data, context) => closeUsageDays(data, withLogger(context)),
    // Queued by a version before the one request model: recorded as a request, then applied.
    'usage.deprecate': async (data, context) =>
      applyRequest(
        await recordLegacyRequest('usage.deprecate', data, context.job, deps),
        usageDeps(context),
      ),
    'invoice.change': async (data, context) =>
      applyRequest(
        await recordLegacyRequest('invoice.change', data, context.job, deps),
        usageDeps(context),
      ),
  };
}

function jobLogger(logger: Logger, job: Job, partition: number): Logger {
  const reqId = (job.data as { httpRequestId?: unknown } | undefined)?.httpRequestId;
  return logger.child({
    jobId: job.id,
    jobName: job.name,
    partition,
    ...(typeof reqId === 'string' && { reqId }),
  });
}

/** Whether BullMQ still gives this worker the job's lock; renews it when it does. */
async function stillHolds(job: Job, token: string | undefined, lockMs: number): Promise<boolean> {
  if (token === undefined) return false;
  return Number(await job.extendLock(token, lockMs)) > 0;
}

export class PartitionWorkers {
  /** Names this process in the heartbeats: host, pid, and a nonce for several in one process (tests). */
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private workers: Worker[] = [];
  private queues: Queue[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private deps: WorkerDeps | undefined;
  /**
   * Set once closing starts: connection errors from then on are the shutdown itself (BullMQ's
   * PostgreSQL backend reports its connections ending), not news for the log.
   */
  private closing = false;

  static start(deps: WorkerDeps): PartitionWorkers {
    const started = new PartitionWorkers();
    started.deps = deps;
    const processors = processorsFor(deps);
    // A paused worker's open transaction is ended once idle as long as a lock lasts: by then its
    // successor may be waiting for the fence row it holds.
    const fences = new PartitionFence(deps.jobLockMs, started.workerId);
    const stalledIntervalMs = Math.max(
      STALLED_INTERVAL_MIN_MS,
      Math.round(deps.jobLockMs / STALLED_CHECKS_PER_LOCK),
    );
    // A Redis outage is logged once by the queue store (lost, back), not once per partition per retry.
    const logError = (message: string, partition: number) => (error: Error) => {
      if (!started.closing && !deps.queueStore.absorbConnectionError(error))
        deps.logger.error({ err: error, partition }, message);
    };
    const workers = Array.from({ length: deps.partitions }, (_, partition) => {
      const queue = deps.queueStore.queue(partitionQueueName(partition), deps.queuePrefix);
      queue.on('error', logError('queue error', partition));
      started.queues.push(queue);
      const worker = deps.queueStore.worker(
        partitionQueueName(partition),
        deps.queuePrefix,
        async (job: Job, token?: string) => {
          const processor = processors[job.name as JobName];
          if (!processor) throw new Error(`no processor for job ${job.name}`);
          const startedAt = performance.now();
          const logger = jobLogger(deps.logger, job, partition);
          const fence = fences.forJob(partition, () => stillHolds(job, token, deps.jobLockMs));
          let result: unknown;
          let lost = false;
          let unreachable = false;
          try {
            result = await processor(job.data, { job, queue, logger, fence });
          } catch (error) {
            // Whatever failed, a job this worker no longer holds is its successor's: failing it
            // here would take it from them (a worker paused mid-transaction wakes to a closed
            // connection before its fence can tell it).
            lost =
              !fence.fenced && !(await stillHolds(job, token, deps.jobLockMs).catch(() => true));
            // Redis went away mid-job (a cluster master failing over, say): the job only has to
            // run again, and a rerun finds what was committed. Failing it would dead-letter it.
            unreachable = !fence.fenced && !lost && isRedisConnectionError(error);
            if (!fence.fenced && !lost && !unreachable) throw error;
          } finally {
            deps.onJobFinished?.(job.name, (performance.now() - startedAt) / 1000, result);
          }
          if (unreachable) {
            logger.warn(
              { partition },
              'Redis unreachable during the job: it is left to run again once Redis answers (its lock lapses and the stalled check hands it on)',
            );
            throw new WaitingError();
          }
          if (fence.fenced || lost) {
            // Completing or failing it would take it from the worker that holds it now (or, if
            // nobody does yet, lose it): BullMQ's stalled check hands it on.
            logger.warn(
              { partition },
              'fenced out: another worker took this partition over while this one was paused; nothing was applied, the job is left to it',
            );
            throw new WaitingError();
          }
          return result;
        },
        {
          concurrency: 1,
          lockDuration: deps.jobLockMs,
          stalledInterval: stalledIntervalMs,
          maxStalledCount: STALLS_MAX,
        },
      );
      worker.on('error', logError('worker error', partition));
      worker.on('failed', (job, error) =>
        (job ? jobLogger(deps.logger, job, partition) : deps.logger.child({ partition })).error(
          { err: error },
          'job failed',
        ),
      );
      return worker;
    });
    started.workers = workers;
    started.beat();
    return started;
  }

  /** Records this process's heartbeat now and every HEARTBEAT_EVERY_MS while its workers run. */
  private beat(): void {
    const deps = this.deps;
    if (!deps || this.closing) return;
    const next = () => {
      if (!this.closing) this.heartbeat = setTimeout(() => this.beat(), HEARTBEAT_EVERY_MS);
    };
    if (!this.isRunning()) return next();
    this.beating = recordHeartbeat(deps.orm.em.fork(), this.workerId, deps.partitions).then(
      next,
      (error: unknown) => {
        // The database is down: readiness says so; the next beat tries again.
        deps.logger.debug({ err: error }, 'worker heartbeat not recorded');
        next();
      },
    );
  }

  /**
   * Lets every current job finish, then stops taking new ones. `force` (Redis unreachable: no job
   * can complete, and BullMQ's graceful close would wait for it) stops at once.
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closing = true;
    clearTimeout(this.heartbeat);
    await Promise.all(this.workers.map((worker) => worker.close(options.force ?? false)));
    await Promise.all(this.queues.map((queue) => queue.close()));
    // Gone at once from readiness, rather than once the heartbeat is stale.
    await this.beating;
    if (this.deps)
      await removeHeartbeat(this.deps.orm.em.fork(), this.workerId).catch(() => undefined);
  }

  isRunning(): boolean {
    return this.workers.every((worker) => worker.isRunning());
  }
}
